"""pyhanko's own verdict on every approval signature of a PDF: a second opinion for tests.

Offline and strict about revocation by default: the validation context gets the CRLs it may
use (the dev PKI's, from `Pki.crls`), never fetches, and with revocation_mode "hard-fail" a
certificate that names a CRL distribution point must be covered by a current CRL.
A signature with a trusted RFC 3161 timestamp is judged at the time the timestamp proves
(point-in-time validation). Document timestamps (/DocTimeStamp) are not listed. The service
itself verifies with `docservice.signing.verify` only; this checks its output independently.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from docservice.signing.verify.checks import SignatureCheck, claimed_timestamp, summarise

RevocationMode = Literal["soft-fail", "hard-fail", "require"]


class SignatureCheckError(Exception):
    """A PDF's signatures could not be read at all (the file is not a readable PDF)."""


def check_signatures(
    pdf: bytes,
    *,
    trust_roots: Iterable[asn1_x509.Certificate],
    crls: Iterable[asn1_crl.CertificateList] = (),
    other_certs: Iterable[asn1_x509.Certificate] = (),
    at: datetime | None = None,
    revocation_mode: RevocationMode = "hard-fail",
) -> list[SignatureCheck]:
    """Validate every approval signature of `pdf` (offline), in document order."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    roots, revinfo, extra = list(trust_roots), list(crls), list(other_certs)

    def context(moment: datetime, *, retroactive: bool) -> ValidationContext:
        return ValidationContext(
            trust_roots=roots, other_certs=extra, crls=revinfo, allow_fetching=False,
            revocation_mode=revocation_mode, moment=moment, best_signature_time=moment,
            retroactive_revinfo=retroactive)

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = [s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"]
    except (PdfReadError, ValueError, KeyError, TypeError) as e:
        raise SignatureCheckError(str(e)) from e
    checks = []
    for sig in sorted(signatures, key=lambda s: s.signed_revision):
        claimed = claimed_timestamp(sig)
        status = None
        if claimed is not None:
            status = _validate(sig, context(claimed, retroactive=True), context(at, retroactive=False))
            tst = status.timestamp_validity if status is not None else None
            if tst is None or not (tst.intact and tst.valid and tst.trusted):
                status = None  # the time is not proven: judge the signature as of `at`
        if status is None:
            status = _validate(sig, context(at, retroactive=False), context(at, retroactive=False))
        checks.append(summarise(sig, status))
    return checks


def _validate(sig: EmbeddedPdfSignature, signer_context: ValidationContext,
              ts_context: ValidationContext) -> PdfSignatureStatus:
    try:
        return validate_pdf_signature(sig, signer_validation_context=signer_context,
                                      ts_validation_context=ts_context)
    except (SignatureValidationError, PdfReadError, ValueError) as e:
        raise SignatureCheckError(f"signature {sig.field_name!r}: {e}") from e
