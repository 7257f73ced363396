"""Benchmark: PAdES B-T signatures, the service's fast path against stock pyhanko.

Prints, over N signatures of the same document (in-process TSA, EC P-256 key):
- the service's fast path (`PadesSigner.sign_field` with a one-shot key): median, p10, p90;
- stock `pyhanko.sign.signers.sign_pdf` as a naive caller writes it (SimpleSigner loaded from
  the key file for every signature, DummyTimeStamper, no bytes_reserved, pyhanko's default
  stamp), and the ratio;
- one signer's visit to a three-document envelope (one-shot certificate + 3 signatures);
- the school seal (PKCS#12, parsed once) and verifying a three-signature contract with the
  service's engine (`verify_pdf`, strict policy: structure, signatures, what viewers show).

    .venv/bin/python bench/sign.py [--signatures 50] [--pages 4] [--pdf contract.pdf]

Everything lives in a temporary folder: its own dev PKI, and (for the stock run only) the
one-shot key written to a file, because that is what a naive caller signs from.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asn1crypto import keys
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from docservice.signing.certificates import SignerIdentity, issue_one_shot_certificate
from docservice.signing.pades import PadesSigner, StampText
from docservice.signing.pki import Pki, init_dev_pki
from docservice.signing.verify.engine import Trust, verify_pdf
from tests.signing.samples import contract_pdf, field_name

STUDENT = SignerIdentity("Anaïs Peeters", "anais.peeters@student.example", "student", "Thomas More")
MENTOR = SignerIdentity("Bram Janssens", "bram.janssens@acme.example", "company", "ACME nv")


def timed(action: Callable[[], object], count: int) -> list[float]:
    """Wall-clock milliseconds of `count` runs of `action`, after one warm-up run."""
    action()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def describe(name: str, times: list[float]) -> float:
    deciles = statistics.quantiles(times, n=10)
    median = statistics.median(times)
    print(f"{name:<44} median {median:7.1f} ms   p10 {deciles[0]:7.1f}   p90 {deciles[-1]:7.1f}"
          f"   (n={len(times)})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=50)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--pdf", type=Path, default=None,
                        help="a real PDF with fields Signature_student/_company/_school "
                             "(default: a generated test contract)")
    args = parser.parse_args()
    count = args.signatures

    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        folder = Path(tmp) / "pki"
        init_dev_pki(folder)
        pki = Pki.load(folder)
        pades = PadesSigner(pki)
        pdf = args.pdf.read_bytes() if args.pdf else contract_pdf(pages=args.pages)
        field = field_name("student")
        stamp = StampText.for_identity(STUDENT)
        what = str(args.pdf) if args.pdf else f"test contract, {args.pages} pages"
        print(f"document: {what}, {len(pdf)} bytes; signature B-T (in-process TSA), "
              f"EC P-256 signer key, RSA-2048 TSA key")

        key = issue_one_shot_certificate(pki, STUDENT)
        fast = describe("service fast path (PadesSigner.sign_field)", timed(
            lambda: pades.sign_field(pdf, field_name=field, signer=key, stamp=stamp), count))

        # The naive caller's inputs: the same key and chain, as files.
        key_file, cert_file, chain_file = (Path(tmp) / n for n in ("key.pem", "cert.pem", "ca.pem"))
        key_file.write_bytes(key.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        cert_file.write_bytes(key.certificate_x509.public_bytes(serialization.Encoding.PEM))
        chain_file.write_bytes((folder / "signer-ca.pem").read_bytes()
                               + (folder / "root-ca.pem").read_bytes())
        assert pki.tsa is not None
        tsa_key = keys.PrivateKeyInfo.load(pki.tsa.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        timestamper = DummyTimeStamper(tsa_cert=pki.tsa.certificate, tsa_key=tsa_key)

        def stock() -> bytes:
            signer = signers.SimpleSigner.load(str(key_file), str(cert_file),
                                               ca_chain_files=(str(chain_file),))
            assert signer is not None
            out = signers.sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf)),
                signers.PdfSignatureMetadata(field_name=field,
                                             subfilter=fields.SigSeedSubFilter.PADES),
                signer=signer, timestamper=timestamper, existing_fields_only=True,
            )
            signed: bytes = out.getvalue()
            return signed

        trust = Trust(roots=pki.trust_roots, crls=pki.crls)
        assert verify_pdf(stock(), trust=trust).signatures[0].valid
        naive = describe("stock pyhanko sign_pdf (naive caller)", timed(stock, count))
        print(f"{'fast path is':<44} {naive / fast:7.1f} x faster than stock")
        key.discard()

        documents = [(args.pdf.read_bytes() if args.pdf else contract_pdf(title, pages=args.pages),
                      field_name("company"))
                     for title in ("Stageovereenkomst", "Geheimhoudingsverklaring",
                                   "Afstand van auteursrecht")]
        visit = describe("envelope visit: one-shot cert + 3 signatures", timed(
            lambda: pades.sign_as(MENTOR, documents), max(count // 2, 10)))

        by_student = pades.sign_as(STUDENT, [(pdf, field)]).pdfs[0]
        by_company = pades.sign_as(MENTOR, [(by_student, field_name("company"))]).pdfs[0]
        school = [(by_company, field_name("school"))]
        describe("school seal (PKCS#12, parsed once)", timed(
            lambda: pades.seal_documents(school), count))
        complete = pades.seal_documents(school)[0]
        describe("verify_pdf, 3 signatures", timed(
            lambda: verify_pdf(complete, trust=trust), max(count // 5, 10)))

        print()
        verdicts = [
            ("median <= 35 ms", fast <= 35),
            (">= 3x faster than stock", naive / fast >= 3),
            ("envelope visit < 0.5 s", visit < 500),
        ]
        print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}"
                                      for name, ok in verdicts))


if __name__ == "__main__":
    main()
