"""PAdES B-T signatures in existing empty fields: one-shot signers, the school seal, timestamps.

Every signature is an approval signature (never certification: DocMDP P=1 would forbid the
later parties' signatures) with subfilter ETSI.CAdES.detached and an RFC 3161 signature
timestamp, appended as one incremental update; the bytes before it are never rewritten.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign import general
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from docservice.domain import BRUSSELS
from docservice.signing.certificates import OneShotKey, SignerIdentity, issue_one_shot_certificate
from docservice.signing.errors import (
    SealUnavailable,
    SignatureFieldError,
    SigningConfigurationError,
    SigningError,
    TimestampUnavailable,
)
from docservice.signing.keys import ParsedKeySigner
from docservice.signing.pki import Pki

ROLE_LABELS = {"student": "student", "company": "stagebedrijf", "school": "hogeschool"}
SOFTHSM2_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
DIGEST = "sha256"
T = TypeVar("T")
_OVERFLOW = "Final ByteRange payload larger than expected"


@dataclass(frozen=True)
class SealSettings:
    """Where the school's seal key is: a PKCS#12 file (default) or a PKCS#11 token."""

    kind: Literal["pkcs12", "pkcs11"] = "pkcs12"
    p12_path: Path | None = None  # None: the PKI folder's seal.p12
    # None: read p12_password_file, else the PKI's seal.p12.password
    p12_password: str | None = field(default=None, repr=False)
    p12_password_file: Path | None = None
    pkcs11_module: Path | None = None
    pkcs11_token_label: str | None = None
    pkcs11_key_label: str | None = None
    pkcs11_cert_label: str | None = None  # None: same as the key label
    pkcs11_pin: str | None = field(default=None, repr=False)
    # CA certificates (PEM) to embed with an HSM seal; None: the PKI's root, if it issued it
    pkcs11_chain_file: Path | None = None


@dataclass(frozen=True)
class SigningSettings:
    """How signatures are made: which TSA and which seal; trust roots for validation."""

    tsa_url: str | None = None  # None: the dev PKI's in-process TSA
    tsa_username: str | None = None
    tsa_password: str | None = field(default=None, repr=False)
    tsa_timeout: float = 10.0
    seal: SealSettings = SealSettings()
    trust_roots_file: Path | None = None  # PEM bundle; None: the PKI's own root only


