"""The development PKI: files, modes, idempotence, certificate profiles, CRLs."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docservice.signing.errors import PkiError
from docservice.signing.pki import (
    ALL_FILES,
    PRIVATE_FILES,
    ROOT_CERT,
    ROOT_CRL,
    SEAL_CERT,
    SEAL_P12,
    SIGNER_CA_CERT,
    SIGNER_CA_CRL,
    SIGNER_CA_KEY,
    TSA_CERT,
    Pki,
    crls_expire_before,
    init_dev_pki,
    refresh_crls,
)


def cert(folder: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((folder / name).read_bytes())


def test_every_private_file_has_mode_0600(pki_dir: Path) -> None:
    for name in PRIVATE_FILES:
        assert stat.S_IMODE((pki_dir / name).stat().st_mode) == 0o600, name
    for name in set(ALL_FILES) - set(PRIVATE_FILES):
        assert not (pki_dir / name).stat().st_mode & stat.S_IWOTH, name


def test_folder_holds_the_documented_files_and_a_readme(pki_dir: Path) -> None:
    assert sorted(p.name for p in pki_dir.iterdir()) == sorted(ALL_FILES)
    readme = (pki_dir / "README.md").read_text(encoding="utf-8")
    for name in ALL_FILES:
        if name != "README.md":
            assert name in readme


def test_init_is_idempotent_and_force_recreates(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    init_dev_pki(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    init_dev_pki(folder, force=True)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after.keys() == before.keys()
    assert after[ROOT_CERT] != before[ROOT_CERT]
    for name in PRIVATE_FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_an_incomplete_pki_is_refused_not_patched(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    (folder / TSA_CERT).unlink()
    with pytest.raises(PkiError, match="incomplete"):
        init_dev_pki(folder)
    init_dev_pki(folder, force=True)
    assert (folder / TSA_CERT).is_file()


def test_load_refuses_a_key_readable_by_others(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    (folder / SIGNER_CA_KEY).chmod(0o644)
    with pytest.raises(PkiError, match="readable by others"):
        Pki.load(folder)


def test_load_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=ROOT_CERT):
        Pki.load(tmp_path)


def test_certificate_profiles(pki_dir: Path) -> None:
    now = datetime.now(UTC)
    root, ca = cert(pki_dir, ROOT_CERT), cert(pki_dir, SIGNER_CA_CERT)
    tsa, seal = cert(pki_dir, TSA_CERT), cert(pki_dir, SEAL_CERT)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "docservice Dev Root CA"
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "docservice Dev Signer CA"
    assert ca.issuer == root.subject
    for certificate, years in ((root, 20), (ca, 20), (tsa, 5), (seal, 5)):
        lifetime = certificate.not_valid_after_utc - now
        assert timedelta(days=365 * years - 2) < lifetime < timedelta(days=365 * years + 6)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign

    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert isinstance(tsa.public_key(), rsa.RSAPublicKey)

    assert seal.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Thomas More"
    assert (seal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            == "Thomas More – organisatiezegel")
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign


def test_seal_p12_opens_with_its_password_file(pki: Pki) -> None:
    assert pki.seal is not None
    key, certificate, chain = pkcs12.load_key_and_certificates(
        (pki.seal.p12_path).read_bytes(), pki.seal.p12_password().encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate is not None and certificate.serial_number == pki.seal.certificate.serial_number
    assert [c.subject for c in chain] == [cert(pki.folder, ROOT_CERT).subject]
    assert len(pki.seal.p12_password()) >= 24
    assert (pki.folder / SEAL_P12).read_bytes().find(pki.seal.p12_password().encode()) == -1


def test_crls_are_empty_signed_and_current(pki: Pki, pki_dir: Path) -> None:
    now = datetime.now(UTC)
    for name, issuer in ((ROOT_CRL, ROOT_CERT), (SIGNER_CA_CRL, SIGNER_CA_CERT)):
        crl = x509.load_der_x509_crl((pki_dir / name).read_bytes())
        assert crl.issuer == cert(pki_dir, issuer).subject
        assert crl.is_signature_valid(cert(pki_dir, issuer).public_key())  # type: ignore[arg-type]
        assert len(crl) == 0
        assert crl.next_update_utc is not None
        assert timedelta(days=2) < crl.next_update_utc - now < timedelta(days=8)
    assert not crls_expire_before(pki.crls, now + timedelta(days=2))
    assert crls_expire_before(pki.crls, now + timedelta(days=30))


def test_refresh_crls_only_when_stale_or_forced(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    before = (folder / SIGNER_CA_CRL).read_bytes()
    assert refresh_crls(folder) is False
    assert (folder / SIGNER_CA_CRL).read_bytes() == before
    later = datetime.now(UTC) + timedelta(days=6, hours=12)
    assert refresh_crls(folder, now=later) is True
    crl = x509.load_der_x509_crl((folder / SIGNER_CA_CRL).read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert crl.next_update_utc is not None and crl.next_update_utc > later + timedelta(days=6)


def test_every_certificate_below_the_root_names_an_offline_crl(pki_dir: Path) -> None:
    for name in (SIGNER_CA_CERT, TSA_CERT, SEAL_CERT):
        points = cert(pki_dir, name).extensions.get_extension_for_class(
            x509.CRLDistributionPoints).value
        url = points[0].full_name[0].value  # type: ignore[index]
        assert url.endswith(ROOT_CRL) and ".invalid/" in url
