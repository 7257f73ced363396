"""The auditor's pages: search by every criterion, read-only access, downloads in the trail."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from docservice.archive import package, records
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.models import ArchiveEntry, ArchiveTerm, AuditEvent, Document
from docservice.services import archive_search
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.helpers import csrf_token, login, make_user

AUDITOR = "auditor@school.example.org"


def index(session, placement, *, kind: str, signed: datetime, pdf: bytes,
          year: str = "2023-2024") -> ArchiveEntry:
    """An archive entry as the archiving job indexes it (objects written by the caller)."""
    document = Document(placement=placement, kind=kind, language="nl",
                        reference=f"{placement.student_number}-{kind}-{signed:%Y%m%d}",
                        template_sha256="0" * 64, docx_sha256="0" * 64)
    session.add(document)
    session.flush()
    sha = sha256_hex(pdf)
    entry = ArchiveEntry(
        document_id=document.id, placement_id=placement.id, version=1, sha256=sha,
        size=len(pdf), source_sha256=sha256_hex(pdf + b"source"),
        manifest_sha256="1" * 64, report_sha256="2" * 64, academic_year=year,
        document_kind=kind, reference=document.reference,
        student_number=placement.student_number, student_name=placement.student_full_name,
        company_name=placement.company_name, company_number=placement.company_number,
        signed_first_at=signed, signed_last_at=signed, archived_at=signed,
        retention_until=date(2034, 5, 17), verdict="passed", long_term_ok=True,
        last_timestamp_at=signed, last_timestamp_expires_at=datetime(2031, 1, 1, tzinfo=UTC),
        retention_locked=True)
    entry.terms = [ArchiveTerm(field=f, term=t) for f, t in archive_search.entry_terms(entry)]
    session.add(entry)
    session.flush()
    return entry


@pytest.fixture
def indexed(runtime, year):
    """Three placements, four archived documents, with distinct facts to search by."""
    rows = [
        row(0, student_first_name="Zoë", student_last_name="Vermeulen-D'Hondt"),
        row(1, student_first_name="Jan", student_last_name="Peeters",
            company_name="Acme Logistics NV", company_number="0417.497.106"),
        row(2, student_first_name="Anaïs", student_last_name="Łukasiewicz",
            company_name="Brouwerij Het Anker", company_number="0202.239.951"),
    ]
    store = runtime.archive_store
    with unit_of_work(runtime.db) as session:
        zoe, jan, anais = import_placements(session, csv_bytes(rows), actor=TEST_ACTOR).placements
        made = {
            "zoe-agreement": index(session, zoe, kind="stageovereenkomst",
                                   signed=datetime(2023, 12, 1, 10, tzinfo=UTC), pdf=b"%PDF zoe a"),
            "zoe-nda": index(session, zoe, kind="geheimhoudingsverklaring",
                             signed=datetime(2023, 12, 1, 10, tzinfo=UTC), pdf=b"%PDF zoe n"),
            "jan-agreement": index(session, jan, kind="stageovereenkomst",
                                   signed=datetime(2023, 12, 14, 9, tzinfo=UTC), pdf=b"%PDF jan"),
            "anais-agreement": index(session, anais, kind="stageovereenkomst",
                                     signed=datetime(2024, 1, 20, 15, tzinfo=UTC),
                                     pdf=b"%PDF anais", year="2024-2025"),
        }
        shas = {name: e.sha256 for name, e in made.items()}
    store.put(records.pdf_key(shas["jan-agreement"]), b"%PDF jan")
    return shas


def _found(client, **criteria) -> set[str]:
    response = client.get("/archive/", query_string=criteria)
    assert response.status_code == 200, response.get_data(as_text=True)
    return set(re.findall(r'data-sha256="([0-9a-f]{64})"', response.get_data(as_text=True)))


def test_search_finds_the_right_documents_by_each_criterion(client, runtime, indexed):
    make_user(runtime, email=AUDITOR, role="auditor")
    login(client, AUDITOR)
    s = indexed
    zoe = {s["zoe-agreement"], s["zoe-nda"]}
    assert _found(client, student="vermeulen") == zoe
    assert _found(client, student="Zoe Vermeulen-d'hondt") == zoe  # accents and case forgiven
    assert _found(client, student="VERM") == zoe  # a name from its start
    assert _found(client, student="r0123457") == {s["jan-agreement"]}
    assert _found(client, student="lukasiewicz anaïs") == {s["anais-agreement"]}
    assert _found(client, student="hondt peeters") == set()  # every word must match
    assert _found(client, company="acme") == {s["jan-agreement"]}
    assert _found(client, company="Brouwerij het") == {s["anais-agreement"]}
    assert _found(client, company="0417.497.106") == {s["jan-agreement"]}
    assert _found(client, company="0417497106") == {s["jan-agreement"]}
    assert _found(client, year="2024-2025") == {s["anais-agreement"]}
    assert _found(client, kind="geheimhoudingsverklaring") == {s["zoe-nda"]}
    assert _found(client, kind="stageovereenkomst", year="2023-2024") == {
        s["zoe-agreement"], s["jan-agreement"]}
    assert _found(client, signed_from="2023-12-10", signed_to="2023-12-31") == {
        s["jan-agreement"]}
    assert _found(client, signed_to="2023-12-01") == zoe
    assert _found(client, signed_from="2024-01-20") == {s["anais-agreement"]}
    assert _found(client, sha256=s["zoe-nda"]) == {s["zoe-nda"]}
    assert _found(client, sha256=s["jan-agreement"][:10].upper()) == {s["jan-agreement"]}
    bad = client.get("/archive/", query_string={"sha256": "xyz"})
    assert bad.status_code == 422 and "hexadecimal" in bad.get_data(as_text=True)


def test_the_auditor_reads_but_changes_nothing_and_downloads_are_recorded(client, runtime,
                                                                          indexed):
    make_user(runtime, email=AUDITOR, role="auditor")
    login(client, AUDITOR)
    jan = indexed["jan-agreement"]
    with unit_of_work(runtime.db) as session:
        before = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc())).first()

    download = client.get(f"/archive/{jan}/document.pdf")
    assert download.status_code == 200 and download.data == b"%PDF jan"
    assert "attachment" in download.headers["Content-Disposition"]
    with unit_of_work(runtime.db) as session:
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "archive.downloaded")).all()
        assert event.id > before and event.actor == AUDITOR and event.detail["sha256"] == jan
        assert event.ip is not None

    # Read-only: the coordinator's pages and actions are closed to an auditor.
    assert client.get("/coordinator/").status_code == 403
    token = csrf_token(client.get("/archive/", query_string={"student": "jan"})
                       .get_data(as_text=True))
    assert client.post("/coordinator/import", data={"csrf_token": token}).status_code == 403
    assert client.post("/coordinator/documents/generate",
                       data={"csrf_token": token}).status_code == 403
    with unit_of_work(runtime.db) as session:
        placement_id = session.scalar(select(ArchiveEntry.placement_id)
                                      .where(ArchiveEntry.sha256 == jan))
    assert client.post(f"/coordinator/placements/{placement_id}/envelope",
                       data={"csrf_token": token}).status_code == 403
    # No route of the archive changes anything: only GET, and the export (a read).
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint.startswith("archive."):
            assert rule.methods - {"GET", "HEAD", "OPTIONS"} <= (
                {"POST"} if rule.endpoint == "archive.export" else set()), rule


def test_a_broken_object_is_refused_not_served(client, runtime, indexed):
    make_user(runtime, email=AUDITOR, role="auditor")
    login(client, AUDITOR)
    # zoe's agreement is indexed but its bytes are not what the index says: never served.
    zoe = indexed["zoe-agreement"]
    runtime.archive_store.put(records.pdf_key(zoe), b"%PDF something else")
    response = client.get(f"/archive/{zoe}/document.pdf")
    page = response.get_data(as_text=True)
    # Not a server error: the auditor is told that the stored object fails its check, and why.
    assert response.status_code == 409, page
    assert "Integriteitscontrole mislukt" in page and records.pdf_key(zoe) in page
    assert sha256_hex(b"%PDF something else") in page and zoe in page
    assert "%PDF something else" not in page
    # Recorded as `archive verify` records it: the entry marked, the trail told (and kept,
    # although the request was refused).
    with unit_of_work(runtime.db) as session:
        entry = session.scalars(select(ArchiveEntry).where(ArchiveEntry.sha256 == zoe)).one()
        assert entry.last_verified_ok is False and entry.last_verified_at is not None
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "archive.verified")).all()
        assert event.actor == AUDITOR and event.placement_id == entry.placement_id
        assert event.detail["ok"] is False and event.detail["sha256"] == zoe
        assert records.pdf_key(zoe) in event.detail["problems"][0]
        assert not session.scalars(select(AuditEvent).where(
            AuditEvent.action == "archive.downloaded")).all()
    # An object missing from the store is damage too, not "not found".
    nda = indexed["zoe-nda"]
    missing = client.get(f"/archive/{nda}/document.pdf",
                         headers={"Accept": "application/json"})
    assert missing.status_code == 409
    assert missing.get_json()["object"] == records.pdf_key(nda)
    assert missing.get_json()["found_sha256"] is None
    with unit_of_work(runtime.db) as session:
        assert len(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "archive.verified")).all()) == 2


def test_anonymous_users_are_sent_to_log_in(client, indexed):
    response = client.get("/archive/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_export_from_the_web_and_the_document_page(client, runtime, year):
    from tests.archive.conftest import complete_envelope

    if "postgresql" in runtime.settings.database_url:
        pytest.skip("one real archived document on SQLite is enough here")
    complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    make_user(runtime, email=AUDITOR, role="auditor")
    login(client, AUDITOR)
    with unit_of_work(runtime.db) as session:
        entry = session.scalars(select(ArchiveEntry)).one()
    page = client.get(f"/archive/{entry.sha256}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Zoë Vermeulen-D&#39;Hondt" in html and "archive.stored" in html
    assert html.count("TOTAL_PASSED") == 3 and "B-LTA" in html
    assert client.get(f"/archive/{entry.sha256}/report.html").status_code == 200
    export = client.post("/archive/export", data={"csrf_token": csrf_token(html),
                                                  "sha256": entry.sha256})
    assert export.status_code == 200 and export.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    assert f"documents/{entry.sha256}.pdf" in names
    check = package.verify_package(export.data)
    assert check.ok, check.problems