def require_production_signing(settings: SigningSettings) -> None:
    """Refuse production settings that lack the TSA, the HSM seal or the trust roots."""
    missing = []
    if not settings.tsa_url:
        missing.append("TSA URL (an external RFC 3161 timestamp authority)")
    seal = settings.seal
    if seal.kind != "pkcs11":
        missing.append("seal in an HSM (seal kind must be pkcs11, not a PKCS#12 file)")
    if not seal.pkcs11_module:
        missing.append("seal PKCS#11 module (path of the HSM's library)")
    elif not seal.pkcs11_module.is_file():
        missing.append(f"seal PKCS#11 module {seal.pkcs11_module} (no such file)")
    if not seal.pkcs11_token_label:
        missing.append("seal PKCS#11 token label")
    if not seal.pkcs11_key_label:
        missing.append("seal PKCS#11 key label")
    if not seal.pkcs11_pin:
        missing.append("seal PKCS#11 PIN")
    if not settings.trust_roots_file:
        missing.append("trust roots (a PEM file of the roots signatures must chain to)")
    elif not settings.trust_roots_file.is_file():
        missing.append(f"trust roots file {settings.trust_roots_file} (no such file)")
    if missing:
        raise SigningConfigurationError(missing)


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


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on a private event loop."""
    # Not asyncio.run: in the main thread it installs a SIGINT handler and, restoring it,
    # builds the repr of the finished task, result included; for an asn1crypto result that
    # repr re-serialises the whole structure (~20 ms for a CMS object).
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


class DevTimeStamper(TimeStamper):
    """The dev PKI's in-process RFC 3161 TSA (what pyhanko's DummyTimeStamper does, faster).

    The RSA key stays parsed and the constant parts (TSA name, certificate, ESS attribute,
    signer id) are encoded once: asn1crypto re-encodes a structure built from Python values
    at every dump, which made DummyTimeStamper cost ~10 ms per token.
    """

    POLICY = "1.3.6.1.4.1.4146.2.2"  # any policy will do for a development TSA

    def __init__(self, pki: Pki) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyhanko leaves it untyped
        if pki.tsa is None:
            raise SigningError(f"the PKI in {pki.folder} has no timestamp authority key")
        cert = pki.tsa.certificate
        self.tsa_cert = cert
        self._key = pki.tsa.key
        self._tsa_name = asn1_x509.GeneralName(name="directory_name", value=cert.subject).dump()
        self._ess = simple_cms_attribute(
            "signing_certificate_v2", general.as_signing_certificate_v2(cert)).dump()
        self._sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}).dump()
        self._cert_der = cert.dump()

    def request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Answer one RFC 3161 request with a granted response (certReq is always honoured)."""
        md_algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].native
        now = datetime.now(UTC)
        tst_info = tsp.TSTInfo({
            "version": "v1",
            "policy": self.POLICY,
            "message_imprint": tsp.MessageImprint.load(req["message_imprint"].dump()),
            "serial_number": int.from_bytes(os.urandom(16), "big"),
            "gen_time": now,
            "tsa": asn1_x509.GeneralName.load(self._tsa_name),
            **({"nonce": req["nonce"].native} if req["nonce"].native is not None else {}),
        }).dump()
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info)
        signed_attrs = cms.CMSAttributes.load(cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": now})),
            cms.CMSAttribute.load(self._ess),
            simple_cms_attribute("message_digest", digest.finalize()),
        ]).dump())
        signature = self._key.sign(signed_attrs.dump(), padding.PKCS1v15(),
                                   get_pyca_cryptography_hash(md_algorithm))
        digest_algorithm = {"algorithm": md_algorithm}
        token = cms.ContentInfo({
            "content_type": "signed_data",
            "content": cms.SignedData({
                "version": "v3",
                "digest_algorithms": [digest_algorithm],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": cms.ParsableOctetString(tst_info),
                },
                "certificates": [asn1_x509.Certificate.load(self._cert_der)],
                "signer_infos": [cms.SignerInfo({
                    "version": "v1",
                    "sid": cms.SignerIdentifier.load(self._sid),
                    "digest_algorithm": digest_algorithm,
                    "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
                    "signed_attrs": signed_attrs,
                    "signature": signature,
                })],
            }),
        })
        response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        # Re-loaded so that later dumps (the token is embedded, then dumped again) are free.
        return tsp.TimeStampResp.load(response.dump())

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.request_tsa_response(req)


def make_timestamper(pki: Pki, settings: SigningSettings) -> TimeStamper:
    """The external HTTP TSA when `settings.tsa_url` is set, else the PKI's in-process one."""
    if settings.tsa_url:
        auth = None
        if settings.tsa_username is not None:
            auth = (settings.tsa_username, settings.tsa_password or "")
        return HTTPTimeStamper(settings.tsa_url, timeout=settings.tsa_timeout, auth=auth)
    return DevTimeStamper(pki)


