"""Development PKI: creation, CRLs, and loading what signing and validation need.

A development PKI folder (``<checkout>/signatures/dev``, ignored by git) holds::

    README.md              what is here, for a person who opens the folder
    root-ca.pem            docservice Dev Root CA (self-signed, 20 years): the trust root
    root-ca.key.pem        its private key (PKCS#8 PEM, mode 0600)
    root-ca.crl            CRL of the root (DER): covers signer CA, TSA and seal
    signer-ca.pem          docservice Dev Signer CA (20 years): issues one-shot signer certificates
    signer-ca.key.pem      its private key (mode 0600), kept parsed in memory by `Pki.load`
    signer-ca.crl          CRL of the signer CA (DER): covers one-shot certificates
    tsa.pem                timestamp authority (RSA-2048, 5 years, critical EKU timeStamping)
    tsa.key.pem            its private key (mode 0600)
    seal.pem               the school's organisation seal (5 years)
    seal.key.pem           its private key (PKCS#8 PEM, mode 0600; imported into SoftHSM2 for tests)
    seal.p12               seal key + certificate + root as PKCS#12 (mode 0600)
    seal.p12.password      the PKCS#12 password, random (mode 0600)

Certificates below the root carry a CRL distribution point under `DEV_CRL_BASE_URL`, a
reserved `.invalid` name that never resolves: validators get the CRLs from this folder
(`Pki.crls`), never from the network, so revocation is checked for real, offline.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docservice.signing.errors import PkiError

DEV_CRL_BASE_URL = "http://crl.docservice.invalid/dev/"

ROOT_NAME = "docservice Dev Root CA"
SIGNER_CA_NAME = "docservice Dev Signer CA"
TSA_NAME = "docservice Dev Timestamp Authority"

ROOT_CERT, ROOT_KEY, ROOT_CRL = "root-ca.pem", "root-ca.key.pem", "root-ca.crl"
SIGNER_CA_CERT, SIGNER_CA_KEY, SIGNER_CA_CRL = "signer-ca.pem", "signer-ca.key.pem", "signer-ca.crl"
TSA_CERT, TSA_KEY = "tsa.pem", "tsa.key.pem"
SEAL_CERT, SEAL_KEY, SEAL_P12, SEAL_P12_PASSWORD = (
    "seal.pem", "seal.key.pem", "seal.p12", "seal.p12.password",
)
README = "README.md"

PRIVATE_FILES = (ROOT_KEY, SIGNER_CA_KEY, TSA_KEY, SEAL_KEY, SEAL_P12, SEAL_P12_PASSWORD)
PUBLIC_FILES = (ROOT_CERT, SIGNER_CA_CERT, TSA_CERT, SEAL_CERT, ROOT_CRL, SIGNER_CA_CRL)
ALL_FILES = (*PUBLIC_FILES, *PRIVATE_FILES, README)

CRL_VALIDITY = timedelta(days=7)
# Certificates start a little in the past so that a clock a few minutes behind still accepts them.
BACKDATE = timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class TsaMaterial:
    """The in-process timestamp authority: certificate and parsed RSA key."""

    certificate: asn1_x509.Certificate
    key: rsa.RSAPrivateKey = field(repr=False)


@dataclass(frozen=True)
class SealFiles:
    """Where the dev seal lives on disk: certificate, PKCS#8 key, PKCS#12 and its password file."""

    certificate: asn1_x509.Certificate
    key_path: Path
    p12_path: Path
    p12_password_path: Path

    def p12_password(self) -> str:
        """The PKCS#12 password, read from its file."""
        return self.p12_password_path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Pki:
    """Everything signing and validation need from a PKI folder, parsed once per process."""

    folder: Path
    root: asn1_x509.Certificate
    signer_ca: asn1_x509.Certificate
    signer_ca_x509: x509.Certificate = field(repr=False)
    signer_ca_key: ec.EllipticCurvePrivateKey = field(repr=False)
    tsa: TsaMaterial | None
    seal: SealFiles | None
    crls: tuple[asn1_crl.CertificateList, ...]

    @classmethod
    def load(cls, folder: Path) -> Pki:
        """Read and parse the PKI in `folder` (see the module docstring for its files).

        The root and the signer CA with its key are required; the TSA, the PKCS#12 seal and the
        CRLs are loaded when present (a production folder has no TSA key: it uses an external TSA).
        """
        missing = [name for name in (ROOT_CERT, SIGNER_CA_CERT, SIGNER_CA_KEY)
                   if not (folder / name).is_file()]
        if missing:
            raise PkiError(folder, "missing " + ", ".join(missing) + " (run `docservice pki init`)")
        for name in PRIVATE_FILES:
            path = folder / name
            if path.exists() and path.stat().st_mode & 0o077:
                raise PkiError(folder, f"{name} is readable by others; chmod 600 it")
        try:
            signer_ca_x509 = _read_cert(folder / SIGNER_CA_CERT)
            signer_ca_key = _read_key(folder / SIGNER_CA_KEY)
            tsa = None
            if (folder / TSA_CERT).is_file() and (folder / TSA_KEY).is_file():
                tsa_key = _read_key(folder / TSA_KEY)
                if not isinstance(tsa_key, rsa.RSAPrivateKey):
                    raise PkiError(folder, f"{TSA_KEY} is not an RSA key (the in-process TSA needs RSA)")
                tsa = TsaMaterial(to_asn1(_read_cert(folder / TSA_CERT)), tsa_key)
            seal = None
            if (folder / SEAL_CERT).is_file() and (folder / SEAL_P12).is_file():
                seal = SealFiles(
                    certificate=to_asn1(_read_cert(folder / SEAL_CERT)),
                    key_path=folder / SEAL_KEY,
                    p12_path=folder / SEAL_P12,
                    p12_password_path=folder / SEAL_P12_PASSWORD,
                )
            crls = tuple(
                asn1_crl.CertificateList.load((folder / name).read_bytes())
                for name in (ROOT_CRL, SIGNER_CA_CRL) if (folder / name).is_file()
            )
            root = to_asn1(_read_cert(folder / ROOT_CERT))
        except (ValueError, TypeError, OSError) as e:
            raise PkiError(folder, f"unreadable: {e}") from e
        if not isinstance(signer_ca_key, ec.EllipticCurvePrivateKey):
            raise PkiError(folder, f"{SIGNER_CA_KEY} is not an EC key")
        return cls(
            folder=folder,
            root=root,
            signer_ca=to_asn1(signer_ca_x509),
            signer_ca_x509=signer_ca_x509,
            signer_ca_key=signer_ca_key,
            tsa=tsa,
            seal=seal,
            crls=crls,
        )

    @property
    def trust_roots(self) -> tuple[asn1_x509.Certificate, ...]:
        """The certificates a validator of our signatures must trust."""
        return (self.root,)



