"""What pyhanko's status says about one signature, summarised: who signed (from the
certificate), whether it is intact, valid, trusted and timestamped, and what came after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus

ACCEPTABLE_MODIFICATIONS = ("NONE", "LTA_UPDATES", "FORM_FILLING")


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one signature of a PDF and who made it, from its certificate."""

    field_name: str
    revision_index: int  # the revision (0-based) the signature closes
    signer_name: str | None
    signer_email: str | None
    signer_role: str | None  # the certificate subject's title (one-shot certificates: the role)
    signer_organisation: str | None
    certificate_subject: str
    certificate_sha256: str
    signing_time: datetime | None  # claimed by the signer (/M), not proven
    timestamp_time: datetime | None  # proven by a valid, trusted RFC 3161 signature timestamp
    intact: bool  # the signed bytes are unchanged
    valid: bool  # the cryptographic signature is correct
    trusted: bool  # the certificate chains to a trust root, usable and not revoked
    revoked: bool
    timestamped: bool
    coverage: str  # SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, ...
    modification_level: str  # ModificationLevel name of what came after: NONE, FORM_FILLING, ...
    docmdp_ok: bool
    bottom_line: bool  # pyhanko's overall verdict; see `ok` for ours
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted, timestamped, and later revisions only add signatures/form data."""
        return (self.intact and self.valid and self.trusted and self.timestamped
                and self.docmdp_ok and self.modification_level in ACCEPTABLE_MODIFICATIONS)


def claimed_timestamp(sig: EmbeddedPdfSignature) -> datetime | None:
    """The time in the signature's RFC 3161 token, before anything about it is checked."""
    attrs = sig.signer_info["unsigned_attrs"]
    if isinstance(attrs, core.Void):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token = attr["values"][0]
            tst_info = token["content"]["encap_content_info"]["content"].parsed
            gen_time: datetime = tst_info["gen_time"].native
            return gen_time
    return None


def summarise(sig: EmbeddedPdfSignature, status: PdfSignatureStatus) -> SignatureCheck:
    """Who made the signature (from its certificate) and what pyhanko found, in one value."""
    cert = status.signing_cert
    subject = cert.subject.native
    tst = status.timestamp_validity
    timestamped = tst is not None and tst.intact and tst.valid and tst.trusted
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed")
    elif not status.valid:
        problems.append("the signature value does not match")
    if status.revoked:
        problems.append("the certificate is revoked")
    elif not status.trusted:
        reason = status.trust_problem_indic
        problems.append("the certificate is not trusted"
                        + (f" ({reason.standard_name})" if reason is not None else ""))
    if tst is None:
        problems.append("no signature timestamp")
    elif not timestamped:
        problems.append("the signature timestamp is not valid or not trusted")
    level = status.modification_level.name if status.modification_level is not None else "OTHER"
    if level not in ACCEPTABLE_MODIFICATIONS:
        problems.append(f"later revisions change more than form fields ({level})")
    if not status.docmdp_ok:
        problems.append("later revisions break the document's modification policy")
    return SignatureCheck(
        field_name=str(sig.field_name),
        revision_index=sig.signed_revision,
        signer_name=_first(subject.get("common_name")),
        signer_email=_email(cert),
        signer_role=_first(subject.get("title")),
        signer_organisation=_first(subject.get("organization_name")),
        certificate_subject=cert.subject.human_friendly,
        certificate_sha256=cert.sha256.hex(),
        signing_time=status.signer_reported_dt,
        timestamp_time=tst.timestamp if timestamped and tst is not None else None,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        revoked=status.revoked,
        timestamped=timestamped,
        coverage=status.coverage.name if status.coverage is not None else "UNKNOWN",
        modification_level=level,
        docmdp_ok=bool(status.docmdp_ok),
        bottom_line=status.bottom_line,
        problems=tuple(problems),
    )


def _first(value: object) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return None if value is None else str(value)


def _email(cert: asn1_x509.Certificate) -> str | None:
    san = cert.subject_alt_name_value
    if san is not None:
        for name in san:
            if name.name == "rfc822_name":
                return str(name.native)
    return _first(cert.subject.native.get("email_address"))