class SchoolSeal:
    """The school's seal key, opened once: parsed from PKCS#12, or a PKCS#11 session kept open."""

    def __init__(self, pki: Pki, settings: SealSettings) -> None:
        self._pki = pki
        self._settings = settings
        self._lock = threading.RLock()
        self._signer: Signer | None = None
        self._session: Any = None

    @property
    def where(self) -> str:
        """A human description of where the key is (for errors and logs)."""
        s = self._settings
        if s.kind == "pkcs11":
            return f"PKCS#11 token {s.pkcs11_token_label!r} of {s.pkcs11_module}"
        return str(s.p12_path or (self._pki.seal.p12_path if self._pki.seal else "(no seal.p12)"))

    def signer(self) -> Signer:
        """The CMS signer for the seal, opening the key on first use."""
        with self._lock:
            return self._open()

    @contextmanager
    def in_use(self) -> Iterator[Signer]:
        """The seal's signer, held exclusively: a PKCS#11 session serves one thread at a time."""
        with self._lock:
            yield self._open()

    def _open(self) -> Signer:
        if self._signer is None:
            self._signer = (self._open_pkcs11() if self._settings.kind == "pkcs11"
                            else self._open_pkcs12())
        return self._signer

    def close(self) -> None:
        """Close the PKCS#11 session, if any; the next use opens a new one."""
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = None
            self._signer = None

    def _open_pkcs12(self) -> Signer:
        s = self._settings
        dev = self._pki.seal
        path = s.p12_path or (dev.p12_path if dev else None)
        if path is None:
            raise SealUnavailable(self.where, "no PKCS#12 file configured")
        try:
            if s.p12_password is not None:
                password = s.p12_password
            elif s.p12_password_file is not None:
                password = s.p12_password_file.read_text(encoding="utf-8").strip()
            elif dev is not None:
                password = dev.p12_password()
            else:
                raise SealUnavailable(self.where, "no PKCS#12 password configured")
            key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(),
                                                                 password.encode())
        except (OSError, ValueError) as e:
            raise SealUnavailable(self.where, f"cannot open: {e}") from e
        if cert is None or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SealUnavailable(self.where, "the file lacks an EC or RSA key with its certificate")
        der = [c.public_bytes(serialization.Encoding.DER) for c in (cert, *extra)]
        certs = [asn1_x509.Certificate.load(d) for d in der]
        return ParsedKeySigner(key, certs[0], certs[1:])

    def _open_pkcs11(self) -> Signer:
        from pkcs11 import PKCS11Error, UserAlreadyLoggedIn
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

        s = self._settings
        if not (s.pkcs11_module and s.pkcs11_token_label and s.pkcs11_key_label):
            raise SealUnavailable(self.where, "module, token label and key label are all needed")
        chain = self._pkcs11_chain()
        criteria = TokenCriteria(label=s.pkcs11_token_label)
        try:
            try:
                session = open_pkcs11_session(str(s.pkcs11_module), token_criteria=criteria,
                                              user_pin=s.pkcs11_pin)
            except UserAlreadyLoggedIn:
                # PKCS#11 logs in per application: another session of this process already did.
                session = open_pkcs11_session(str(s.pkcs11_module), token_criteria=criteria)
        except (PKCS11Error, PyhankoSigningError, OSError, RuntimeError) as e:
            raise SealUnavailable(self.where, f"cannot open a session: {e!r}") from e
        signer = PKCS11Signer(
            session, key_label=s.pkcs11_key_label,
            cert_label=s.pkcs11_cert_label or s.pkcs11_key_label,
            ca_chain=chain,
        )
        try:
            cert = signer.signing_cert
        except (PKCS11Error, PyhankoSigningError) as e:
            session.close()
            raise SealUnavailable(self.where, f"key or certificate not found: {e}") from e
        # SoftHSM2 (and many HSMs) offer ECDSA only as the raw mechanism on a digest.
        signer.use_raw_mechanism = cert.public_key.algorithm == "ec"
        if s.pkcs11_chain_file is None and cert.issuer != self._pki.root.subject:
            session.close()
            raise SealUnavailable(self.where, "the seal is not issued by the PKI's root: "
                                  "name its CA certificates in the PKCS#11 chain file")
        self._session = session
        return signer

    def _pkcs11_chain(self) -> list[asn1_x509.Certificate]:
        chain_file = self._settings.pkcs11_chain_file
        if chain_file is None:
            return [self._pki.root]
        try:
            pems = x509.load_pem_x509_certificates(chain_file.read_bytes())
        except (OSError, ValueError) as e:
            raise SealUnavailable(self.where, f"cannot read the chain file {chain_file}: {e}") from e
        return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in pems]


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


