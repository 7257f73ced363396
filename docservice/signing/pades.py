"""PAdES B-T signatures in existing empty fields: one-shot signers, the school seal, timestamps.

Every signature is an approval signature (never certification: DocMDP P=1 would forbid the
later parties' signatures) with subfilter ETSI.CAdES.detached and an RFC 3161 signature
timestamp, appended as one incremental update; the bytes before it are never rewritten.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle

from docservice.config import SigningSettings
from docservice.domain import BRUSSELS
from docservice.errors import SigningConfigurationError
from docservice.signing.certificates import OneShotKey, SignerIdentity, issue_one_shot_certificate
from docservice.signing.errors import (
    SealUnavailable,
    SignatureFieldError,
    SigningError,
    TimestampUnavailable,
)
from docservice.signing.pki import Pki
from docservice.signing.seal import SchoolSeal
from docservice.signing.timestamps import make_timestamper, run_async

ROLE_LABELS = {"student": "student", "company": "stagebedrijf", "school": "hogeschool"}
DIGEST = "sha256"
_OVERFLOW = "Final ByteRange payload larger than expected"


def load_trust_roots(pki: Pki, settings: SigningSettings) -> tuple[asn1_x509.Certificate, ...]:
    """The PKI's root plus those of `settings.trust_roots_file`."""
    return tuple(dict.fromkeys(pki.trust_roots + configured_trust_roots(settings)))


def configured_trust_roots(settings: SigningSettings) -> tuple[asn1_x509.Certificate, ...]:
    """The certificates of `settings.trust_roots_file` (none when it is not set)."""
    if settings.trust_roots_file is None:
        return ()
    try:
        pems = x509.load_pem_x509_certificates(settings.trust_roots_file.read_bytes())
    except (OSError, ValueError) as e:
        raise SigningConfigurationError([f"readable trust roots file ({e})"]) from e
    return tuple(asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                 for c in pems)


@dataclass(frozen=True)
class StampText:
    """What the visible stamp in the field says, besides the date and time."""

    name: str
    role_label: str
    heading: str = "Digitaal ondertekend door"
    note: str | None = None

    @classmethod
    def for_identity(cls, identity: SignerIdentity) -> StampText:
        """The stamp of a person signing in a role (Dutch role label)."""
        return cls(name=identity.full_name, role_label=ROLE_LABELS.get(identity.role, identity.role))


#: Lines 1.25 times the font size apart: at pyhanko's default (the font size) they touch.
STAMP_TEXT_BOX = TextBoxStyle(font_size=9, leading=11)
STAMP_STYLE = TextStampStyle(
    stamp_text="%(heading)s\n%(name)s\n%(role)s\n%(when)s",
    border_width=1,
    text_box_style=STAMP_TEXT_BOX,
)
STAMP_STYLE_WITH_NOTE = TextStampStyle(
    stamp_text="%(heading)s\n%(name)s\n%(role)s\n%(note)s\n%(when)s",
    border_width=1,
    text_box_style=STAMP_TEXT_BOX,
)

_TRANSLITERATION = str.maketrans({
    "–": "-", "—": "-", "‐": "-", "‑": "-", "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"',
    "„": '"', "…": "...", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i", "œ": "oe",
    "Œ": "OE", "ħ": "h", "Ħ": "H", "ŀ": "l", "Ŀ": "L", "\u00a0": " ", "\u00ad": "",
})


def stamp_safe(text: str) -> str:
    """`text` in the characters the stamp's standard font shows (Latin-1); others approximated.

    The stamp uses the PDF standard font Courier (WinAnsi), which costs nothing per signature;
    the certificate, not the stamp, carries the exact name.
    """
    out = []
    for char in text.translate(_TRANSLITERATION):
        if " " <= char <= "~" or "\u00a1" <= char <= "\u00ff":
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char)
                       if " " <= c <= "~" or "\u00a1" <= c <= "\u00ff")
        out.append(base or "?")
    return "".join(out)


