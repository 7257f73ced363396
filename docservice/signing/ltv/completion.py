"""Completing a signed PDF to PAdES B-LTA: a DSS and a document timestamp, later renewed.

`complete_to_lta` appends one incremental update to a signed PDF: a DSS holding every
certificate and CRL of every approval signature and of its signature timestamp (plus, for
certificates the service's own signer CA issued, an OCSP response that CA signs now), and a
document timestamp from the service's TSA. `renew` adds another document timestamp, with the
validation data of the previous one, before that one's certificate expires (the package's
docstring says why the OCSP responses).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper, TimestampDSSContentSettings
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import (
    DocumentSecurityStore,
    collect_validation_info,
)
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from docservice.errors import DocserviceError
from docservice.signing.ltv.facts import signature_timestamp_time
from docservice.signing.timestamps import run_async

DIGEST = "sha256"
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
    """What completing and validating needs: trust, revocation data, a TSA, the EU lists."""

    trust_roots: tuple[asn1_x509.Certificate, ...]
    crls: tuple[asn1_crl.CertificateList, ...]
    timestamper: TimeStamper | None = None
    responders: tuple[StatusResponder, ...] = ()
    trust_path: Path | None = None  # the EU trusted lists' store (Settings.trust_path); None: none


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
