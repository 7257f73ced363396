"""Strict verification of a final three-signature agreement beside pyhanko's bare validation.

    .venv/bin/python bench/verify.py [--runs 50]

Both run on the same PDF, interleaved in the same process: "bare" is pyhanko's
validate_pdf_signature of each signature with one validation context (trust root and CRLs,
hard-fail revocation, its default difference analysis); "strict" is verify_pdf with the
strict policy (structure, byte ranges, object-level change rules, point-in-time validation).
Target: strict <= 1.3 x bare and <= 120 ms.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from docservice.signing.pades import PadesSigner  # noqa: E402
from docservice.signing.pki import Pki, init_dev_pki  # noqa: E402
from docservice.signing.verify import Trust, verify_pdf  # noqa: E402
from tests.signing.conftest import COORDINATOR, MENTOR, STUDENT  # noqa: E402
from tests.signing.samples import contract_pdf, field_name  # noqa: E402


def final_agreement(pki: Pki) -> bytes:
    """A contract signed by student, company and school (PAdES B-T each)."""
    with PadesSigner(pki) as pades:
        (by_student,) = pades.sign_as(STUDENT, [(contract_pdf(), field_name("student"))]).pdfs
        (by_company,) = pades.sign_as(MENTOR, [(by_student, field_name("company"))]).pdfs
        (final,) = pades.seal_documents([(by_company, field_name("school"))],
                                        approved_by=COORDINATOR)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        init_dev_pki(Path(tmp) / "pki")
        pki = Pki.load(Path(tmp) / "pki")
        pdf = final_agreement(pki)
    trust = Trust(roots=pki.trust_roots, crls=pki.crls)

    def bare() -> None:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        context = ValidationContext(trust_roots=list(pki.trust_roots), crls=list(pki.crls),
                                    allow_fetching=False, revocation_mode="hard-fail")
        for sig in reader.embedded_signatures:
            status = validate_pdf_signature(sig, signer_validation_context=context)
            assert status.bottom_line

    def strict() -> None:
        report = verify_pdf(pdf, trust=trust, policy="strict")
        assert report.passed, report.reasons

    bare()
    strict()
    bare_ms: list[float] = []
    strict_ms: list[float] = []
    for _ in range(args.runs):
        for run, out in ((bare, bare_ms), (strict, strict_ms)):
            start = time.perf_counter()
            run()
            out.append((time.perf_counter() - start) * 1000)
    b, s = statistics.median(bare_ms), statistics.median(strict_ms)
    print(f"final agreement: {len(pdf)} bytes, 3 signatures, median of {args.runs} runs")
    print(f"pyhanko validate_pdf_signature (bare): {b:7.1f} ms")
    print(f"verify_pdf strict (full):              {s:7.1f} ms")
    print(f"ratio strict / bare:                   {s / b:7.2f}  (target <= 1.30, <= 120 ms)")


if __name__ == "__main__":
    main()
