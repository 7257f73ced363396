"""Verification reports in the web app: uploaded PDFs and every envelope document."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import Placement
from tests.signing.verify.tamper import append_content_update
from tests.web.helpers import csrf_token, login, make_user
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign, _sign_link


def _document(runtime, placement_id: int) -> tuple[int, bytes]:
    with unit_of_work(runtime.db) as session:
        document = session.get(Placement, placement_id).current_documents()[0]
        return document.id, runtime.blobs.get(document.current_revision.sha256)


def test_envelope_document_report_follows_the_pdf(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    document_id, _ = _document(runtime, placement_id)
    url = f"/coordinator/placements/{placement_id}/documents/{document_id}/report"
    unsigned = client.get(url, headers={"Accept": "application/json"}).get_json()
    assert (unsigned["indication"], unsigned["sub_indication"]) == ("INDETERMINATE",
                                                                   "NO_SIGNATURE_FOUND")
    assert unsigned["policy"] == "strict"
    _open_envelope(client, placement_id)
    _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt")
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "TOTAL_PASSED" in html
    assert "Zoë Vermeulen-D&#39;Hondt" in html and "B-T" in html
    report = client.get(url + "?format=json").get_json()
    [signature] = [s for s in report["signatures"] if s["kind"] == "signature"]
    assert signature["field_name"] == "Signature_student" and signature["intact"]
    assert signature["chain"][-1].startswith("Common Name: docservice Dev Root CA") or \
        "docservice Dev Root CA" in signature["chain"][-1]


def test_uploaded_tampered_pdf_is_reported_failed(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt")
    _, signed = _document(runtime, placement_id)
    tampered = append_content_update(signed)
    form = csrf_token(client.get("/verify").get_data(as_text=True))
    response = client.post("/verify", data={"csrf_token": form, "policy": "auto",
                                            "file": (io.BytesIO(tampered), "contract.pdf")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "TOTAL_FAILED" in html and "page 1" in html
    # In words in the page's language; the code only beside them, for auditors.
    assert "Mislukt" in html and "de handtekening voldoet niet aan het beleid" in html
    assert "TOTAL_FAILED" not in re.sub(r"<code>[^<]*</code>", "", html)
    assert "SIG_CONSTRAINTS_FAILURE" not in re.sub(r"<code>[^<]*</code>", "", html)
    # The engine's English sentences, marked English under a Dutch label.
    assert "Details (Engels)" in html and '<ul lang="en"><li>' in html
    english = client.post("/verify?lang=en", data={
        "csrf_token": form, "policy": "auto",
        "file": (io.BytesIO(tampered), "contract.pdf")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "Failed <code>TOTAL_FAILED</code>" in english and "Mislukt" not in english
    assert "the signature does not meet the policy" in english and '<ul lang="en">' not in english
    garbage = client.post("/verify?format=json", data={
        "csrf_token": form, "file": (io.BytesIO(b"not a pdf at all"), "x.pdf")},
        content_type="multipart/form-data").get_json()
    assert garbage["indication"] in ("TOTAL_FAILED", "INDETERMINATE")
    assert garbage["sub_indication"] == "FORMAT_FAILURE"


def test_reports_need_the_coordinator_or_auditor_role(client, runtime, year):
    assert client.get("/verify").status_code == 302  # to the login page
    make_user(runtime, "auditor@school.example.org", role="auditor")
    login(client, "auditor@school.example.org")
    assert client.get("/verify").status_code == 200
    with unit_of_work(runtime.db) as session:
        assert session.scalars(select(Placement)).first() is None
    assert client.get("/coordinator/placements/1/documents/1/report").status_code == 404
