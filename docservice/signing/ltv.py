"""PAdES B-LTA: validation data and document timestamps, and long-term validation (pyhanko).

`complete_to_lta` appends one incremental update to a signed PDF: a DSS holding every
certificate and CRL of every approval signature and of its signature timestamp (plus, for
certificates the service's own signer CA issued, an OCSP response that CA signs now), and a
document timestamp from the service's TSA. `renew` adds another document timestamp, with the
validation data of the previous one, before that one's certificate expires.

`lta_validation` runs pyhanko's AdES long-term validation (ETSI EN 319 102-1, 5.6.3) offline:
the only revocation data it may use is what the file carries, the only trust is the roots it
is given. `simulate_future` runs the same at a future date, as if the timestamp chain were
maintained until then (pyhanko's `simulate_future_ades_lta_validation`).

Why the OCSP responses: pyhanko 0.38's past-signature validation cannot use a CRL issued by an
intermediate CA for an expired end-entity certificate (it looks for the CRL issuer's path in a
path truncated at that issuer and finds none, giving REVOCATION_OUT_OF_BOUNDS_NO_POE). One-shot
certificates live 30 days and are issued by the signer CA, so without them every one-shot
signature would fail long-term validation a month after signing. An OCSP response signed by
the issuer itself is found by that search.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper, TimestampDSSContentSettings
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.dss import (
    DocumentSecurityStore,
    collect_validation_info,
)
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator import policy_decl as certv_policy
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer

from docservice.errors import DocserviceError
from docservice.signing.pades import run_async

DIGEST = "sha256"
ACCEPTABLE_MODIFICATIONS = ("NONE", "FORM_FILLING", "LTA_UPDATES")
OCSP_VALIDITY = timedelta(days=7)


class LtvError(DocserviceError):
    """A document could not be completed to B-LTA (why is in the message)."""


@dataclass(frozen=True)
class StatusResponder:
    """A CA whose key the service holds: it states its own certificates' status (OCSP)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)
    crl: asn1_crl.CertificateList | None = None  # its current CRL: the revoked serials

    @property
    def subject_der(self) -> bytes:
        return self.certificate.subject.public_bytes()


@dataclass(frozen=True)
class LtvSources:
    """What completing and validating needs: trust, revocation data, a TSA."""

    trust_roots: tuple[asn1_x509.Certificate, ...]
    crls: tuple[asn1_crl.CertificateList, ...]
    timestamper: TimeStamper | None = None
    responders: tuple[StatusResponder, ...] = ()


_quiet = threading.local()