@dataclass(frozen=True)
class SignedVisit:
    """The documents a signer signed in one visit, and the one-shot certificate that signed them."""

    pdfs: tuple[bytes, ...]
    certificate_der: bytes
    serial_number: int


class PadesSigner:
    """Makes PAdES B-T approval signatures; build one per process from (Pki, SigningSettings)."""

    def __init__(self, pki: Pki, settings: SigningSettings | None = None) -> None:
        self.pki = pki
        self.settings = settings or SigningSettings()
        self.timestamper = make_timestamper(pki, self.settings)
        self.seal = SchoolSeal(pki, self.settings.seal)
        self._tst_size: int | None = None
        self._tst_lock = threading.Lock()

    def close(self) -> None:
        """Release the seal's PKCS#11 session."""
        self.seal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sign_field(
        self,
        pdf: bytes,
        *,
        field_name: str,
        signer: OneShotKey | Signer,
        stamp: StampText,
        signing_time: datetime | None = None,
    ) -> bytes:
        """`pdf` plus one incremental update: a PAdES B-T signature in the empty field `field_name`.

        `signer` is a one-shot key, the seal's signer, or any pyhanko Signer; `signing_time`
        (default now) is shown on the stamp in Brussels time and claimed in /M.
        """
        cms_signer = signer.cms_signer() if isinstance(signer, OneShotKey) else signer
        when = (signing_time or datetime.now(UTC)).astimezone(BRUSSELS)
        tsa = self.settings.tsa_url or "in-process"
        try:
            reserved = self._bytes_reserved(cms_signer)
            for _ in range(3):
                try:
                    signed = run_async(
                        self._sign(pdf, field_name, cms_signer, stamp, when, reserved))
                except PyhankoSigningError as e:
                    if _OVERFLOW not in str(e):
                        raise SigningError(f"signing field {field_name!r} failed: {e}") from e
                    reserved *= 2  # an unusually large timestamp token: retry with more room
                    continue
                if not signed.startswith(pdf):
                    raise SigningError("the signed PDF does not extend the original bytes")
                return signed
        except TimestampRequestError as e:
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            raise TimestampUnavailable(tsa, f"{e}{cause}") from e
        except (PdfError, OSError) as e:
            raise SigningError(f"signing field {field_name!r} failed: {e}") from e
        raise SigningError(f"the signature does not fit in {reserved} bytes")

    def sign_as(
        self,
        identity: SignerIdentity,
        documents: Sequence[tuple[bytes, str]],
        *,
        stamp: StampText | None = None,
        signing_time: datetime | None = None,
    ) -> SignedVisit:
        """Sign each (pdf, field name) with ONE fresh one-shot certificate, then discard its key.

        `signing_time` (e.g. when the signer consented) goes on the stamps and in /M; the
        certificate is issued now, as it must be valid at the time the timestamps prove.
        """
        when = signing_time or datetime.now(UTC)
        stamp = stamp or StampText.for_identity(identity)
        with issue_one_shot_certificate(self.pki, identity) as key:
            pdfs = tuple(self.sign_field(pdf, field_name=name, signer=key, stamp=stamp,
                                         signing_time=when) for pdf, name in documents)
            return SignedVisit(pdfs, key.certificate.dump(), key.certificate.serial_number)

    def seal_documents(
        self,
        documents: Sequence[tuple[bytes, str]],
        *,
        approved_by: str | None = None,
        signing_time: datetime | None = None,
    ) -> tuple[bytes, ...]:
        """Apply the school's seal to each (pdf, field name); `approved_by` goes on the stamp:
        the school's signatory as the agreement prints it."""
        from pkcs11 import PKCS11Error

        with self.seal.in_use() as signer:
            cert = signer.signing_cert
            organisation = (cert.subject.native.get("organization_name", "hogeschool")
                            if cert is not None else "hogeschool")
            stamp = StampText(
                name=organisation, role_label=ROLE_LABELS["school"],
                heading="Elektronisch zegel van",
                note=f"goedgekeurd door {approved_by}" if approved_by else None)
            try:
                return tuple(self.sign_field(pdf, field_name=name, signer=signer, stamp=stamp,
                                             signing_time=signing_time)
                             for pdf, name in documents)
            except PKCS11Error as e:
                self.seal.close()  # a broken session is reopened on the next use
                raise SealUnavailable(self.seal.where, f"signing failed: {e!r}") from e

    async def _sign(self, pdf: bytes, field_name: str, cms_signer: Signer, stamp: StampText,
                    when: datetime, reserved: int) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        _require_empty_field(writer, field_name)
        pdf_signer = PdfSigner(
            PdfSignatureMetadata(field_name=field_name, md_algorithm=DIGEST,
                                 subfilter=pdf_fields.SigSeedSubFilter.PADES, certify=False),
            signer=cms_signer,
            timestamper=self.timestamper,
            stamp_style=STAMP_STYLE_WITH_NOTE if stamp.note else STAMP_STYLE,
        )
        session = pdf_signer.init_signing_session(writer, existing_fields_only=True)
        session.system_time = when
        tbs = session.prepare_tbs_document(
            validation_info=None,
            bytes_reserved=reserved,
            appearance_text_params={
                "heading": stamp_safe(stamp.heading),
                "name": stamp_safe(stamp.name),
                "role": stamp_safe(stamp.role_label),
                "note": stamp_safe(stamp.note or ""),
                "when": f"{when:%d/%m/%Y %H:%M}",
            },
        )
        output = io.BytesIO()
        prepared, _ = tbs.digest_tbs_document(output=output)
        post = await tbs.perform_signature(
            document_digest=prepared.document_digest,
            pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=when),
        )
        await post.post_signature_processing(output)
        return output.getvalue()

    async def _dummy_token_size(self) -> int:
        return len((await self.timestamper.async_dummy_response(DIGEST)).dump())

    def add_document_timestamp(self, pdf: bytes) -> bytes:
        """`pdf` plus one incremental update holding an RFC 3161 document timestamp.

        It proves that everything before it existed at that time: a signature made elsewhere
        without a signature timestamp reaches PAdES B-T this way.
        """
        async def stamp() -> bytes:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            output = io.BytesIO()
            await PdfTimeStamper(self.timestamper).async_timestamp_pdf(
                writer, DIGEST, in_place=False, output=output)
            return output.getvalue()

        try:
            stamped = run_async(stamp())
        except TimestampRequestError as e:
            raise TimestampUnavailable(self.settings.tsa_url or "in-process", str(e)) from e
        except (PdfError, PyhankoSigningError, OSError) as e:
            raise SigningError(f"adding a document timestamp failed: {e}") from e
        if not stamped.startswith(pdf):
            raise SigningError("the timestamped PDF does not extend the original bytes")
        return stamped

    def _bytes_reserved(self, cms_signer: Signer) -> int:
        """Room for the CMS object (hex, so twice its size), without a trial signature."""
        with self._tst_lock:
            if self._tst_size is None:
                # One real timestamp per process, to learn how large this TSA's tokens are.
                self._tst_size = run_async(self._dummy_token_size())
            tst_size = self._tst_size
        cert = cms_signer.signing_cert
        certs = {c.dump() for c in cms_signer.cert_registry}
        if cert is not None:
            certs.add(cert.dump())
        key_bytes = 512 if cert is None else max(cert.public_key.byte_size * 2 + 16, 80)
        size = sum(len(c) for c in certs) + key_bytes + tst_size * 5 // 4 + 1500
        return 2 * size


def _require_empty_field(writer: IncrementalPdfFileWriter, field_name: str) -> None:
    for name, value, _ref in pdf_fields.enumerate_sig_fields(writer.prev, with_name=field_name):
        if name == field_name:
            if value is not None:
                raise SignatureFieldError(field_name, "is already signed")
            return
    raise SignatureFieldError(field_name, "does not exist in this PDF")

