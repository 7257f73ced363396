"""The strict revision reader: what it accepts from real writers, what it refuses, and its bounds."""

from __future__ import annotations

import io
import resource
import subprocess
import time
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docservice.signing.pades import PadesSigner
from docservice.signing.pki import Pki
from docservice.signing.verify import Trust, verify_pdf
from docservice.signing.verify.reader import read_revisions
from tests.signing.conftest import MENTOR, STUDENT, SignedContract
from tests.signing.samples import contract_pdf, field_name
from tests.signing.verify import attacks


@pytest.fixture()
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


def huge_xref_stream(count: int = 1_000_000_000) -> bytes:
    """A cross-reference stream that declares `count` entries over an empty stream."""
    head = b"%PDF-1.7\n"
    body = (b"1 0 obj\n<< /Type /XRef /Size %d /Index [0 %d] /W [1 1 1] /Length 0 >>\n"
            b"stream\n\nendstream\nendobj\n" % (count, count))
    return head + body + b"startxref\n%d\n%%%%EOF\n" % len(head)


def test_a_declared_billion_entries_is_refused_before_anything_is_allocated(
        trust: Trust) -> None:
    pdf = huge_xref_stream()
    assert len(pdf) < 300
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = verify_pdf(pdf, trust=trust)
    elapsed = time.perf_counter() - start
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert report.indication == "TOTAL_FAILED" and not report.readable
    assert "declares /Size 1000000000" in " ".join(report.reasons)
    assert elapsed < 1.0 and grown_kb < 50_000


@pytest.mark.parametrize("count", [2_000_000, 5_000_001])
def test_declared_sizes_that_the_data_cannot_hold_are_refused(trust: Trust, count: int) -> None:
    report = verify_pdf(huge_xref_stream(count), trust=trust)
    assert report.indication == "TOTAL_FAILED", report.reasons


def test_a_linearized_original_is_one_revision_and_its_signatures_pass(
        pades: PadesSigner, trust: Trust, tmp_path: Path) -> None:
    (tmp_path / "in.pdf").write_bytes(contract_pdf())
    subprocess.run(["mutool", "clean", "-l", str(tmp_path / "in.pdf"), str(tmp_path / "lin.pdf")],
                   check=True, capture_output=True, timeout=60)
    linearized = (tmp_path / "lin.pdf").read_bytes()
    assert b"/Linearized" in linearized[:1024]
    layout = read_revisions(linearized)
    assert len(layout.revisions) == 1 and list(layout.revisions[0].numbers) == [0, 1]
    (signed,) = pades.sign_as(STUDENT, [(linearized, field_name("student"))]).pdfs
    (signed,) = pades.sign_as(MENTOR, [(signed, field_name("company"))]).pdfs
    for policy in ("strict", "standard"):
        report = verify_pdf(signed, trust=trust, policy=policy)  # type: ignore[arg-type]
        assert report.passed, report.reasons
    # ...and an ambiguous update after the signatures is still refused
    assert not verify_pdf(attacks.duplicate_entry(signed), trust=trust).passed


def test_updates_written_with_cross_reference_streams_pass(
        signed_contract: SignedContract, pades: PadesSigner, trust: Trust) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()), strict=False)
    writer.stream_xrefs = True  # the update's section is an xref stream, as Acrobat writes
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    (signed,) = pades.sign_as(STUDENT, [(out.getvalue(), field_name("student"))]).pdfs
    layout = read_revisions(signed)
    assert any(s.kind == "stream" for r in layout.revisions for s in r.sections)
    assert verify_pdf(signed, trust=trust).passed


def test_every_byte_of_a_genuine_update_is_accounted_for(signed_contract: SignedContract) -> None:
    layout = read_revisions(signed_contract.by_school)
    assert not layout.problems and not layout.fatal
    assert all(not r.problems for r in layout.revisions), [r.problems for r in layout.revisions]
    assert [r.end for r in layout.revisions][-1] == len(signed_contract.by_school)
