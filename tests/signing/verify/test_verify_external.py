"""Signatures made by third-party tools (pyhanko's CLI, poppler's pdfsig) on a prepared document."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfTimeStamper

from docservice.signing.certificates import issue_one_shot_certificate
from docservice.signing.pki import (
    DEV_CRL_BASE_URL,
    ROOT_CERT,
    SIGNER_CA_CRL,
    Pki,
    crl_distribution_points,
)
from docservice.signing.timestamps import DevTimeStamper
from docservice.signing.verify import Expected, Trust, verify_pdf
from tests.signing.conftest import MENTOR, SignedContract
from tests.signing.samples import ROLES, field_name
from tests.signing.tsa_http import serve_tsa

PYHANKO = Path(sys.executable).parent / "pyhanko"
FIELDS = {role: field_name(role) for role in ROLES}
UPLOAD = Expected(roles_in_order=("student", "company"), field_names=FIELDS,
                  signer_names={"company": MENTOR.full_name}, allow_untimestamped_last=True)


@pytest.fixture(scope="module")
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


@pytest.mark.skipif(not PYHANKO.exists(), reason="pyhanko-cli is not installed")
def test_a_signature_made_with_pyhankos_cli_is_accepted(
        signed_contract: SignedContract, pki: Pki, trust: Trust, tmp_path: Path) -> None:
    with issue_one_shot_certificate(pki, MENTOR) as key:
        (tmp_path / "key.pem").write_bytes(key.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (tmp_path / "cert.pem").write_bytes(key.certificate_x509.public_bytes(
            serialization.Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(
        pki.signer_ca_x509.public_bytes(serialization.Encoding.PEM)
        + (pki.folder / ROOT_CERT).read_bytes())
    (tmp_path / "in.pdf").write_bytes(signed_contract.by_student)
    with serve_tsa(DevTimeStamper(pki)) as (url, _):
        subprocess.run([str(PYHANKO), "sign", "addsig", "--field", field_name("company"),
                        "--use-pades", "--timestamp-url", url, "pemder",
                        "--key", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "cert.pem"),
                        "--chain", str(tmp_path / "chain.pem"), "--no-pass",
                        str(tmp_path / "in.pdf"), str(tmp_path / "out.pdf")],
                       check=True, capture_output=True, timeout=120)
    report = verify_pdf((tmp_path / "out.pdf").read_bytes(), trust=trust, expected=UPLOAD)
    assert report.passed, report.reasons
    company = report.signatures[-1]
    assert (company.role, company.signer_name, company.pades_level) == (
        "company", MENTOR.full_name, "B-T")
    wrong_field = Expected(roles_in_order=("student", "school"), field_names=FIELDS)
    refused = verify_pdf((tmp_path / "out.pdf").read_bytes(), trust=trust, expected=wrong_field)
    assert not refused.passed and "should be the school's" in "\n".join(refused.reasons)


def _nss_with_rsa_signer(pki: Pki, folder: Path) -> Path:
    """An NSS database holding an RSA key and certificate from the dev signer CA (poppler 22.12
    cannot sign with an EC key: "unable update signature")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME nv"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, MENTOR.full_name)]))
        .issuer_name(pki.signer_ca_x509.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(crl_distribution_points(DEV_CRL_BASE_URL + SIGNER_CA_CRL), critical=False)
        .sign(pki.signer_ca_key, hashes.SHA256()))
    p12 = folder / "signer.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"company", key, cert, [pki.signer_ca_x509],
        serialization.BestAvailableEncryption(b"test")))
    nss = folder / "nssdb"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["pk12util", "-i", str(p12), "-d", f"sql:{nss}", "-W", "test"], check=True,
                   capture_output=True)
    return nss


@pytest.mark.skipif(shutil.which("pdfsig") is None or shutil.which("pk12util") is None,
                    reason="poppler-utils or libnss3-tools missing")
def test_a_signature_made_with_pdfsig_is_accepted_and_timestamped_afterwards(
        signed_contract: SignedContract, pki: Pki, trust: Trust, tmp_path: Path) -> None:
    nss = _nss_with_rsa_signer(pki, tmp_path)
    (tmp_path / "in.pdf").write_bytes(signed_contract.by_student)
    subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", "-sign", field_name("company"),
                    "-nick", "company", str(tmp_path / "in.pdf"), str(tmp_path / "out.pdf")],
                   check=True, capture_output=True, timeout=120)
    upload = (tmp_path / "out.pdf").read_bytes()
    report = verify_pdf(upload, trust=trust, expected=UPLOAD)
    assert report.passed, report.reasons
    assert report.signatures[-1].subfilter == "/adbe.pkcs7.detached"
    # without the allowance the strict policy wants a timestamp...
    assert "has no timestamp" in "\n".join(verify_pdf(upload, trust=trust).reasons)
    # ...which a document timestamp added on acceptance provides
    out = io.BytesIO()
    PdfTimeStamper(DevTimeStamper(pki)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(upload), strict=False), "sha256", output=out)
    stamped = verify_pdf(out.getvalue(), trust=trust)
    assert stamped.passed, stamped.reasons
    assert stamped.signatures[-1].kind == "document_timestamp"
