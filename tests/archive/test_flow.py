"""Approving an envelope archives its documents as PAdES B-LTA, verified before they are stored.

The envelope is signed over HTTP as in tests/web/test_signing_flow.py: real LibreOffice, real
signatures and timestamps, the school's approval commits and its after-commit hook runs the
archiving job. Long-term validation is pyhanko's, offline, trusting only the PKI's root.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import SignatureCoverageLevel
from sqlalchemy import select

from docservice.archive import records
from docservice.archive.records import add_years
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs import archiving
from docservice.models import ArchiveEntry, AuditEvent, Document, Placement
from docservice.services.archive_status import archive_statuses
from docservice.signing import ltv
from docservice.signing.pki import ROOT_CERT
from docservice.signing.verify import verdict
from tests.archive.conftest import complete_envelope
from tests.signing.pdfsig import pdfsig_report
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import (
    COMPANY,
    STUDENT,
    _open_envelope,
    _prepare,
    _sign,
    _sign_link,
)


def test_approval_archives_every_document_as_b_lta(app, client, runtime, inbox, year,
                                                   tmp_path: Path):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    assert _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt").status_code == 200
    assert _sign(client, _sign_link(inbox, COMPANY), "Els Janssens").status_code == 200
    with unit_of_work(runtime.db) as session:
        ids = [d.id for d in session.get(Placement, placement_id).current_documents()]
        assert {s.state for s in archive_statuses(session, ids).values()} == {
            "not_completed"}
    page = f"/coordinator/placements/{placement_id}"
    response = client.post(f"{page}/envelope/approve",
                           data={"csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True)),
                                 "confirm": "1"})
    assert response.status_code == 302

    store = runtime.archive_store
    pki = runtime.signer.pki
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        documents = placement.current_documents()
        statuses = archive_statuses(session, [d.id for d in documents])
        assert [statuses[d.id].state for d in documents] == ["archived"] * 3
        signed = {d.kind: runtime.blobs.get(d.current_revision.sha256) for d in documents}
        entries = {e.document_kind: e for e in session.scalars(select(ArchiveEntry))}
        actions = [e.action for e in session.scalars(
            select(AuditEvent).where(AuditEvent.placement_id == placement_id))]
    assert actions.count("archive.stored") == 3
    assert actions.index("envelope.completed") < actions.index("archive.stored")

    retention_end = add_years(date(2024, 5, 17), 10)
    for kind, entry in entries.items():
        pdf = store.get(records.pdf_key(entry.sha256))
        assert sha256_hex(pdf) == entry.sha256 == statuses[entry.document_id].sha256
        assert pdf.startswith(signed[kind]), "B-LTA completion appends, never rewrites"
        assert entry.retention_until == retention_end and entry.retention_locked

        # B-LTA: a DSS with the certificates and CRLs of every signature, then a document
        # timestamp covering all of it.
        reader = PdfFileReader(io.BytesIO(pdf))
        dss = reader.root["/DSS"]
        assert len(dss["/Certs"]) >= 5 and len(dss["/CRLs"]) == 2 and len(dss["/OCSPs"]) == 2
        [doc_ts] = reader.embedded_timestamp_signatures
        assert doc_ts.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
        assert [s.field_name for s in reader.embedded_regular_signatures] == [
            "Signature_student", "Signature_company", "Signature_school"]

        # pyhanko's AdES long-term validation, offline, nothing but the root and the file.
        now = ltv.lta_validation(pdf, pki.trust_roots)
        assert [r.passed for r in now] == [True] * 3, [r.to_json() for r in now]
        at_end = ltv.simulate_future(pdf, pki.trust_roots,
                                     at=datetime(2034, 5, 17, 23, 0, tzinfo=UTC))
        assert [r.passed for r in at_end] == [True] * 3, [r.to_json() for r in at_end]

        # The manifest and the report are beside the PDF, and say what an auditor needs.
        manifest = json.loads(store.get(records.manifest_key(entry.sha256)))
        assert sha256_hex(store.get(records.manifest_key(entry.sha256))) == \
            entry.manifest_sha256
        assert manifest["placement"]["academic_year"] == "2023-2024"
        assert manifest["placement"]["student_number"] == "r0123456"
        assert manifest["document"]["kind"] == kind
        assert [s["role"] for s in manifest["signers"]] == ["student", "company", "school"]
        assert manifest["signers"][0]["name"] == "Zoë Vermeulen-D'Hondt"
        assert all(s["timestamp_time"] and s["certificate_sha256"] for s in manifest["signers"])
        assert manifest["verification"]["verdict"] == "passed"
        assert manifest["verification"]["pades_level"] == "B-LTA"
        assert manifest["retention_until"] == "2034-05-17"
        report = json.loads(store.get(records.report_key(entry.sha256)))
        assert sha256_hex(store.get(records.report_key(entry.sha256))) == \
            manifest["report"]["sha256"]
        assert report["engine"]["name"] == "docservice.signing.verify"
        assert report["engine"]["indication"] == "TOTAL_PASSED"
        assert report["long_term"]["passed"] is True
        assert b"Verification report" in store.get(records.report_html_key(entry.sha256))

        # pdfsig's second opinion: every approval signature valid and trusted.
        path = tmp_path / f"{kind}.pdf"
        path.write_bytes(pdf)
        opinion = pdfsig_report(path, pki.folder / ROOT_CERT, tmp_path)
        approvals = [s for s in opinion if s.get("Signature Field Name", "").startswith(
            "Signature_")]
        assert len(approvals) == 3, opinion
        for signature in approvals:
            assert signature["Signature Validation"] == "Signature is Valid.", signature
            assert signature["Certificate Validation"] == "Certificate is Trusted.", signature

    # The job is idempotent: running it again archives nothing twice.
    outcomes = archiving.archive_envelope(runtime, _envelope_id(runtime, placement_id))
    assert {o.state for o in outcomes} == {"already"}


def _envelope_id(runtime, placement_id: int) -> int:
    with unit_of_work(runtime.db) as session:
        return session.get(Placement, placement_id).envelope.id


def test_lta_simulated_ten_years_ahead(runtime, year, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("does not depend on the database")
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        [entry] = session.scalars(select(ArchiveEntry)).all()
        assert entry.document_id == done.document_ids[0]
    pdf = runtime.archive_store.get(records.pdf_key(entry.sha256))
    today = datetime.now(UTC)
    results = ltv.simulate_future(pdf, runtime.signer.pki.trust_roots,
                                  at=today.replace(year=today.year + 10) + timedelta(hours=1))
    by_field = {r.field_name: r for r in results}
    assert by_field["Signature_school"].passed
    assert all(r.passed for r in results), [r.to_json() for r in results]


def test_archiving_checks_that_the_validation_data_is_embedded(runtime, year, database_url):
    """The fast check used at archive time sees what a future validator would miss."""
    if not database_url.startswith("sqlite"):
        pytest.skip("does not depend on the database")
    done = complete_envelope(runtime, n=1, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        entry = session.scalars(select(ArchiveEntry).where(
            ArchiveEntry.document_id == done.document_ids[0])).one()
        signed = session.get(Document, done.document_ids[0]).current_revision.sha256
    store = runtime.archive_store
    pdf = store.get(records.pdf_key(entry.sha256))
    roots = runtime.signer.pki.trust_roots
    assert ltv.dss_coverage(pdf, roots) == []
    report = json.loads(store.get(records.report_key(entry.sha256)))
    assert report["long_term"]["passed"] is True
    assert report["long_term"]["method"] == "validation data embedded"
    # The signed PDF before archiving carries no DSS and no document timestamp.
    before = ltv.dss_coverage(runtime.blobs.get(signed), roots)
    assert before == ["no validation data (DSS): the document is not B-LT"]
    # Against other trust roots nothing chains: every signature and timestamp is named.
    stranger = ltv.dss_coverage(pdf, [])
    assert any("Signature_student" in p and "does not chain" in p for p in stranger)
    assert any("DocTimeStamp" in p for p in stranger)
    # The deep check (`archive verify`) agrees with the fast one.
    deep = verdict.verify_bytes(pdf, runtime.ltv_sources(), deep=True,
                                long_term_at=entry.retention_until).to_json()
    assert deep["verdict"] == "passed", deep["problems"]
    assert deep["long_term"]["passed"] is True