def crls_expire_before(crls: Iterable[asn1_crl.CertificateList], moment: datetime) -> bool:
    """Whether any of `crls` has its next update before `moment` (then run `refresh_crls`)."""
    return any(c["tbs_cert_list"]["next_update"].native < moment for c in crls)


def load_public(folder: Path) -> tuple[tuple[asn1_x509.Certificate, ...],
                                       tuple[asn1_crl.CertificateList, ...]]:
    """The root and the CRLs of the PKI in `folder`, without touching its keys: what a
    verifier needs. ((), ()) when the folder holds no root certificate."""
    if not (folder / ROOT_CERT).is_file():
        return (), ()
    try:
        root = to_asn1(_read_cert(folder / ROOT_CERT))
        crls = tuple(asn1_crl.CertificateList.load((folder / name).read_bytes())
                     for name in (ROOT_CRL, SIGNER_CA_CRL) if (folder / name).is_file())
    except (ValueError, TypeError, OSError) as e:
        raise PkiError(folder, f"unreadable: {e}") from e
    return (root,), crls


def holds_pki(folder: Path) -> bool:
    """Whether `folder` holds a complete development PKI."""
    return all((folder / name).is_file() for name in ALL_FILES)


def init_dev_pki(
    folder: Path,
    *,
    organisation: str = "Thomas More",
    force: bool = False,
    now: datetime | None = None,
) -> None:
    """Create a development PKI in `folder`; a complete one is left alone unless `force`."""
    if holds_pki(folder) and not force:
        return
    present = [name for name in ALL_FILES if (folder / name).exists()]
    if present and not force:
        raise PkiError(folder, "incomplete PKI (" + ", ".join(present)
                       + " present); re-create it with force=True")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    for name in present:
        (folder / name).unlink()

    base = [x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([*base, x509.NameAttribute(NameOID.COMMON_NAME, ROOT_NAME)])
    root = _ca_certificate(root_name, root_key, root_name, root_key, now=now,
                           years=20, path_length=1, crl_url=None)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([*base, x509.NameAttribute(NameOID.COMMON_NAME, SIGNER_CA_NAME)])
    # The signer CA must outlive the archive's retention (10 years after an internship):
    # pyhanko cannot validate the past across an expired intermediate CA.
    signer_ca = _ca_certificate(ca_name, ca_key, root_name, root_key, now=now,
                                years=20, path_length=0, crl_url=DEV_CRL_BASE_URL + ROOT_CRL)

    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = (
        _leaf_builder(x509.Name([*base, x509.NameAttribute(NameOID.COMMON_NAME, TSA_NAME)]),
                      tsa_key, root, root_key, now=now, years=5, crl_url=DEV_CRL_BASE_URL + ROOT_CRL)
        .add_extension(_key_usage(digital_signature=True, content_commitment=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )

    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal_name = x509.Name([*base, x509.NameAttribute(
        NameOID.COMMON_NAME, f"{organisation} – organisatiezegel")])
    seal = (
        _leaf_builder(seal_name, seal_key, root, root_key, now=now, years=5,
                      crl_url=DEV_CRL_BASE_URL + ROOT_CRL)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    p12 = pkcs12.serialize_key_and_certificates(
        b"seal", seal_key, seal, [root],
        serialization.BestAvailableEncryption(password.encode()),
    )

    for name, cert in ((ROOT_CERT, root), (SIGNER_CA_CERT, signer_ca), (TSA_CERT, tsa),
                       (SEAL_CERT, seal)):
        _write_public(folder / name, cert.public_bytes(serialization.Encoding.PEM))
    for name, key in ((ROOT_KEY, root_key), (SIGNER_CA_KEY, ca_key), (TSA_KEY, tsa_key),
                      (SEAL_KEY, seal_key)):
        _write_private(folder / name, _pkcs8_pem(key))
    _write_private(folder / SEAL_P12, p12)
    _write_private(folder / SEAL_P12_PASSWORD, password.encode() + b"\n")
    _write_crl(folder / ROOT_CRL, root, root_key, now=now, revoked=(), number=1)
    _write_crl(folder / SIGNER_CA_CRL, signer_ca, ca_key, now=now, revoked=(), number=1)
    # Written last: its presence with the others marks a complete PKI.
    _write_public(folder / README, _readme(organisation, now).encode())


def refresh_crls(
    folder: Path,
    *,
    now: datetime | None = None,
    force: bool = False,
    revoke: Iterable[x509.Certificate | asn1_x509.Certificate] = (),
) -> bool:
    """Re-issue the two CRLs if they expire within a day (or `force`, or `revoke` is given).

    Entries already revoked stay revoked; certificates in `revoke` are added to the CRL of
    their issuer. Returns whether new CRLs were written.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    to_revoke = [c if isinstance(c, x509.Certificate) else
                 x509.load_der_x509_certificate(c.dump()) for c in revoke]
    pairs = ((ROOT_CERT, ROOT_KEY, ROOT_CRL), (SIGNER_CA_CERT, SIGNER_CA_KEY, SIGNER_CA_CRL))
    try:
        current = {crl_name: x509.load_der_x509_crl((folder / crl_name).read_bytes())
                   for _, _, crl_name in pairs}
    except (OSError, ValueError) as e:
        raise PkiError(folder, f"cannot read CRLs: {e}") from e
    stale = any(c.next_update_utc is None or c.next_update_utc - now < timedelta(days=1)
                for c in current.values())
    if not (stale or force or to_revoke):
        return False
    for cert_name, key_name, crl_name in pairs:
        ca = _read_cert(folder / cert_name)
        key = _read_key(folder / key_name)
        old = current[crl_name]
        revoked = [(entry.serial_number, entry.revocation_date_utc) for entry in old]
        known = {serial for serial, _ in revoked}
        revoked += [(c.serial_number, now) for c in to_revoke
                    if c.issuer == ca.subject and c.serial_number not in known]
        number_ext = old.extensions.get_extension_for_class(x509.CRLNumber)
        _write_crl(folder / crl_name, ca, key, now=now, revoked=revoked,
                   number=number_ext.value.crl_number + 1)
    return True


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto form of a `cryptography` certificate (what pyhanko works with)."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _read_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(path.parent, f"{path.name}: unsupported key type {type(key).__name__}")
    return key


def _pkcs8_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    # Created with its final mode: there is no moment at which the key is readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_usage(*, digital_signature: bool, content_commitment: bool,
               ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=content_commitment,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


def _validity(now: datetime, years: int) -> tuple[datetime, datetime]:
    return now - BACKDATE, now + timedelta(days=365 * years + years // 4)


def _ca_certificate(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                    issuer_key: ec.EllipticCurvePrivateKey, *, now: datetime, years: int,
                    path_length: int, crl_url: str | None) -> x509.Certificate:
    start, end = _validity(now, years)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=False, content_commitment=False, ca=True),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if crl_url is not None:
        builder = builder.add_extension(crl_distribution_points(crl_url), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_builder(subject: x509.Name, key: PrivateKey, issuer: x509.Certificate,
                  issuer_key: ec.EllipticCurvePrivateKey, *, now: datetime, years: int,
                  crl_url: str) -> x509.CertificateBuilder:
    start, end = _validity(now, years)
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
        .add_extension(crl_distribution_points(crl_url), critical=False)
    )


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    """A CRL distribution point extension naming one URL."""
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None,
        reasons=None, crl_issuer=None)])


def _write_crl(path: Path, issuer: x509.Certificate, key: PrivateKey, *, now: datetime,
               revoked: Iterable[tuple[int, datetime]], number: int) -> None:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - BACKDATE)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            key.public_key()), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    crl = builder.sign(key, hashes.SHA256())
    _write_public(path, crl.public_bytes(serialization.Encoding.DER))


def _readme(organisation: str, now: datetime) -> str:
    return f"""# Development PKI — not for production

Created {now:%Y-%m-%d %H:%M} UTC for {organisation} by `docservice pki init`
(`docservice.signing.pki.init_dev_pki`). Git ignores this folder: private keys
are never committed. Every file ending in `.key.pem`, `.p12` or `.password` is
private (mode 0600).

| file | what |
| --- | --- |
| `{ROOT_CERT}`, `{ROOT_KEY}` | {ROOT_NAME}: the one trust root (20 years); trust it in a PDF reader to see dev signatures as trusted |
| `{SIGNER_CA_CERT}`, `{SIGNER_CA_KEY}` | {SIGNER_CA_NAME}: issues the one-shot certificates of students and companies (20 years) |
| `{TSA_CERT}`, `{TSA_KEY}` | {TSA_NAME}: the in-process RFC 3161 timestamp authority (RSA, 5 years) |
| `{SEAL_CERT}`, `{SEAL_KEY}` | {organisation} – organisatiezegel: the school's seal (5 years) |
| `{SEAL_P12}`, `{SEAL_P12_PASSWORD}` | the seal as PKCS#12 and its random password |
| `{ROOT_CRL}`, `{SIGNER_CA_CRL}` | CRLs (DER) of the root and the signer CA, valid {CRL_VALIDITY.days} days; `refresh_crls` re-issues them |

The certificates name CRL distribution points under `{DEV_CRL_BASE_URL}`, a
name that never resolves: docservice reads the CRLs from this folder.
Re-create everything with `docservice pki init --force` (earlier dev
signatures then no longer chain to a trusted root).
"""