def import_seal_into_softhsm(
    pki: Pki,
    *,
    token_label: str,
    pin: str,
    so_pin: str,
    softhsm_conf_dir: Path,
    key_label: str | None = None,
    module: Path = SOFTHSM2_MODULE,
) -> SealSettings:
    """Put the dev seal key and its certificate into a SoftHSM2 token below `softhsm_conf_dir`.

    Creates `softhsm2.conf`, the token folder and the token when missing, then imports the
    seal (once: `key_label` defaults to one derived from the seal certificate), so that several
    PKIs can share one token. Changes nothing global. SoftHSM2 reads its configuration once
    per process and sees only the tokens that existed then (objects added later are seen):
    set SOFTHSM2_CONF=<dir>/softhsm2.conf in the signing process before it first opens the
    module. Returns the seal settings that open the key.
    """
    if pki.seal is None:
        raise SealUnavailable(str(pki.folder), "the PKI has no seal key to import")
    seal = pki.seal.certificate
    key_label = key_label or f"seal-{seal.sha256.hex()[:12]}"
    key_id = seal.sha256.hex()[:8]
    tokens = softhsm_conf_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = softhsm_conf_dir / "softhsm2.conf"
    if not conf.exists():
        conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                        "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
    env = {"SOFTHSM2_CONF": str(conf), "PATH": "/usr/bin:/bin"}
    where = f"SoftHSM2 token {token_label!r}"
    try:
        slots = subprocess.run(["softhsm2-util", "--show-slots"], env=env, check=True,
                               capture_output=True, text=True).stdout
        if not any(line.split(":", 1)[-1].strip() == token_label
                   for line in slots.splitlines() if line.strip().startswith("Label:")):
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token_label,
                            "--pin", pin, "--so-pin", so_pin],
                           env=env, check=True, capture_output=True, text=True)
        certs = [seal]
        if _pkcs11_child(module, env, token_label, pin, key_label, key_id, certs,
                         store=False) == "absent":
            subprocess.run(["softhsm2-util", "--import", str(pki.seal.key_path), "--token",
                            token_label, "--label", key_label, "--id", key_id, "--pin", pin],
                           env=env, check=True, capture_output=True, text=True)
            _pkcs11_child(module, env, token_label, pin, key_label, key_id, certs, store=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise SealUnavailable(where, f"import failed: {detail}") from e
    return SealSettings(kind="pkcs11", pkcs11_module=module, pkcs11_token_label=token_label,
                        pkcs11_key_label=key_label, pkcs11_pin=pin)


_PKCS11_CHILD = """
import json, sys
import pkcs11
from pkcs11 import Attribute, CertificateType, ObjectClass
job = json.load(sys.stdin)
token = pkcs11.lib(job["module"]).get_token(token_label=job["token"])
with token.open(rw=True, user_pin=job["pin"]) as session:
    found = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                      Attribute.LABEL: job["certs"][0]["label"]}))
    if not job["store"]:
        print("present" if found else "absent")
        sys.exit(0)
    for cert in job["certs"]:
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: cert["label"],
            Attribute.ID: bytes.fromhex(cert["id"]),
            Attribute.SUBJECT: bytes.fromhex(cert["subject"]),
            Attribute.ISSUER: bytes.fromhex(cert["issuer"]),
            Attribute.SERIAL_NUMBER: bytes.fromhex(cert["serial"]),
            Attribute.VALUE: bytes.fromhex(cert["der"]),
        })
"""


def _pkcs11_child(module: Path, env: dict[str, str], token_label: str, pin: str,
                  key_label: str, key_id: str, certs: list[asn1_x509.Certificate], *,
                  store: bool) -> str:
    """Look for (store=False) or store the seal certificate in the token (as `key_label`)."""
    # In a child process: SoftHSM2 reads SOFTHSM2_CONF once, when a process first loads it,
    # and python-pkcs11 never unloads it; this process must stay free to choose its own conf.
    job = {
        "module": str(module), "token": token_label, "pin": pin, "store": store,
        "certs": [{
            "label": key_label if index == 0 else f"{key_label}-chain-{index}",
            "id": key_id if index == 0 else f"{key_id}{index:02x}",
            "subject": cert.subject.dump().hex(),
            "issuer": cert.issuer.dump().hex(),
            "serial": cert["tbs_certificate"]["serial_number"].dump().hex(),
            "der": cert.dump().hex(),
        } for index, cert in enumerate(certs)],
    }
    return subprocess.run([sys.executable, "-c", _PKCS11_CHILD], input=json.dumps(job),
                          env=env, check=True, capture_output=True, text=True).stdout.strip()
