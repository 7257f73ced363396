"""Hostile input: truncated files, random bytes, PDF bombs. A report every time, never a traceback."""

from __future__ import annotations

import random
import time
import zlib

import pytest

from docservice.signing.pki import Pki
from docservice.signing.verify import Report, Trust, verify_pdf
from tests.signing.conftest import SignedContract

TIME_LIMIT = 10.0


def build_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A classic PDF with `objects` numbered from 1 and a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, xref)
    return bytes(out)


@pytest.fixture(scope="module")
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


def timed(pdf: bytes, trust: Trust) -> Report:
    start = time.monotonic()
    report = verify_pdf(pdf, trust=trust)
    assert time.monotonic() - start < TIME_LIMIT
    assert isinstance(report, Report) and not report.passed
    return report


def test_every_truncation_of_a_signed_file_is_rejected(signed_contract: SignedContract,
                                                       trust: Trust) -> None:
    pdf = signed_contract.by_school
    for cut in [*range(0, len(pdf), 997), len(pdf) - 1, len(pdf) - 7]:
        report = timed(pdf[:cut], trust)
        assert report.indication in ("TOTAL_FAILED", "INDETERMINATE")


def test_random_bytes_are_not_a_pdf(trust: Trust) -> None:
    rng = random.Random(4)
    for size in (0, 1, 10, 1000, 100_000):
        for prefix in (b"", b"%PDF-1.7\n"):
            report = timed(prefix + rng.randbytes(size), trust)
            assert report.sub_indication == "FORMAT_FAILURE"
            if not prefix:
                assert not report.readable


def test_random_corruption_of_a_signed_file_never_passes(signed_contract: SignedContract,
                                                         trust: Trust) -> None:
    rng = random.Random(7)
    pdf = bytearray(signed_contract.by_school)
    for _ in range(40):
        corrupt = bytearray(pdf)
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(corrupt))
            corrupt[at] = rng.randrange(256)
        if bytes(corrupt) != bytes(pdf):
            timed(bytes(corrupt), trust)


def test_deeply_nested_objects_are_a_clean_rejection(trust: Trust) -> None:
    depth = 200_000
    pdf = build_pdf([b"<< /Type /Catalog /Pages 2 0 R /Nest 3 0 R >>",
                     b"<< /Type /Pages /Kids [] /Count 0 >>",
                     b"[" * depth + b"]" * depth])
    report = timed(pdf, trust)
    assert report.indication in ("TOTAL_FAILED", "INDETERMINATE")


def test_a_decompression_bomb_is_a_clean_rejection(trust: Trust) -> None:
    compressor = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(128)) + compressor.flush()
    pdf = build_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
        b"<< /FT /Sig /T (Signature_student) /V << /Type /Sig /Filter /Adobe.PPKLite "
        b"/SubFilter /ETSI.CAdES.detached /ByteRange [0 10 20 30] /Contents <3000> >> >>",
    ])
    report = timed(pdf, trust)
    assert report.indication == "TOTAL_FAILED"


def test_a_page_tree_cycle_is_a_clean_rejection(trust: Trust) -> None:
    pdf = build_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                     b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                     b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])
    timed(pdf, trust)
