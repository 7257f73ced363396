"""verify_pdf on genuine documents at every stage and on every kind of tampering."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from docservice.signing.certificates import issue_one_shot_certificate
from docservice.signing.pades import PadesSigner, StampText
from docservice.signing.pki import Pki, init_dev_pki, refresh_crls
from docservice.signing.timestamps import DevTimeStamper
from docservice.signing.verify import Expected, Report, Trust, verify_pdf
from tests.signing.conftest import MENTOR, STUDENT, SignedContract
from tests.signing.samples import ROLES, contract_pdf, field_name
from tests.signing.verify import attacks, tamper

SERVICE_FIELDS = {role: field_name(role) for role in ROLES}


@pytest.fixture(scope="session")
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


def reasons(report: Report) -> str:
    return "\n".join(report.reasons)


def test_unsigned_document_is_indeterminate_with_no_signature(
        signed_contract: SignedContract, trust: Trust) -> None:
    report = verify_pdf(signed_contract.unsigned, trust=trust)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "NO_SIGNATURE_FOUND")
    assert report.policy == "strict"  # the three service fields mark it as a service document
    assert report.reasons == ("the document has no signature",)
    assert report.revisions == 2 and report.signatures == () and report.readable


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_every_signed_stage_passes_with_a_full_report(
        signed_contract: SignedContract, trust: Trust, pki: Pki, stage: int) -> None:
    pdf = signed_contract.revisions[stage]
    report = verify_pdf(pdf, trust=trust)
    assert report.passed, report.reasons
    assert report.policy == "strict" and report.revisions == 2 + stage
    assert [s.field_name for s in report.signatures] == [field_name(r) for r in ROLES[:stage]]
    assert [s.role for s in report.signatures] == list(ROLES[:stage])
    names = [STUDENT.full_name, MENTOR.full_name, "Thomas More – organisatiezegel"]
    for number, sig in enumerate(report.signatures):
        assert sig.passed and sig.intact and sig.valid and sig.reasons == ()
        assert sig.signer_name == names[number]
        assert sig.pades_level == "B-T" and sig.revocation == "good"
        assert sig.timestamp_time is not None and sig.claimed_signing_time is not None
        assert sig.timestamp_authority is not None and "Timestamp Authority" in sig.timestamp_authority
        assert sig.chain[-1] == pki.root.subject.human_friendly and not sig.qualified
        last = number == stage - 1
        assert sig.coverage == ("ENTIRE_FILE" if last else "ENTIRE_REVISION")
        assert sig.changes_after == ("none" if last else "signatures_and_form_filling")
    data = report.to_json()
    assert set(data) >= {"indication", "sub_indication", "reasons", "sha256", "revisions",
                         "policy", "signatures", "document_reference"}
    assert data["signatures"][0]["timestamp_time"].startswith("20")


def test_expected_signers_in_order_pass_and_a_wrong_name_is_indeterminate(
        signed_contract: SignedContract, trust: Trust) -> None:
    expected = Expected(roles_in_order=("student", "company"), field_names=SERVICE_FIELDS,
                        signer_names={"student": STUDENT.full_name, "company": MENTOR.full_name})
    assert verify_pdf(signed_contract.by_company, trust=trust, expected=expected).passed
    wrong = Expected(roles_in_order=("student",), field_names=SERVICE_FIELDS,
                     signer_names={"student": "Iemand Anders"})
    report = verify_pdf(signed_contract.by_student, trust=trust, expected=wrong)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE",
                                                          "SIG_CONSTRAINTS_FAILURE")
    assert "the student of this envelope is 'Iemand Anders'" in reasons(report)


def test_a_signature_in_the_wrong_field_is_refused(pades: PadesSigner, trust: Trust) -> None:
    (pdf,) = pades.sign_as(MENTOR, [(contract_pdf(), field_name("company"))]).pdfs
    report = verify_pdf(pdf, trust=trust,
                        expected=Expected(("student",), field_names=SERVICE_FIELDS))
    assert (report.indication, report.sub_indication) == ("TOTAL_FAILED",
                                                          "SIG_CONSTRAINTS_FAILURE")
    assert "should be the student's, in Signature_student" in reasons(report)
    # without expectations the service order alone says the same
    assert "should be the student's" in reasons(verify_pdf(pdf, trust=trust))


def test_long_term_validation_data_and_a_document_timestamp_are_permitted(
        signed_contract: SignedContract, trust: Trust, pki: Pki) -> None:
    def context() -> ValidationContext:
        return ValidationContext(trust_roots=list(pki.trust_roots), crls=list(pki.crls),
                                 allow_fetching=False)

    reader = PdfFileReader(io.BytesIO(signed_contract.by_school), strict=False)
    with_dss = add_validation_info(reader.embedded_signatures[-1], context()).getvalue()
    out = io.BytesIO()
    PdfTimeStamper(DevTimeStamper(pki)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss), strict=False), "sha256",
        validation_context=context(), output=out)
    report = verify_pdf(out.getvalue(), trust=trust)
    assert report.passed, report.reasons
    *signatures, stamp = report.signatures
    assert stamp.kind == "document_timestamp" and stamp.passed
    assert [s.pades_level for s in signatures] == ["B-LTA"] * 3
    assert signatures[-1].changes_after == "timestamps_and_validation_data"


# -- tampering -------------------------------------------------------------------------------


def expect(report: Report, indication: str, sub: str, text: str) -> None:
    assert (report.indication, report.sub_indication) == (indication, sub), report.reasons
    assert text in reasons(report), report.reasons


def test_a_content_changing_update_is_refused(signed_contract: SignedContract,
                                              trust: Trust) -> None:
    report = verify_pdf(tamper.append_content_update(signed_contract.by_company), trust=trust)
    expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE", "changes page 1 (/Contents)")
    assert all(s.changes_after == "other" for s in report.signatures)


def test_a_flipped_byte_in_the_signed_range_is_a_hash_failure(
        signed_contract: SignedContract, trust: Trust) -> None:
    report = verify_pdf(tamper.flip_signed_byte(signed_contract.by_school), trust=trust)
    expect(report, "TOTAL_FAILED", "HASH_FAILURE", "signed bytes were changed")
    assert not any(s.intact for s in report.signatures)


def test_a_shortened_byte_range_is_a_format_failure(signed_contract: SignedContract,
                                                    trust: Trust) -> None:
    report = verify_pdf(tamper.shorten_byte_range(signed_contract.by_school), trust=trust)
    expect(report, "TOTAL_FAILED", "FORMAT_FAILURE", "does not sign the whole revision")


def test_a_free_text_annotation_after_signing_is_refused(signed_contract: SignedContract,
                                                         trust: Trust) -> None:
    pdf = tamper.add_free_text_annotation(signed_contract.by_school)
    report = verify_pdf(pdf, trust=trust)
    expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE",
           "revision 6 adds a /FreeText annotation on page 1")
    # the standard policy too: it covers the signed body text
    standard = verify_pdf(pdf, trust=trust, policy="standard")
    expect(standard, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE", "that covers text on page 1")


def test_the_standard_policy_reports_an_annotation_beside_the_content(
        signed_contract: SignedContract, trust: Trust) -> None:
    pdf = tamper.add_free_text_annotation(signed_contract.by_school, rect=(400, 400, 500, 430))
    report = verify_pdf(pdf, trust=trust, policy="standard")
    assert report.passed, report.reasons
    assert any("/FreeText" in w for w in report.warnings)
    assert not verify_pdf(pdf, trust=trust).passed  # strict: no annotation at all


def test_a_new_signature_field_with_a_painted_appearance_is_refused(
        signed_contract: SignedContract, trust: Trust) -> None:
    pdf = tamper.add_painted_signature_field(signed_contract.by_company)
    text = "adds a new, empty signature field 'Signature_extra' with a visible appearance"
    expect(verify_pdf(pdf, trust=trust), "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE", text)
    expect(verify_pdf(pdf, trust=trust, policy="standard"), "TOTAL_FAILED",
           "SIG_CONSTRAINTS_FAILURE", text)


def test_bytes_after_the_final_eof_are_refused(signed_contract: SignedContract,
                                               trust: Trust) -> None:
    report = verify_pdf(tamper.append_bytes_after_eof(signed_contract.by_school), trust=trust)
    expect(report, "TOTAL_FAILED", "FORMAT_FAILURE", "after the final %%EOF are not a complete")


def test_zeroed_contents_are_a_format_failure(signed_contract: SignedContract,
                                              trust: Trust) -> None:
    report = verify_pdf(tamper.zero_contents(signed_contract.by_school), trust=trust)
    expect(report, "TOTAL_FAILED", "FORMAT_FAILURE", "cannot be read")


def test_an_object_hidden_in_the_contents_gap_is_refused(signed_contract: SignedContract,
                                                         trust: Trust) -> None:
    report = verify_pdf(tamper.hide_object_in_contents_gap(signed_contract.by_school),
                        trust=trust)
    expect(report, "TOTAL_FAILED", "FORMAT_FAILURE", "signature dictionary cannot be read")


def test_an_added_open_action_fails_under_the_standard_policy(
        signed_contract: SignedContract, trust: Trust) -> None:
    report = verify_pdf(tamper.add_open_action(signed_contract.by_student), trust=trust,
                        policy="standard")
    expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE",
           "adds the document catalog's /OpenAction")


def test_an_object_planted_before_signing_and_defined_after_is_refused(
        pades: PadesSigner, trust: Trust) -> None:
    prepared, define = tamper.plant_then_define(contract_pdf())
    (signed,) = pades.sign_as(STUDENT, [(prepared, field_name("student"))]).pdfs
    assert verify_pdf(signed, trust=trust).passed
    report = verify_pdf(define(signed), trust=trust, policy="standard")
    expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE", "content planted before signing")


def test_an_object_planted_in_the_resources_before_signing_is_refused(
        pades: PadesSigner, trust: Trust) -> None:
    prepared, define = tamper.plant_then_define(contract_pdf(), where="resources")
    (signed,) = pades.sign_as(STUDENT, [(prepared, field_name("student"))]).pdfs
    report = verify_pdf(define(signed), trust=trust, policy="standard")
    expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE", "content planted before signing")


def test_rewriting_what_shows_the_same_passes_only_the_standard_policy(
        signed_contract: SignedContract, trust: Trust) -> None:
    rewritten = tamper.rewrite_without_visible_change(signed_contract.by_company)
    standard = verify_pdf(rewritten, trust=trust, policy="standard")
    assert standard.indication != "TOTAL_FAILED", standard.reasons
    strict = verify_pdf(rewritten, trust=trust, policy="strict")
    expect(strict, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE",
           "rewrites page 1's /Resources without changing what it shows")
    assert "changes private data of the page tree (/ITXT)" in reasons(strict)


def test_a_broken_signature_timestamp_fails_strict_and_proves_no_time_in_standard(
        signed_contract: SignedContract, trust: Trust) -> None:
    broken = tamper.copy_signature_timestamp(signed_contract.by_company)
    strict = verify_pdf(broken, trust=trust, policy="strict")
    expect(strict, "TOTAL_FAILED", "SIG_CRYPTO_FAILURE", "its signature timestamp is broken")
    standard = verify_pdf(broken, trust=trust, policy="standard")
    expect(standard, "INDETERMINATE", "NO_POE", "nothing proves when it was signed")


def test_a_certificate_from_an_untrusted_ca_is_indeterminate(
        tmp_path: Path, trust: Trust) -> None:
    init_dev_pki(tmp_path / "other")
    with PadesSigner(Pki.load(tmp_path / "other")) as stranger:
        (pdf,) = stranger.sign_as(STUDENT, [(contract_pdf(), field_name("student"))]).pdfs
    report = verify_pdf(pdf, trust=trust)
    expect(report, "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND",
           "does not chain to a trusted root")
    (sig,) = report.signatures
    assert sig.intact and sig.valid and sig.chain == ()


def test_a_revoked_certificate_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    init_dev_pki(folder)
    pki = Pki.load(folder)
    with PadesSigner(pki) as pades, issue_one_shot_certificate(pki, STUDENT) as key:
        refresh_crls(folder, revoke=[key.certificate_x509])
        signed = pades.sign_field(contract_pdf(), field_name="Signature_student", signer=key,
                                  stamp=StampText.for_identity(STUDENT))
    fresh = Pki.load(folder)
    report = verify_pdf(signed, trust=Trust(roots=fresh.trust_roots, crls=fresh.crls))
    assert report.indication in ("INDETERMINATE", "TOTAL_FAILED")
    assert report.sub_indication in ("REVOKED_NO_POE", "REVOKED")
    assert "certificate is revoked" in reasons(report)
    assert report.signatures[0].revocation == "revoked"


def test_a_missing_timestamp_is_refused_by_the_strict_policy(pki: Pki, trust: Trust) -> None:
    from pyhanko.sign import fields as pdf_fields
    from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner

    with issue_one_shot_certificate(pki, STUDENT) as key:
        out = io.BytesIO()
        PdfSigner(PdfSignatureMetadata(field_name=field_name("student"),
                                       subfilter=pdf_fields.SigSeedSubFilter.PADES),
                  signer=key.cms_signer()).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(contract_pdf()), strict=False), output=out)
    pdf = out.getvalue()
    expect(verify_pdf(pdf, trust=trust), "INDETERMINATE", "SIG_CONSTRAINTS_FAILURE",
           "has no timestamp")
    report = verify_pdf(pdf, trust=trust, policy="standard")
    assert report.passed and report.signatures[0].pades_level == "B-B"


def test_anything_but_hex_digits_in_the_contents_gap_is_refused(
        signed_contract: SignedContract, trust: Trust) -> None:
    report = verify_pdf(tamper.blank_in_contents_gap(signed_contract.by_school), trust=trust)
    expect(report, "TOTAL_FAILED", "FORMAT_FAILURE", "holds more than the signature value")


def test_a_libreoffice_contract_is_recognised_by_its_reference_and_passes(
        converter: object, pades: PadesSigner, trust: Trust) -> None:
    import docx

    from docservice.documents.fields import PlacedField
    from docservice.signing.fields import add_signature_fields

    reference = "DS-2023-2024-r0123456-stageovereenkomst-1"
    document = docx.Document()
    document.add_paragraph("Stageovereenkomst tussen student, stagebedrijf en hogeschool.")
    document.sections[0].footer.paragraphs[0].text = f"{reference} — pagina 1"
    buffer = io.BytesIO()
    document.save(buffer)
    converted = converter.convert(buffer.getvalue(), pdfa=True).pdf  # type: ignore[attr-defined]
    pdf = add_signature_fields(converted, [
        PlacedField(role, field_name(role), 0, (60 + i * 170, 120, 210 + i * 170, 170))
        for i, role in enumerate(ROLES)])
    (pdf,) = pades.sign_as(STUDENT, [(pdf, field_name("student"))]).pdfs
    (pdf,) = pades.sign_as(MENTOR, [(pdf, field_name("company"))]).pdfs
    (pdf,) = pades.seal_documents([(pdf, field_name("school"))])
    report = verify_pdf(pdf, trust=trust)
    assert report.passed, report.reasons
    assert report.document_reference == reference and report.policy == "strict"
    assert [s.role for s in report.signatures] == list(ROLES)


# -- updates two readers resolve differently (issue: verification you can bet a contract on) --

ATTACKS = {
    "the same object listed twice in one section": (
        attacks.duplicate_entry, "more than once in one cross-reference section"),
    "/Info pointed at the page content": (
        lambda pdf: attacks.point_role_at_content(pdf, "info"), "changes the content of page 1"),
    "/Metadata pointed at the page content": (
        lambda pdf: attacks.point_role_at_content(pdf, "metadata"),
        "changes the content of page 1"),
    "a DSS /VRI entry pointed at the page content": (
        lambda pdf: attacks.point_role_at_content(pdf, "vri"), "changes the content of page 1"),
    "a free entry with next generation 0": (
        lambda pdf: attacks.free_with_generation(pdf, 0), "deletes 1 object(s)"),
    "a free entry with next generation 65535": (
        lambda pdf: attacks.free_with_generation(pdf, 65535), "deletes 1 object(s)"),
    "an object body no entry lists": (
        attacks.unlisted_body, "that no cross-reference entry lists"),
    "a redefinition under a bumped generation": (
        attacks.bumped_generation, "under generation 1"),
}


@pytest.mark.parametrize("policy", ["strict", "standard"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_update_readers_resolve_differently_fails(
        signed_contract: SignedContract, trust: Trust, attack: str, policy: str) -> None:
    make, reason = ATTACKS[attack]
    tampered = make(signed_contract.by_school)
    report = verify_pdf(tampered, trust=trust, policy=policy)  # type: ignore[arg-type]
    assert report.indication == "TOTAL_FAILED", report.to_text()
    assert reason in reasons(report), report.to_text()


def test_a_contract_cut_back_to_the_student_revision_says_what_is_missing(
        signed_contract: SignedContract, trust: Trust) -> None:
    report = verify_pdf(signed_contract.by_student, trust=trust)
    assert report.passed, report.reasons  # a genuine stage
    assert not report.complete and report.missing == ("company", "school")
    assert "onvolledig: bedrijf en hogeschool nog niet ondertekend" in report.to_text()
    assert [(e.role, e.present) for e in report.expected_signatures] == [
        ("student", True), ("company", False), ("school", False)]
    # ...and a caller who needs the final document (archiving) gets no pass for it
    final = Expected(roles_in_order=ROLES, field_names={r: field_name(r) for r in ROLES}, due=3)
    expect(verify_pdf(signed_contract.by_student, trust=trust, expected=final),
           "INDETERMINATE", "SIG_CONSTRAINTS_FAILURE", "onvolledig: bedrijf en hogeschool")
    assert verify_pdf(signed_contract.by_school, trust=trust, expected=final).passed
    assert verify_pdf(signed_contract.by_school, trust=trust).complete


def test_an_object_nothing_refers_to_after_the_last_signature_is_reported(
        signed_contract: SignedContract, trust: Trust) -> None:
    t = attacks.target(signed_contract.by_school)
    orphan = attacks.append(signed_contract.by_school,
                             [b"%d 0 obj\n<< /Length 3 >>\nstream\nabc\nendstream\nendobj\n"
                              % t.size], [(t.size, 0, b"n", 0)])
    for policy in ("strict", "standard"):
        report = verify_pdf(orphan, trust=trust, policy=policy)  # type: ignore[arg-type]
        assert report.passed, report.reasons  # no viewer shows it...
        assert any("that nothing in the document refers to" in w for w in report.warnings)
