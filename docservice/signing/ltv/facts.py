"""What a PAdES B-LTA file carries, read without validating: its document timestamps, its DSS,
and what a future validator would miss (`dss_coverage`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature


def signature_timestamp_time(sig: EmbeddedPdfSignature) -> datetime | None:
    """The time in the signature's RFC 3161 token (not yet checked)."""
    attrs = sig.signer_info["unsigned_attrs"]
    if isinstance(attrs, core.Void):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            tst_info = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
            gen_time: datetime = tst_info["gen_time"].native
            return gen_time.astimezone(UTC)
    return None


@dataclass(frozen=True)
class DocumentTimestamp:
    """One document timestamp of a PDF: when, by which TSA, until when its certificate lives."""

    field_name: str
    time: datetime
    tsa: str
    tsa_certificate_sha256: str
    tsa_expires_at: datetime
    digest_algorithm: str
    signature_algorithm: str
    key_bits: int

    def to_json(self) -> dict[str, Any]:
        return {"field_name": self.field_name, "time": self.time.isoformat(), "tsa": self.tsa,
                "tsa_certificate_sha256": self.tsa_certificate_sha256,
                "tsa_expires_at": self.tsa_expires_at.isoformat(),
                "digest_algorithm": self.digest_algorithm,
                "signature_algorithm": self.signature_algorithm, "key_bits": self.key_bits}


def document_timestamps(pdf: bytes) -> list[DocumentTimestamp]:
    """The document timestamps of `pdf`, oldest first."""
    return _document_timestamps(PdfFileReader(io.BytesIO(pdf), strict=False))


def _document_timestamps(reader: PdfFileReader) -> list[DocumentTimestamp]:
    found = []
    for ts in reader.embedded_timestamp_signatures:
        cert = ts.signer_cert
        tst_info = ts.signed_data["encap_content_info"]["content"].parsed
        found.append(DocumentTimestamp(
            field_name=str(ts.field_name),
            time=tst_info["gen_time"].native.astimezone(UTC),
            tsa=cert.subject.human_friendly,
            tsa_certificate_sha256=cert.sha256.hex(),
            tsa_expires_at=cert["tbs_certificate"]["validity"]["not_after"].native.astimezone(UTC),
            digest_algorithm=tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native,
            signature_algorithm=ts.signer_info["signature_algorithm"].signature_algo,
            key_bits=cert.public_key.bit_size,
        ))
    return sorted(found, key=lambda t: t.time)


@dataclass(frozen=True)
class DssSummary:
    """What validation data a PDF carries in its DSS."""

    certificates: int
    crls: int
    ocsps: int

    def to_json(self) -> dict[str, int]:
        return {"certificates": self.certificates, "crls": self.crls, "ocsps": self.ocsps}


def dss_summary(pdf: bytes) -> DssSummary | None:
    """How many certificates, CRLs and OCSP responses the DSS holds (None: no DSS)."""
    return _dss_summary(PdfFileReader(io.BytesIO(pdf), strict=False))


def _dss_summary(reader: PdfFileReader) -> DssSummary | None:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None
    return DssSummary(len(list(dss.load_certs())), len(dss.crls), len(dss.ocsps))


@dataclass(frozen=True)
class LtaFacts:
    """What archiving reads of a completed PDF: its document timestamps, its DSS, and what a
    future validator would miss (`dss_coverage`), from one parse of the file."""

    timestamps: list[DocumentTimestamp]
    dss: DssSummary | None
    missing: list[str]