class _ExpectedValidationNoise(logging.Filter):
    """Drops pyhanko's warnings while long-term validation runs here.

    Past-signature validation first judges every certificate at the validation time, and
    pyhanko logs each expected failure ("certificate expired", "CRL not recent enough") as
    a warning with a traceback; the verdict, not those steps, is what matters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False) or record.levelno >= logging.ERROR


for _name in ("pyhanko.sign.validation.generic_cms", "pyhanko.sign.validation.ades",
              "pyhanko_certvalidator"):
    logging.getLogger(_name).addFilter(_ExpectedValidationNoise())


@contextmanager
def _quiet_validation() -> Iterator[None]:
    previous = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = previous


# --- completing ---------------------------------------------------------------------------


def complete_to_lta(pdf: bytes, sources: LtvSources, *, now: datetime | None = None) -> bytes:
    """`pdf` plus one incremental update: DSS (validation data) and a document timestamp."""
    if sources.timestamper is None:
        raise LtvError("no timestamp authority to add a document timestamp with")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        return run_async(_complete(pdf, sources, now))
    except TimestampRequestError as e:
        raise LtvError(f"the timestamp authority did not answer: {e}") from e
    except (PathBuildingError, PathValidationError) as e:
        raise LtvError(f"a certificate cannot be validated: {e}") from e
    except (PdfError, PdfReadError, PyhankoSigningError, ValueError, KeyError) as e:
        raise LtvError(f"cannot add validation data: {e}") from e


def _context(sources: LtvSources, moment: datetime, *, retroactive: bool) -> ValidationContext:
    return ValidationContext(
        trust_roots=list(sources.trust_roots), crls=list(sources.crls), allow_fetching=False,
        revocation_mode="hard-fail", moment=moment, best_signature_time=moment,
        retroactive_revinfo=retroactive)


async def _complete(pdf: bytes, sources: LtvSources, now: datetime) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signatures = list(reader.embedded_regular_signatures)
    if not signatures:
        raise LtvError("the document has no signature to keep valid")
    writer = IncrementalPdfFileWriter.from_reader(reader)
    for sig in signatures:
        # Judged when its timestamp says it was made: a one-shot certificate lives 30 days,
        # and archiving may be retried after that.
        moment = signature_timestamp_time(sig) or now
        context = _context(sources, moment, retroactive=True)
        paths = await collect_validation_info(sig, context)
        ocsps = [r for r in (_status_response(sources, path.leaf, now) for path in paths)
                 if r is not None]
        DocumentSecurityStore.supply_dss_in_writer(
            writer, None, paths=paths, ocsps=ocsps, validation_context=context,
            embed_roots=True)
    # One revision: the DSS above, the TSA's own validation data, then the document timestamp.
    assert sources.timestamper is not None
    stamper = PdfTimeStamper(sources.timestamper, field_name=timestamp_field_name(reader, now))
    output = await stamper.async_timestamp_pdf(
        writer, DIGEST, validation_context=_context(sources, now, retroactive=False),
        dss_settings=TimestampDSSContentSettings(update_before_ts=True, include_vri=False),
        embed_roots=True)
    result: bytes = output.getvalue()
    if not result.startswith(pdf):
        raise LtvError("the completed document does not extend the signed bytes")
    return result


def timestamp_field_name(reader: PdfFileReader, now: datetime) -> str:
    """A name for a new document timestamp's field that no field of the document has yet.

    The time in the name is for people reading the file; two timestamps within one second
    (a renewal right after archiving) get a counter, so the name is unique whatever the clock
    says (pyhanko would otherwise take the second for the first, filled, field).
    """
    taken = {name for name, _value, _ref in enumerate_sig_fields(reader, filled_status=None)}
    base = f"DocTimeStamp-{now.astimezone(UTC):%Y%m%dT%H%M%S}"
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base}-{counter}"
    return name


def renew(pdf: bytes, sources: LtvSources, *, now: datetime | None = None) -> bytes:
    """Add a fresh document timestamp covering the previous one and its validation data."""
    if sources.timestamper is None:
        raise LtvError("no timestamp authority to add a document timestamp with")
    now = (now or datetime.now(UTC)).astimezone(UTC)

    async def go() -> bytes:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        stamper = PdfTimeStamper(sources.timestamper,  # type: ignore[arg-type]
                                 field_name=timestamp_field_name(reader, now))
        output = await stamper.async_update_archival_timestamp_chain(
            reader, _context(sources, now, retroactive=False), in_place=False,
            default_md_algorithm=DIGEST)
        return bytes(output.getvalue())

    try:
        result = run_async(go())
    except (TimestampRequestError, PathBuildingError, PathValidationError, PdfError,
            PdfReadError, PyhankoSigningError, SignatureValidationError, ValueError) as e:
        raise LtvError(f"cannot renew the document timestamp: {e}") from e
    if not result.startswith(pdf):
        raise LtvError("the renewed document does not extend the archived bytes")
    return result


def _status_response(sources: LtvSources, cert: Any, now: datetime) -> asn1_ocsp.OCSPResponse | None:
    """An OCSP response about `cert`, signed by its issuer, if the service holds that key."""
    if not isinstance(cert, asn1_x509.Certificate):
        return None
    issuer_der = cert.issuer.dump()
    responder = next((r for r in sources.responders if r.subject_der == issuer_der), None)
    if responder is None:
        return None
    subject = x509.load_der_x509_certificate(cert.dump())
    status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
    if responder.crl is not None:
        for entry in responder.crl["tbs_cert_list"]["revoked_certificates"]:
            if entry["user_certificate"].native == subject.serial_number:
                status, revoked_at = ocsp.OCSPCertStatus.REVOKED, entry["revocation_date"].native
                break
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(cert=subject, issuer=responder.certificate, algorithm=hashes.SHA256(),
                      cert_status=status, this_update=now, next_update=now + OCSP_VALIDITY,
                      revocation_time=revoked_at, revocation_reason=reason)
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
        .sign(responder.key, hashes.SHA256())
    )
    return asn1_ocsp.OCSPResponse.load(response.public_bytes(serialization.Encoding.DER))


# --- reading --------------------------------------------------------------------------------


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


# --- long-term validation -------------------------------------------------------------------


@dataclass(frozen=True)
class LtaResult:
    """pyhanko's AdES long-term validation verdict on one approval signature."""

    field_name: str
    indication: str  # PASSED, INDETERMINATE, FAILED
    sub_indication: str  # AdES sub-indication name (OK when passed)
    message: str | None
    signer: str | None
    best_signature_time: datetime | None
    evidence_record_time: datetime | None  # oldest document timestamp after the signature
    coverage: str | None
    modification_level: str | None

    @property
    def passed(self) -> bool:
        """Passed, and protected by a valid document timestamp after it.

        The modification level is only known when a difference policy was used; the
        verification engine is what judges later revisions.
        """
        return (self.indication == "PASSED" and self.evidence_record_time is not None
                and self.coverage in ("ENTIRE_REVISION", "ENTIRE_FILE")
                and self.modification_level in (None, *ACCEPTABLE_MODIFICATIONS))

    def to_json(self) -> dict[str, Any]:
        return {
            "field_name": self.field_name, "indication": self.indication,
            "sub_indication": self.sub_indication, "message": self.message,
            "signer": self.signer, "passed": self.passed,
            "best_signature_time": _iso(self.best_signature_time),
            "evidence_record_time": _iso(self.evidence_record_time),
            "coverage": self.coverage, "modification_level": self.modification_level,
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def validation_spec(trust_roots: Iterable[asn1_x509.Certificate],
                    current_crls: Iterable[asn1_crl.CertificateList] = (),
                    ) -> PdfSignatureValidationSpec:
    """Strict and offline: revocation data required, and only what the file carries.

    `current_crls` are today's CRLs, as a validator would fetch them: needed years later
    for certificates that are still valid (pyhanko judges them at the current time first).
    """
    return PdfSignatureValidationSpec(diff_policy=None, signature_validation_spec=SignatureValidationSpec(
        local_knowledge=LocalKnowledge(known_crls=[CRLContainer(c) for c in current_crls]),
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(list(trust_roots)),
            revinfo_policy=certv_policy.CertRevTrustPolicy(
                revocation_checking_policy=certv_policy.REQUIRE_REVINFO,
                freshness_req_type=certv_policy.FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
    ))
    # No difference analysis here (diff_policy=None): the verification engine judges every
    # revision strictly, and pyhanko's analysis costs about a second on a LibreOffice PDF.


def lta_validation(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate], *,
                   at: datetime | None = None,
                   current_crls: Sequence[asn1_crl.CertificateList] = ()) -> list[LtaResult]:
    """AdES long-term validation of each approval signature, offline, now or at `at`."""
    spec = validation_spec(trust_roots, current_crls)
    timing = None
    if at is not None:
        timing = ValidationTimingInfo(validation_time=at, best_signature_time=at,
                                      point_in_time_validation=True)

    async def one(sig: EmbeddedPdfSignature) -> Any:
        return await ades.ades_lta_validation(sig, spec, timing_info=timing)

    return _each_signature(pdf, one)


def simulate_future(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate], *,
                    at: datetime) -> list[LtaResult]:
    """Long-term validation at `at`, assuming the timestamp chain is kept up until then."""
    spec = validation_spec(trust_roots)

    async def one(sig: EmbeddedPdfSignature) -> Any:
        return await ades.simulate_future_ades_lta_validation(sig, spec,
                                                              future_validation_time=at)

    return _each_signature(pdf, one)


