"""One-shot certificates: what they say, fresh keys, nothing on disk, chained to the dev root."""

from __future__ import annotations

import os
import pickle
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from docservice.signing.certificates import (
    ONE_SHOT_VALIDITY,
    SignerIdentity,
    issue_one_shot_certificate,
)
from docservice.signing.errors import KeyDiscarded, SigningError
from docservice.signing.pades import PadesSigner, StampText
from docservice.signing.pki import Pki
from docservice.signing.timestamps import run_async
from tests.signing.conftest import MENTOR, STUDENT
from tests.signing.samples import contract_pdf, field_name


def listing(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime)
            for p in folder.rglob("*")}


_writes: list[str] | None = None
_writer_thread: int | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Only the signing thread: other tests' servers may still be writing in theirs.
    if _writes is None or event != "open" or threading.get_ident() != _writer_thread:
        return
    path, mode, flags = args
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    if writing:
        _writes.append(str(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only while _writes is a list


def test_certificate_names_the_signer(pki: Pki) -> None:
    now = datetime.now(UTC)
    with issue_one_shot_certificate(pki, MENTOR, now=now) as key:
        cert = key.certificate_x509
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Bram Janssens"
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "company"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ACME nv"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "BE"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["bram.janssens@acme.example"]
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "docservice Dev Signer CA"

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc <= now
    assert abs(cert.not_valid_after_utc - now - ONE_SHOT_VALIDITY) < timedelta(seconds=1)
    assert cert.serial_number.bit_length() > 100
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


def test_every_certificate_has_a_fresh_key(pki: Pki) -> None:
    keys = set()
    serials = set()
    for _ in range(5):
        with issue_one_shot_certificate(pki, STUDENT) as key:
            keys.add(key.certificate_x509.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
            serials.add(key.certificate_x509.serial_number)
    assert len(keys) == 5 and len(serials) == 5


def test_no_key_is_written_anywhere(pki: Pki, pades: PadesSigner) -> None:
    global _writes, _writer_thread
    pdf = contract_pdf()
    before = listing(pki.folder)
    _writer_thread = threading.get_ident()
    _writes = []
    try:
        visit = pades.sign_as(STUDENT, [(pdf, field_name("student"))])
        opened_for_writing = list(_writes)
    finally:
        _writes = None
    assert listing(pki.folder) == before
    assert opened_for_writing == []  # no file at all, anywhere, was opened for writing
    assert visit.pdfs[0].startswith(pdf)
    assert b"PRIVATE KEY" not in visit.pdfs[0]


def test_certificate_chains_to_the_dev_root(pki: Pki) -> None:
    with issue_one_shot_certificate(pki, STUDENT) as key:
        context = ValidationContext(trust_roots=list(pki.trust_roots), crls=list(pki.crls),
                                    other_certs=[pki.signer_ca], allow_fetching=False,
                                    revocation_mode="hard-fail")
        validator = CertificateValidator(key.certificate, validation_context=context)
        path = run_async(validator.async_validate_usage({"non_repudiation"}))
    assert [c.subject.human_friendly for c in path] == [
        pki.root.subject.human_friendly, pki.signer_ca.subject.human_friendly,
        key.certificate.subject.human_friendly]


def test_the_key_is_dropped_after_the_visit(pki: Pki, pades: PadesSigner) -> None:
    with issue_one_shot_certificate(pki, STUDENT) as key:
        signer = key.cms_signer()
        assert not key.discarded
    assert key.discarded
    with pytest.raises(KeyDiscarded):
        _ = key.key
    with pytest.raises(KeyDiscarded):
        pades.sign_field(contract_pdf(), field_name=field_name("student"), signer=signer,
                         stamp=StampText.for_identity(STUDENT))
    assert "discarded" in repr(key)


def test_a_key_cannot_be_pickled(pki: Pki) -> None:
    with (issue_one_shot_certificate(pki, STUDENT) as key,
          pytest.raises(TypeError, match="never leave memory")):
        pickle.dumps(key)


def test_an_identity_needs_a_known_role_a_name_and_an_email(pki: Pki) -> None:
    with pytest.raises(SigningError, match="role"):
        issue_one_shot_certificate(pki, SignerIdentity("A", "a@x.example", "mentor", "X"))
    with pytest.raises(SigningError, match="name"):
        issue_one_shot_certificate(pki, SignerIdentity(" ", "a@x.example", "student", "X"))


def test_validity_never_outlives_the_issuing_ca(pki: Pki) -> None:
    with issue_one_shot_certificate(pki, STUDENT, validity=timedelta(days=365 * 30)) as key:
        assert key.certificate_x509.not_valid_after_utc == pki.signer_ca_x509.not_valid_after_utc
