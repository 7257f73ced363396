"""check_signatures: revocation from the dev CRLs, point-in-time validation, unreadable input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docservice.signing.certificates import issue_one_shot_certificate
from docservice.signing.errors import SignatureCheckError
from docservice.signing.pades import PadesSigner, StampText
from docservice.signing.pki import Pki, init_dev_pki, refresh_crls
from docservice.signing.validate import check_signatures
from tests.signing.conftest import STUDENT, SignedContract
from tests.signing.samples import contract_pdf, field_name


def test_an_unsigned_pdf_has_no_signatures(pki: Pki) -> None:
    assert check_signatures(contract_pdf(), trust_roots=pki.trust_roots, crls=pki.crls) == []


def test_a_file_that_is_not_a_pdf_is_an_error(pki: Pki) -> None:
    with pytest.raises(SignatureCheckError):
        check_signatures(b"%PDF-1.7 but not really", trust_roots=pki.trust_roots)


def test_an_untrusted_root_is_reported(signed_contract: SignedContract, tmp_path: Path) -> None:
    other = tmp_path / "other"
    init_dev_pki(other)
    stranger = Pki.load(other)
    checks = check_signatures(signed_contract.by_school, trust_roots=stranger.trust_roots,
                              crls=stranger.crls)
    for check in checks:
        assert check.intact and check.valid and not check.trusted and not check.ok
        assert any("not trusted" in p for p in check.problems)


def test_without_crls_hard_fail_refuses_and_soft_fail_accepts(
        signed_contract: SignedContract, pki: Pki) -> None:
    strict = check_signatures(signed_contract.by_student, trust_roots=pki.trust_roots)
    assert not strict[0].trusted
    lenient = check_signatures(signed_contract.by_student, trust_roots=pki.trust_roots,
                               revocation_mode="soft-fail")
    assert lenient[0].ok


def test_a_revoked_one_shot_certificate_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    pki = Pki.load(folder)
    with PadesSigner(pki) as pades, issue_one_shot_certificate(pki, STUDENT) as key:
        signed = pades.sign_field(contract_pdf(), field_name=field_name("student"), signer=key,
                                  stamp=StampText.for_identity(STUDENT))
        refresh_crls(folder, revoke=[key.certificate_x509])
    (check,) = check_signatures(signed, trust_roots=pki.trust_roots,
                                crls=Pki.load(folder).crls)
    assert check.intact and check.revoked and not check.trusted and not check.ok
    assert "the certificate is revoked" in check.problems


def test_an_expired_one_shot_certificate_still_counts_thanks_to_its_timestamp(
        pades: PadesSigner, pki: Pki) -> None:
    now = datetime.now(UTC)
    with issue_one_shot_certificate(pki, STUDENT, now=now, validity=timedelta(hours=1)) as key:
        signed = pades.sign_field(contract_pdf(), field_name=field_name("student"), signer=key,
                                  stamp=StampText.for_identity(STUDENT))
    later = now + timedelta(days=2)  # certificate expired, CRLs still current
    (check,) = check_signatures(signed, trust_roots=pki.trust_roots, crls=pki.crls, at=later)
    assert check.ok and check.timestamped
    assert check.timestamp_time is not None and check.timestamp_time < now + timedelta(hours=1)


def test_stale_crls_make_trust_unknown_until_refreshed(signed_contract: SignedContract,
                                                       pki: Pki) -> None:
    far = datetime.now(UTC) + timedelta(days=20)
    (check,) = check_signatures(signed_contract.by_student, trust_roots=pki.trust_roots,
                                crls=pki.crls, at=far)
    assert check.intact and not check.trusted
    assert pki.crls_expire_before(far)
