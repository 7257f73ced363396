"""Every archived document has an ETSI TS 119 102-2 XML report and a PDF report beside its JSON
and HTML; audit packages carry them, and `audit verify-package` ties each to its PDF."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docservice.archive import records
from docservice.archive.report_pdf import read_subject, report_subject
from docservice.cli import main
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs import archive_maintenance
from docservice.models import ArchiveEntry
from docservice.signing.etsi_report import EtsiReportError, check_report, parse_report
from tests.archive.conftest import complete_envelope
from tests.archive.test_audit import _rewrite


@pytest.fixture
def archived(runtime, year) -> ArchiveEntry:
    complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        [entry] = session.scalars(select(ArchiveEntry)).all()
        session.expunge(entry)
    return entry


def test_the_etsi_and_pdf_reports_are_archived_and_name_the_qualification(runtime, archived):
    store = runtime.archive_store
    sha = archived.sha256
    pdf = store.get(records.pdf_key(sha))
    manifest = json.loads(store.get(records.manifest_key(sha)))
    xml = store.get(records.report_etsi_key(sha))
    rendered = store.get(records.report_pdf_key(sha))
    assert manifest["report"]["etsi_sha256"] == sha256_hex(xml)
    assert manifest["report"]["pdf_sha256"] == sha256_hex(rendered)
    # Parsed back, strictly, into the ETSI bindings pyhanko ships; about this very PDF.
    report = parse_report(xml)
    assert len(report.signature_validation_report) == 3
    summary = check_report(xml, pdf)
    assert summary.signatures == (("Signature_student", "total-passed", "AdESig"),
                                  ("Signature_company", "total-passed", "AdESig"),
                                  ("Signature_school", "total-passed", "AdESeal"))
    objects = report.signature_validation_objects.validation_object
    assert any(o.object_type.endswith(":timestamp") for o in objects)
    # The manifest says per signer which level, and why.
    levels = {s["role"]: s["qualification"]["level"] for s in manifest["signers"]}
    assert levels == {"student": "AdESig", "company": "AdESig", "school": "AdESeal"}
    assert "not a qualified one" in manifest["signers"][0]["qualification"]["reason"]
    # The PDF rendering: a readable PDF that names the document it reports on.
    assert rendered.startswith(b"%PDF")
    assert read_subject(rendered) == report_subject(sha)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(rendered)).pages)
    assert sha in text.replace("\n", "")
    # Written once for every reader: Dutch headings, each with its English after it.
    headings = (("Verificatierapport", "Verification report"), ("Handtekeningen", "Signatures"),
                ("Documenttijdstempels", "Document timestamps"),
                ("Validatiegegevens (DSS)", "Validation data (DSS)"),
                ("Vooruitzicht op lange termijn", "Long-term outlook"), ("Vertrouwen", "Trust"))
    for dutch, english in headings:
        assert f"{dutch} / {english}" in text, (dutch, english)
    html = store.get(records.report_html_key(sha)).decode()
    for dutch, english in headings:
        assert f'<span lang="nl">{dutch}</span> <span class="en">/ {english}</span>' in html
    assert "AdESeal" in text
    # Locked like the rest, and re-verified by `archive verify`.
    for key in records.report_keys(sha):
        assert store.retention(key) is not None and store.retention(key) >= \
            archived.retention_until
    summary_all = archive_maintenance.verify_archive(runtime)
    assert summary_all.ok, summary_all.failed


def test_an_etsi_report_is_checked_against_its_pdf(runtime, archived):
    store = runtime.archive_store
    xml = store.get(records.report_etsi_key(archived.sha256))
    pdf = store.get(records.pdf_key(archived.sha256))
    tampered = pdf[:1000] + bytes([pdf[1000] ^ 0x01]) + pdf[1001:]  # inside every signed range
    with pytest.raises(EtsiReportError, match=r"not this PDF's|cannot be read"):
        check_report(xml, tampered)
    with pytest.raises(EtsiReportError, match="not in this PDF"):
        check_report(xml, runtime.archive_store.get(records.pdf_key(archived.sha256))
                     .split(b"%%EOF")[0] + b"%%EOF\n")
    with pytest.raises(EtsiReportError, match="not an ETSI"):
        parse_report(xml.replace(b"<vr:HashOnly>false", b"<vr:HashOnly>maybe"))
    with pytest.raises(EtsiReportError, match="not an ETSI"):
        parse_report(xml.replace(b"<vr:SignatureValidationReport>",
                                 b'<vr:SignatureValidationReport Unknown="1">', 1))


def test_audit_packages_carry_the_reports_and_check_them(runner, runtime, archived,
                                                         tmp_path: Path):
    sha = archived.sha256
    package = tmp_path / "package.zip"
    result = runner.invoke(main, ["archive", "export", sha, "--out", str(package)])
    assert result.exit_code == 0, result.output
    names = set(zipfile.ZipFile(package).namelist())
    assert {f"documents/{sha}.report.etsi.xml", f"documents/{sha}.report.pdf"} <= names
    result = runner.invoke(main, ["audit", "verify-package", str(package)])
    assert result.exit_code == 0, result.output

    forged = tmp_path / "forged.zip"
    for name in (f"documents/{sha}.report.etsi.xml", f"documents/{sha}.report.pdf"):
        is_xml = name.endswith(".xml")
        _rewrite(package, forged, name,
                 lambda data, is_xml=is_xml: data.replace(b"AdESeal", b"QESeal", 1) if is_xml
                 else data[:-8] + b"%%EOF\n\n", fix_sums=True)
        result = runner.invoke(main, ["audit", "verify-package", str(forged)])
        assert result.exit_code == 1, result.output
        assert f"{name}: not the report the manifest names" in result.output
