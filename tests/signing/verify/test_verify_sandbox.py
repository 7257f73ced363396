"""verify_untrusted: the engine in a child process, bounded in memory and in wall-clock time."""

from __future__ import annotations

import pickle
import re
import time
from datetime import UTC, datetime

import pytest

from docservice.signing.pki import Pki
from docservice.signing.verify import Trust, verify_pdf
from docservice.signing.verify.report import FORMAT_FAILURE, TOTAL_FAILED
from docservice.signing.verify.sandbox import TOO_LARGE, run_untrusted, verify_untrusted
from tests.signing.conftest import SignedContract

# A cross-reference stream that declares a billion entries over an empty stream.
_XREF = (b"1 0 obj << /Type /XRef /Size 1000000000 /Index [0 1000000000] /W [1 1 1] "
         b"/Length 0 >> stream\nendstream endobj\n")
HUGE_XREF = (b"%PDF-1.7\n" + _XREF + b"startxref\n" + str(len(b"%PDF-1.7\n")).encode()
             + b"\n%%EOF\n")


@pytest.fixture(scope="module")
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


def _status_mb(key: str) -> float:
    """This process's VmRSS, VmHWM, ... in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(key)


def with_big_stream(pdf: bytes, megabytes: int) -> bytes:
    """`pdf` plus an incremental update holding one unreferenced stream of `megabytes` MB."""
    size = max(int(n) for n in re.findall(rb"/Size (\d+)", pdf))
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1]
    length = megabytes * 2**20
    body = (b"\n%d 0 obj\n<< /Length %d >>\nstream\n" % (size, length) + b" " * length
            + b"\nendstream\nendobj\n")
    xref = len(pdf) + len(body)
    return (pdf + body + b"xref\n%d 1\n%010d 00000 n \n" % (size, len(pdf) + 1)
            + b"trailer\n<< /Size %d /Prev %d /Root %s >>\nstartxref\n%d\n%%%%EOF\n"
            % (size + 1, prev, root, xref))


def test_a_declared_huge_cross_reference_stream_fails_fast_and_the_parent_stays_small(
        trust: Trust) -> None:
    rss = _status_mb("VmRSS")
    start = time.monotonic()
    run = run_untrusted(HUGE_XREF, trust=trust, memory_mb=256, seconds=10)
    elapsed = time.monotonic() - start
    assert run.report.indication == TOTAL_FAILED, run.report
    assert elapsed < 5, elapsed
    assert _status_mb("VmRSS") - rss < 100
    # The limit is the child's: its address space never went past it.
    assert run.child_peak_vm_mb is None or run.child_peak_vm_mb <= 256


def test_a_genuine_agreement_gets_the_report_it_gets_in_process(
        trust: Trust, signed_contract: SignedContract) -> None:
    at = datetime.now(UTC)
    report = verify_untrusted(signed_contract.by_school, trust=trust, policy="strict", at=at)
    assert report.passed, report.reasons
    assert report == verify_pdf(signed_contract.by_school, trust=trust, policy="strict", at=at)


def test_a_child_over_the_memory_limit_gives_a_clean_failure(
        trust: Trust, signed_contract: SignedContract) -> None:
    # The child (Python and the engine) starts near 100 MB of address space: with the file
    # 40 MB more, a 64 MB limit is exceeded by whatever the engine does with it.
    run = run_untrusted(with_big_stream(signed_contract.by_school, 40), trust=trust,
                        memory_mb=64)
    assert run.stopped in ("memory", "died"), run
    report = run.report
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, FORMAT_FAILURE)
    assert report.reasons[0].startswith(TOO_LARGE + " (the file is too large or too complex")
    if run.stopped == "memory":
        assert "over 64 MB of memory" in report.reasons[0]


def test_a_child_past_the_deadline_is_killed_and_the_parent_carries_on(
        trust: Trust, signed_contract: SignedContract) -> None:
    start = time.monotonic()
    run = run_untrusted(signed_contract.by_school, trust=trust, seconds=0.01)
    assert time.monotonic() - start < 5
    assert run.stopped == "time"
    assert (run.report.indication, run.report.sub_indication) == (TOTAL_FAILED, FORMAT_FAILURE)
    assert run.report.reasons == (
        "te groot of te complex om te verifiëren (the file is too large or too complex to "
        "verify: over 0.01 s)",)
    assert verify_untrusted(signed_contract.by_school, trust=trust).passed


def test_reports_and_trust_cross_the_process_boundary(
        trust: Trust, signed_contract: SignedContract) -> None:
    from docservice.signing.verify import sandbox

    report = verify_pdf(signed_contract.by_school, trust=trust)
    assert pickle.loads(pickle.dumps(report)) == report
    rebuilt = Trust(**sandbox._unpacked(pickle.loads(pickle.dumps(sandbox._packed(trust)))))
    assert [c.dump() for c in rebuilt.roots] == [c.dump() for c in trust.roots]
    assert [c.dump() for c in rebuilt.crls] == [c.dump() for c in trust.crls]
