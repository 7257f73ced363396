"""The school seal in an HSM: SoftHSM2 over PKCS#11, in this test process's own token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from docservice.config import SealSettings, SigningSettings
from docservice.signing.errors import SealUnavailable
from docservice.signing.pades import PadesSigner
from docservice.signing.pki import ROOT_CERT, Pki, init_dev_pki
from tests.signing.conftest import SignedContract
from tests.signing.hsm import PIN, SOFTHSM2_MODULE, seal_in_softhsm
from tests.signing.pdfsig import TRUSTED, VALID, pdfsig_report
from tests.signing.pyhanko_check import check_signatures
from tests.signing.samples import field_name, stamp_lines

pytestmark = pytest.mark.skipif(not SOFTHSM2_MODULE.is_file(),
                                reason="SoftHSM2 is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def hsm_seal(pki: Pki) -> SealSettings:
    return seal_in_softhsm(pki)


@pytest.fixture(scope="module")
def hsm_signer(pki: Pki, hsm_seal: SealSettings) -> Iterator[PadesSigner]:
    with PadesSigner(pki, SigningSettings(seal=hsm_seal)) as signer:
        yield signer


def test_the_seal_goes_into_the_token_once(hsm_seal: SealSettings, pki: Pki,
                                           tmp_path: Path) -> None:
    assert hsm_seal.kind == "pkcs11" and hsm_seal.pkcs11_module == SOFTHSM2_MODULE
    conf = Path(os.environ["SOFTHSM2_CONF"])
    assert conf.is_file() and "tokens" in conf.read_text()
    assert list((conf.parent / "tokens").rglob("*"))  # SoftHSM2's (encrypted) object store
    assert seal_in_softhsm(pki) == hsm_seal  # idempotent: no second copy of the key

    other = tmp_path / "other"
    init_dev_pki(other)
    assert seal_in_softhsm(Pki.load(other)).pkcs11_key_label != hsm_seal.pkcs11_key_label


def test_the_seal_from_the_hsm_validates_like_the_pkcs12_one(
        hsm_signer: PadesSigner, signed_contract: SignedContract, pki: Pki,
        tmp_path: Path) -> None:
    by_company = signed_contract.by_company
    (sealed,) = hsm_signer.seal_documents([(by_company, field_name("school"))],
                                          approved_by="Carla Coördinator")
    assert sealed.startswith(by_company)
    checks = check_signatures(sealed, trust_roots=pki.trust_roots, crls=pki.crls)
    assert [c.field_name for c in checks] == [field_name(r)
                                              for r in ("student", "company", "school")]
    school = checks[-1]
    assert school.ok and school.coverage == "ENTIRE_FILE" and school.timestamped
    assert school.signer_name == "Thomas More – organisatiezegel"
    assert pki.seal is not None
    assert school.certificate_sha256 == pki.seal.certificate.sha256.hex()
    assert all(c.ok for c in checks)
    assert stamp_lines(sealed, field_name("school"))[:3] == [
        "Elektronisch zegel van", "Thomas More", "hogeschool"]

    path = tmp_path / "sealed-by-hsm.pdf"
    path.write_bytes(sealed)
    report = pdfsig_report(path, pki.folder / ROOT_CERT, tmp_path)
    assert len(report) == 3
    assert all(r["Signature Validation"] == VALID for r in report)
    assert all(r["Certificate Validation"] == TRUSTED for r in report)


def test_the_hsm_session_serves_several_seals(hsm_signer: PadesSigner,
                                              signed_contract: SignedContract) -> None:
    sealed = hsm_signer.seal_documents([(signed_contract.by_company, field_name("school"))] * 3)
    assert len(sealed) == 3 and all(s.startswith(signed_contract.by_company) for s in sealed)


def test_a_wrong_pin_or_label_is_a_clear_error(pki: Pki, hsm_seal: SealSettings,
                                               hsm_signer: PadesSigner) -> None:
    hsm_signer.close()  # log out: PKCS#11 keeps one login per process and token
    assert hsm_seal.pkcs11_pin == PIN
    wrong_pin = PadesSigner(pki, SigningSettings(seal=replace(hsm_seal, pkcs11_pin="0000")))
    with pytest.raises(SealUnavailable, match="PinIncorrect"):
        wrong_pin.seal.signer()
    wrong_key = PadesSigner(pki, SigningSettings(seal=replace(hsm_seal, pkcs11_key_label="nope")))
    with pytest.raises(SealUnavailable, match="not found"):
        wrong_key.seal.signer()
    wrong_key.close()
    wrong_token = PadesSigner(pki, SigningSettings(
        seal=replace(hsm_seal, pkcs11_token_label="no-such-token")))
    with pytest.raises(SealUnavailable, match="no-such-token"):
        wrong_token.seal.signer()
