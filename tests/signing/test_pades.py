"""PAdES B-T signatures by student, company and school, checked by pyhanko and by pdfsig."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from docservice.config import SealSettings, SigningSettings, require_production_signing
from docservice.errors import SigningConfigurationError
from docservice.signing.errors import SignatureFieldError, TimestampUnavailable
from docservice.signing.pades import PadesSigner, StampText, stamp_safe
from docservice.signing.pki import ROOT_CERT, Pki, init_dev_pki
from docservice.signing.timestamps import DevTimeStamper
from tests.signing.conftest import COORDINATOR, MENTOR, STUDENT, SignedContract
from tests.signing.pdfsig import TRUSTED, VALID, pdfsig_report
from tests.signing.pyhanko_check import check_signatures
from tests.signing.samples import ROLES, contract_pdf, field_name, stamp_lines
from tests.signing.tsa_http import serve_tsa


def test_each_signature_appends_to_the_bytes_it_was_given(signed_contract: SignedContract) -> None:
    revisions = signed_contract.revisions
    for before, after in itertools.pairwise(revisions):
        assert after.startswith(before)
        assert len(after) > len(before)
        assert after[len(before):].count(b"%%EOF") == 1  # exactly one incremental update


def test_three_approval_signatures_in_order_all_sound(
        signed_contract: SignedContract, pki: Pki) -> None:
    checks = check_signatures(signed_contract.by_school, trust_roots=pki.trust_roots,
                              crls=pki.crls)
    assert [c.field_name for c in checks] == [field_name(r) for r in ROLES]
    assert [c.revision_index for c in checks] == sorted({c.revision_index for c in checks})
    for check in checks:
        assert check.intact and check.valid and check.trusted, check.problems
        assert check.timestamped and check.timestamp_time is not None
        assert check.docmdp_ok and check.bottom_line and check.ok
        assert not check.revoked and check.problems == ()
    assert [c.coverage for c in checks] == ["ENTIRE_REVISION", "ENTIRE_REVISION", "ENTIRE_FILE"]
    for check in checks[:2]:
        assert check.modification_level in ("FORM_FILLING", "LTA_UPDATES")
    assert checks[2].modification_level == "NONE"

    student, company, school = checks
    assert (student.signer_name, student.signer_email, student.signer_role,
            student.signer_organisation) == (STUDENT.full_name, STUDENT.email, "student",
                                             "Thomas More")
    assert (company.signer_name, company.signer_role, company.signer_organisation) == (
        MENTOR.full_name, "company", "ACME nv")
    assert school.signer_name == "Thomas More – organisatiezegel"
    assert school.certificate_subject.startswith("Common Name: Thomas More")
    times = [c.timestamp_time for c in checks]
    assert times == sorted(times)  # type: ignore[type-var]


def test_every_revision_validates_as_it_stands(signed_contract: SignedContract, pki: Pki) -> None:
    for count, pdf in enumerate(signed_contract.revisions):
        checks = check_signatures(pdf, trust_roots=pki.trust_roots, crls=pki.crls)
        assert len(checks) == count
        assert all(c.ok for c in checks)
        if checks:
            assert checks[-1].coverage == "ENTIRE_FILE"


def test_signatures_are_pades_approvals_without_locks(signed_contract: SignedContract) -> None:
    reader = PdfFileReader(io.BytesIO(signed_contract.by_school))
    assert "/Perms" not in reader.root  # no certification (DocMDP) signature
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        assert "/Lock" not in field  # no FieldMDP lock
        value = field["/V"].get_object()
        assert value["/SubFilter"] == "/ETSI.CAdES.detached"
        assert "/Reference" not in value


def test_the_visible_stamp_names_signer_role_and_brussels_time(
        signed_contract: SignedContract) -> None:
    pdf = signed_contract.by_school
    student = stamp_lines(pdf, field_name("student"))
    assert student[:3] == ["Digitaal ondertekend door", "Anaïs Lukasiewicz-Peeters", "student"]
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", student[3])
    assert stamp_lines(pdf, field_name("company"))[1:3] == ["Bram Janssens", "stagebedrijf"]
    school = stamp_lines(pdf, field_name("school"))
    assert school[:3] == ["Elektronisch zegel van", "Thomas More", "hogeschool"]
    assert school[3] == f"goedgekeurd door {COORDINATOR}"


def test_signing_time_is_shown_in_brussels_time(pades: PadesSigner, pki: Pki) -> None:
    pdf = contract_pdf()
    winter = datetime(2024, 2, 12, 8, 30, tzinfo=UTC)
    signed = pades.sign_as(STUDENT, [(pdf, field_name("student"))], signing_time=winter).pdfs[0]
    assert stamp_lines(signed, field_name("student"))[3] == "12/02/2024 09:30"
    (check,) = check_signatures(signed, trust_roots=pki.trust_roots, crls=pki.crls)
    assert check.signing_time == winter  # /M claims it; the timestamp proves the real time
    assert check.timestamp_time is not None and check.timestamp_time > winter
    assert check.ok  # the certificate was issued now, valid when the timestamp was made


def test_pdfsig_agrees(signed_contract: SignedContract, pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_contract.by_school)
    report = pdfsig_report(path, pki.folder / ROOT_CERT, tmp_path)
    assert [r["Signature Field Name"] for r in report] == [field_name(r) for r in ROLES]
    for entry in report:
        assert entry["Signature Validation"] == VALID
        assert entry["Certificate Validation"] == TRUSTED
        assert entry["Signature Type"] == "ETSI.CAdES.detached"
    assert [r["Coverage"] for r in report] == [
        "Not total document signed", "Not total document signed", "Total document signed"]
    assert report[0]["Signer Certificate Common Name"] == STUDENT.full_name


def test_pdfsig_does_not_trust_an_unknown_root(signed_contract: SignedContract,
                                               tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    init_dev_pki(other)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_contract.by_school)
    report = pdfsig_report(path, other / "root-ca.pem", tmp_path)
    assert report and all(r["Certificate Validation"] != TRUSTED for r in report)
    assert all(r["Signature Validation"] == VALID for r in report)


def test_a_visit_signs_several_documents_with_one_certificate(pades: PadesSigner,
                                                              pki: Pki) -> None:
    documents = [(contract_pdf(title), field_name("company"))
                 for title in ("Stageovereenkomst", "Geheimhoudingsverklaring",
                               "Afstand van auteursrecht")]
    visit = pades.sign_as(MENTOR, documents)
    assert len(visit.pdfs) == 3
    serials = set()
    for (original, _), signed in zip(documents, visit.pdfs, strict=True):
        assert signed.startswith(original)
        (check,) = check_signatures(signed, trust_roots=pki.trust_roots, crls=pki.crls)
        assert check.ok and check.field_name == field_name("company")
        serials.add(check.certificate_sha256)
    assert len(serials) == 1
    assert visit.serial_number.bit_length() > 100 and visit.certificate_der


def test_a_missing_or_signed_field_is_refused(pades: PadesSigner,
                                              signed_contract: SignedContract) -> None:
    with pytest.raises(SignatureFieldError, match="does not exist"):
        pades.sign_as(STUDENT, [(contract_pdf(), "Signature_nobody")])
    with pytest.raises(SignatureFieldError, match="already signed"):
        pades.sign_as(STUDENT, [(signed_contract.by_student, field_name("student"))])


def test_tampering_with_signed_content_breaks_integrity(signed_contract: SignedContract,
                                                        pki: Pki) -> None:
    pdf = bytearray(signed_contract.by_school)
    body = pdf.index(b"Stageovereenkomst tussen")  # inside a page content stream
    pdf[body] = ord("Z")
    checks = check_signatures(bytes(pdf), trust_roots=pki.trust_roots, crls=pki.crls)
    assert len(checks) == 3
    for check in checks:
        assert not check.intact and not check.ok
        assert "the signed bytes were changed" in check.problems


def test_tampering_inside_the_last_signed_revision(signed_contract: SignedContract,
                                                   pki: Pki) -> None:
    pdf = bytearray(signed_contract.by_school)
    start = len(signed_contract.by_company)
    stamp = pdf.index(b"hogeschool", start)  # the seal's appearance stream
    pdf[stamp] = ord("H")
    student, company, school = check_signatures(bytes(pdf), trust_roots=pki.trust_roots,
                                                crls=pki.crls)
    assert student.intact and company.intact
    assert not school.intact


def test_an_http_tsa_is_used_for_the_production_path(pki: Pki) -> None:
    with serve_tsa(DevTimeStamper(pki)) as (url, served):
        signer = PadesSigner(pki, SigningSettings(tsa_url=url, tsa_timeout=5))
        signed = signer.sign_as(STUDENT, [(contract_pdf(), field_name("student"))]).pdfs[0]
    assert len(served) >= 2  # one token to learn its size, then one per signature
    (check,) = check_signatures(signed, trust_roots=pki.trust_roots, crls=pki.crls)
    assert check.timestamped and check.ok


def test_an_unreachable_tsa_is_a_clear_error(pki: Pki) -> None:
    with serve_tsa(DevTimeStamper(pki)) as (url, _):
        pass  # the server is gone once the block ends: nothing listens on that port now
    signer = PadesSigner(pki, SigningSettings(tsa_url=url, tsa_timeout=2))
    with pytest.raises(TimestampUnavailable) as error:
        signer.sign_as(STUDENT, [(contract_pdf(), field_name("student"))])
    assert error.value.tsa == url


def test_stamp_text_keeps_latin1_and_approximates_the_rest() -> None:
    assert stamp_safe("Anaïs Coördinator – Łukasz Şahin") == "Anaïs Coördinator - Lukasz Sahin"
    assert stamp_safe("Nguyễn Văn Đức") == "Nguyen Van Duc"
    assert stamp_safe("Иван") == "????"
    assert StampText.for_identity(MENTOR).role_label == "stagebedrijf"


def test_production_settings_name_every_missing_item(tmp_path: Path) -> None:
    with pytest.raises(SigningConfigurationError) as error:
        require_production_signing(SigningSettings())
    text = str(error.value)
    for item in ("TSA URL", "PKCS#11 module", "token label", "key label", "PIN", "trust roots"):
        assert item in text
    assert len(error.value.missing) == 7

    module = tmp_path / "libhsm.so"
    module.write_bytes(b"")
    roots = tmp_path / "roots.pem"
    roots.write_text("")
    require_production_signing(SigningSettings(
        tsa_url="https://tsa.example/rfc3161",
        seal=SealSettings(kind="pkcs11", pkcs11_module=module, pkcs11_token_label="seal",
                          pkcs11_key_label="seal", pkcs11_pin="1234"),
        trust_roots_file=roots,
    ))
