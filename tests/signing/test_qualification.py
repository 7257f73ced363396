"""Qualification per signature at signing time: a qualified certificate whose CA/QC service is
granted on a trusted list (written and signed here) is QESig; withdrawn before signing, AdESig;
the service's own one-shot signatures are AdESig and the school's seal AdESeal."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docservice.signing import trust
from docservice.signing.pki import Pki
from docservice.signing.qualification import label_nl
from docservice.signing.verify import Report, Trust, verify_pdf
from tests.signing.conftest import SignedContract
from tests.signing.samples import contract_pdf, field_name
from tests.signing.trustlists import QualifiedPki, _asn1, qc_statements, trusted_list_xml


def _pkcs8(key: object) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture(scope="module")
def qpki() -> QualifiedPki:
    return QualifiedPki()


def _store(tmp_path: Path, qpki: QualifiedPki, history: list[tuple[str, datetime]], *,
           sign: bool = True) -> trust.TrustStoreData:
    xml = trusted_list_xml(qpki, history=history, sign=sign)
    verified = trust.verify_trusted_list(xml, source="test-tl.xml", tlso_certs=[qpki.tlso_asn1],
                                         unsigned_ok=not sign)
    assert verified.info.verified is sign
    trust.store_lists(tmp_path / "trust", [verified])
    return trust.load_trust_store(tmp_path / "trust")


def _signed_by_qualified_signer(qpki: QualifiedPki, pki: Pki, **statements: object) -> bytes:
    key, cert = qpki.signer("Jan Peeters", statements=qc_statements(**statements)  # type: ignore[arg-type]
                            if statements else None)
    signer = signers.SimpleSigner(
        signing_cert=_asn1(cert), signing_key=_pkcs8(key),
        cert_registry=SimpleCertificateStore.from_certs([qpki.ca_asn1]))
    assert pki.tsa is not None
    timestamper = DummyTimeStamper(tsa_cert=pki.tsa.certificate, tsa_key=_pkcs8(pki.tsa.key))
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf()))
    meta = signers.PdfSignatureMetadata(field_name=field_name("student"),
                                        subfilter=fields.SigSeedSubFilter.PADES)
    return signers.PdfSigner(meta, signer, timestamper=timestamper).sign_pdf(writer).getvalue()


def _verify(pdf: bytes, pki: Pki, qpki: QualifiedPki, store: trust.TrustStoreData | None
            ) -> Report:
    return verify_pdf(pdf, policy="standard", trust=Trust(
        roots=pki.trust_roots + (store.roots if store else (qpki.ca_asn1,)),
        crls=(*pki.crls, qpki.crl_asn1),
        lists=store.trusted_lists if store else None))


def test_granted_at_signing_time_is_a_qualified_signature(tmp_path: Path, qpki: QualifiedPki,
                                                          pki: Pki):
    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700))])
    report = _verify(_signed_by_qualified_signer(qpki, pki), pki, qpki, store)
    (sig,) = report.signatures
    assert sig.passed, sig.reasons
    assert sig.qualification is not None
    assert sig.qualification.level == "QESig" and sig.qualified
    assert sig.qualification.qscd and sig.qualification.qualified_certificate
    assert sig.qualification.territory == "BE"
    assert "granted CA/QC service 'Qualified Test Citizen CA' on the BE trusted list" in \
        sig.qualification.reason
    assert "proved by its timestamp" in sig.qualification.reason
    assert report.to_json()["signatures"][0]["qualification"]["level"] == "QESig"
    assert "qualification: QESig" in report.to_text()


def test_withdrawn_before_signing_is_not_qualified(tmp_path: Path, qpki: QualifiedPki, pki: Pki):
    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700)),
                                    ("withdrawn", qpki.now - timedelta(days=10))])
    report = _verify(_signed_by_qualified_signer(qpki, pki), pki, qpki, store)
    (sig,) = report.signatures
    assert sig.passed, sig.reasons  # still a valid signature: the CA is on the list
    assert sig.qualification is not None
    assert sig.qualification.level == "AdESig" and not sig.qualified
    assert "is on the BE trusted list, but was not granted at the signing time" in \
        sig.qualification.reason
    assert "withdrawn since" in sig.qualification.reason


def test_granted_then_withdrawn_after_signing_is_still_qualified(tmp_path: Path,
                                                                 qpki: QualifiedPki, pki: Pki):
    # The status at signing time counts, read from the service's history.
    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700)),
                                    ("withdrawn", qpki.now + timedelta(days=3))])
    (sig,) = _verify(_signed_by_qualified_signer(qpki, pki), pki, qpki, store).signatures
    assert sig.qualification is not None and sig.qualification.level == "QESig"


def test_without_qscd_or_without_a_list(tmp_path: Path, qpki: QualifiedPki, pki: Pki):
    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700))])
    no_qscd = _signed_by_qualified_signer(qpki, pki, sscd=False)
    (sig,) = _verify(no_qscd, pki, qpki, store).signatures
    assert sig.qualification is not None and sig.qualification.level == "AdESig-QC"
    # A certificate that calls itself qualified, but no list confirms it.
    (sig,) = _verify(_signed_by_qualified_signer(qpki, pki), pki, qpki, None).signatures
    assert sig.qualification is not None and sig.qualification.level == "AdESig"
    assert "declares itself qualified (QcStatements), but no trusted list confirms it" in \
        sig.qualification.reason


def test_a_list_stored_unverified_says_so_in_the_report(tmp_path: Path, qpki: QualifiedPki,
                                                        pki: Pki):
    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700))], sign=False)
    assert store.notes
    (sig,) = _verify(_signed_by_qualified_signer(qpki, pki), pki, qpki, store).signatures
    assert sig.qualification is not None
    assert "WITHOUT a verified signature" in sig.qualification.reason


def test_the_services_own_signatures_are_honestly_not_qualified(signed_contract: SignedContract,
                                                                pki: Pki):
    report = verify_pdf(signed_contract.by_school, trust=Trust(roots=pki.trust_roots,
                                                               crls=pki.crls))
    levels = {s.field_name: s.qualification.level for s in report.signatures
              if s.kind == "signature" and s.qualification is not None}
    assert levels == {field_name("student"): "AdESig", field_name("company"): "AdESig",
                      field_name("school"): "AdESeal"}
    assert not any(s.qualified for s in report.signatures)


def test_desk_labels():
    assert label_nl("QESig", True) == "gekwalificeerd, eID"
    assert label_nl("QESeal") == "gekwalificeerd"
    assert label_nl("AdESig") == "niet gekwalificeerd"
    assert label_nl("AdESeal") == "niet gekwalificeerd (zegel)"
    assert label_nl("N/A") == ""


def test_the_lists_cross_into_the_verification_child(tmp_path: Path, qpki: QualifiedPki,
                                                     pki: Pki):
    from docservice.signing.verify.sandbox import verify_untrusted

    store = _store(tmp_path, qpki, [("granted", qpki.now - timedelta(days=700))])
    trust_ = Trust(roots=pki.trust_roots + store.roots, crls=(*pki.crls, qpki.crl_asn1),
                   lists=store.trusted_lists)
    report = verify_untrusted(_signed_by_qualified_signer(qpki, pki), trust=trust_,
                              policy="standard")
    (sig,) = report.signatures
    assert sig.qualification is not None and sig.qualification.level == "QESig", sig.reasons
