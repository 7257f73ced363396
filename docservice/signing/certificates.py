"""One-shot certificates: a fresh key and a short-lived certificate per signer visit, never stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import NoReturn, Self

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docservice.domain import SIGNER_ROLES
from docservice.signing.errors import KeyDiscarded, SigningError
from docservice.signing.keys import ParsedKeySigner
from docservice.signing.pki import (
    BACKDATE,
    DEV_CRL_BASE_URL,
    SIGNER_CA_CRL,
    Pki,
    crl_distribution_points,
    to_asn1,
)

#: Long enough to sign all documents of a visit; the timestamp proves the signature was made
#: while the certificate was valid, so it can be checked long after it expired.
ONE_SHOT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class SignerIdentity:
    """Who signs: what goes into the subject of their one-shot certificate."""

    full_name: str
    email: str
    role: str  # "student" | "company" | "school"
    organisation: str
    country: str = "BE"


class OneShotKey:
    """A fresh private key and its certificate, in memory only; `discard()` (or `with`) drops the key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate,
                 chain: tuple[asn1_x509.Certificate, ...]) -> None:
        self._key: ec.EllipticCurvePrivateKey | None = key
        self._signer: ParsedKeySigner | None = None
        self.certificate_x509 = certificate
        self.certificate = to_asn1(certificate)
        self.chain = chain

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        """The private key; raises KeyDiscarded once discarded."""
        if self._key is None:
            raise KeyDiscarded(self.certificate.subject.human_friendly)
        return self._key

    @property
    def discarded(self) -> bool:
        """Whether the key was dropped."""
        return self._key is None

    def cms_signer(self) -> ParsedKeySigner:
        """The pyhanko signer over this key, built once for all documents of the visit."""
        if self._signer is None:
            self._signer = ParsedKeySigner(self.key, self.certificate, self.chain)
        return self._signer

    def discard(self) -> None:
        """Drop every reference this object holds to the private key."""
        if self._signer is not None:
            self._signer.forget_key()
        self._signer = None
        self._key = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()

    def __repr__(self) -> str:
        state = "discarded" if self._key is None else "live"
        return f"<OneShotKey {self.certificate.subject.human_friendly} ({state})>"

    def __reduce__(self) -> NoReturn:
        # Pickling is how a key would reach a job queue, a cache or a file: refuse it.
        raise TypeError("a one-shot key cannot be pickled: it must never leave memory")


def issue_one_shot_certificate(
    pki: Pki,
    identity: SignerIdentity,
    *,
    now: datetime | None = None,
    validity: timedelta = ONE_SHOT_VALIDITY,
) -> OneShotKey:
    """Generate a fresh EC P-256 key and a certificate from the signer CA naming `identity`."""
    if identity.role not in SIGNER_ROLES:
        raise SigningError(f"unknown signer role {identity.role!r}; expected one of {SIGNER_ROLES}")
    if not identity.full_name.strip() or not identity.email.strip():
        raise SigningError("a signer needs a name and an e-mail address")
    if len(identity.country) != 2 or not identity.country.isalpha():
        raise SigningError(f"country must be a two-letter ISO code, got {identity.country!r}")
    if not identity.organisation.strip():
        raise SigningError("a signer needs an organisation")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, identity.country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, identity.organisation),
        x509.NameAttribute(NameOID.TITLE, identity.role),
        x509.NameAttribute(NameOID.COMMON_NAME, identity.full_name.strip()),
    ])
    ca = pki.signer_ca_x509
    try:
        certificate = _build(pki, identity, subject, key, now=now, not_after=min(
            now + validity, ca.not_valid_after_utc))
    except ValueError as e:  # e.g. an e-mail address cryptography cannot encode
        raise SigningError(f"cannot issue a certificate for {identity.email!r}: {e}") from e
    return OneShotKey(key, certificate, (pki.signer_ca, pki.root))


def _build(pki: Pki, identity: SignerIdentity, subject: x509.Name,
           key: ec.EllipticCurvePrivateKey, *, now: datetime,
           not_after: datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.signer_ca_x509.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.RFC822Name(identity.email.strip())]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            pki.signer_ca_key.public_key()), critical=False)
        .add_extension(crl_distribution_points(DEV_CRL_BASE_URL + SIGNER_CA_CRL), critical=False)
        .sign(pki.signer_ca_key, hashes.SHA256())
    )