def lta_facts(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate]) -> LtaFacts:
    """`document_timestamps`, `dss_summary` and `dss_coverage` of `pdf`, parsed once."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return LtaFacts(_document_timestamps(reader), _dss_summary(reader),
                    _dss_coverage(reader, trust_roots))


def dss_coverage(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate]) -> list[str]:
    """What a validator years from now would miss in `pdf`; empty when nothing is missing.

    A fast, structural check of what `complete_to_lta` embedded: for every approval signature,
    its signature timestamp and every document timestamp but the last, each certificate up to a
    trusted root must be embedded (DSS or CMS), and each one below the root must have a CRL from
    its issuer or an OCSP response in the DSS. The last document timestamp needs its chain only:
    its revocation data is what the next renewal adds. pyhanko's full long-term validation
    (`lta_validation`, `simulate_future`) checks the same and more, at about five times the cost;
    `docservice archive verify` runs that one.
    """
    return _dss_coverage(PdfFileReader(io.BytesIO(pdf), strict=False), trust_roots)


def _dss_coverage(reader: PdfFileReader, trust_roots: Sequence[asn1_x509.Certificate]
                  ) -> list[str]:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return ["no validation data (DSS): the document is not B-LT"]
    pool: list[asn1_x509.Certificate] = list(dss.load_certs()) + list(trust_roots)
    crl_issuers = {_load_crl(ref)["tbs_cert_list"]["issuer"].dump() for ref in dss.crls}
    ocsp_serials = {serial for ref in dss.ocsps for serial in _ocsp_serials(ref)}
    roots = {root.sha256 for root in trust_roots}
    problems: list[str] = []

    def chain(what: str, leaf: asn1_x509.Certificate, extra: Iterable[asn1_x509.Certificate],
              *, revocation: bool) -> None:
        candidates = pool + list(extra)
        cert = leaf
        for _ in range(8):
            if cert.sha256 in roots:
                return
            if revocation and cert.issuer.dump() not in crl_issuers \
                    and cert.serial_number not in ocsp_serials:
                problems.append(f"{what}: no revocation data for "
                                f"{cert.subject.human_friendly}")
            if cert.self_signed != "no":
                break
            wanted = cert.issuer.dump()  # DER, not Name.__eq__: that one costs 1 ms a call
            issuer = next((c for c in candidates if c.subject.dump() == wanted
                           and c.sha256 != cert.sha256), None)
            if issuer is None:
                problems.append(f"{what}: the certificate of {cert.issuer.human_friendly} "
                                "is not embedded")
                return
            cert = issuer
        problems.append(f"{what}: {leaf.subject.human_friendly} does not chain to a trusted root")

    for sig in reader.embedded_regular_signatures:
        name = str(sig.field_name)
        chain(name, sig.signer_cert, sig.other_embedded_certs, revocation=True)
        token = _signature_timestamp_token(sig)
        if token is None:
            problems.append(f"{name}: no signature timestamp")
        else:
            tsa, certs = _token_signer(token)
            if tsa is None:
                problems.append(f"{name}: the signature timestamp names no certificate")
            else:
                chain(f"{name} (timestamp)", tsa, certs, revocation=True)
    stamps = sorted(reader.embedded_timestamp_signatures, key=lambda t: t.signed_revision)
    if not stamps:
        problems.append("no document timestamp: the document is not B-LTA")
    for i, ts in enumerate(stamps):
        chain(str(ts.field_name), ts.signer_cert, ts.other_embedded_certs,
              revocation=i < len(stamps) - 1)
    return problems


def _load_crl(ref: Any) -> asn1_crl.CertificateList:
    return asn1_crl.CertificateList.load(ref.get_object().data)


def _ocsp_serials(ref: Any) -> list[int]:
    response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
    basic = response["response_bytes"]["response"].parsed
    return [single["cert_id"]["serial_number"].native
            for single in basic["tbs_response_data"]["responses"]]


def _signature_timestamp_token(sig: EmbeddedPdfSignature) -> Any:
    attrs = sig.signer_info["unsigned_attrs"]
    if isinstance(attrs, core.Void):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            return attr["values"][0]
    return None


def _token_signer(token: Any) -> tuple[asn1_x509.Certificate | None,
                                       list[asn1_x509.Certificate]]:
    signed_data = token["content"]
    certs = [c.chosen for c in signed_data["certificates"]
             if isinstance(c.chosen, asn1_x509.Certificate)]
    sid = signed_data["signer_infos"][0]["sid"].chosen
    for cert in certs:
        if isinstance(sid, core.OctetString):
            if cert.key_identifier == sid.native:
                return cert, certs
        elif (cert.issuer == sid["issuer"]
              and cert.serial_number == sid["serial_number"].native):
            return cert, certs
    return None, certs