def _each_signature(pdf: bytes, validate: Any) -> list[LtaResult]:
    async def go() -> list[LtaResult]:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        results = []
        for sig in sorted(reader.embedded_regular_signatures, key=lambda s: s.signed_revision):
            try:
                result = await validate(sig)
            except (SignatureValidationError, PdfReadError, ValueError) as e:
                results.append(LtaResult(str(sig.field_name), "FAILED", "FORMAT_FAILURE",
                                         str(e), None, None, None, None, None))
                continue
            results.append(_lta_result(sig, result))
        return results

    try:
        with _quiet_validation():
            return run_async(go())
    except (PdfReadError, PdfError, ValueError) as e:
        raise LtvError(f"cannot read the document's signatures: {e}") from e


def _lta_result(sig: EmbeddedPdfSignature, result: Any) -> LtaResult:
    sub = result.ades_subindic
    status = result.api_status
    indication = "PASSED" if isinstance(sub, AdESPassed) else sub.status.name
    signer = None
    coverage = level = None
    if status is not None:
        signer = status.signing_cert.subject.human_friendly
        coverage = status.coverage.name if status.coverage is not None else None
        level = (status.modification_level.name
                 if status.modification_level is not None else None)
    message = result.failure_msg if indication != "PASSED" else None
    return LtaResult(
        field_name=str(sig.field_name), indication=indication, sub_indication=sub.name,
        message=message, signer=signer, best_signature_time=result.best_signature_time,
        evidence_record_time=result.oldest_evidence_record_timestamp,
        coverage=coverage, modification_level=level)
