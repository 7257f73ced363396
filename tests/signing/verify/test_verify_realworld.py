"""Real signed PDFs from other products, judged as the EU DSS reference validator judges them.

The files and the verdicts DSS's own tests assert about them live outside the repository, in
../shared/realworld (README.md and expected.tsv there); without that folder these tests skip.
The standard policy (anyone else's PDF), with no trust anchor: a foreign CA is INDETERMINATE.

- must_fail: DSS finds a signature broken or the document suspiciously modified → TOTAL_FAILED;
- must_not_fail: DSS finds every signature intact and every later change permitted → anything
  but TOTAL_FAILED;
- must_read: DSS asserts nothing decisive → any verdict;
and for every file: a verdict in time, nothing on stderr, no library warning (no traceback).
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import pytest

from docservice.signing.verify import Trust, verify_pdf

REALWORLD = Path(__file__).resolve().parents[3].parent / "shared" / "realworld"
SECONDS = 10.0


def _rows() -> list[dict[str, str]]:
    table = REALWORLD / "expected.tsv"
    if not table.is_file():
        return []
    with table.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _rows()


@pytest.mark.skipif(not ROWS, reason=f"no real-world PDFs in {REALWORLD}")
@pytest.mark.timeout(120)
@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_the_standard_policy_agrees_with_the_eu_dss_validator(
        row: dict[str, str], capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    pdf = (REALWORLD / "pdf" / row["file"]).read_bytes()
    capfd.readouterr()
    caplog.clear()
    started = time.monotonic()
    report = verify_pdf(pdf, trust=Trust(roots=()), policy="standard")
    elapsed = time.monotonic() - started

    why = f"{row['notes']}\n{report.to_text()}"
    expect = row["expect"]
    if expect == "must_fail":
        assert report.indication == "TOTAL_FAILED", why
    elif expect == "must_not_fail":
        assert report.indication != "TOTAL_FAILED", why
    else:
        assert expect == "must_read", f"unknown expectation {expect!r}"
    assert elapsed < SECONDS, f"{elapsed:.1f} s to verify\n{why}"
    _out, err = capfd.readouterr()
    assert not err, err
    loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, loud
