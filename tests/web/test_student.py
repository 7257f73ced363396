"""A student's personal link: their own documents only; wrong, expired or replaced links refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import AccessLink, AuditEvent, Placement
from docservice.services import links
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.helpers import csrf_token, login, make_user


def _cohort(runtime) -> dict[str, tuple[int, list[int]]]:
    """Two students, documents generated: student number -> (placement id, document ids)."""
    with unit_of_work(runtime.db) as session:
        import_placements(session, csv_bytes([row(0), row(1, nda="nee", copyright_waiver="nee")]),
                          actor=TEST_ACTOR)
        generate_missing(session, converter=runtime.converter, blobs=runtime.blobs,
                         templates_root=runtime.settings.templates_path, pdfa=False, converters=2,
                         actor=TEST_ACTOR)
    with unit_of_work(runtime.db) as session:
        return {p.student_number: (p.id, [d.id for d in p.current_documents()])
                for p in session.scalars(select(Placement))}


def _link(runtime, placement_id: int, *, days: int = 30) -> str:
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        _, token = links.issue_link(session, placement, purpose=links.STUDENT,
                                    now=datetime.now(UTC), valid_for=timedelta(days=days),
                                    actor=TEST_ACTOR)
    return token


def test_link_shows_and_serves_only_that_students_documents(client, runtime, year):
    cohort = _cohort(runtime)
    zoe_id, zoe_docs = cohort["r0123456"]
    _, other_docs = cohort["r0123457"]
    token = _link(runtime, zoe_id)

    page = client.get(f"/s/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Vermeulen-D&#39;Hondt" in html
    for title in ("Stageovereenkomst", "Geheimhoudingsverklaring", "Afstand van auteursrecht"):
        assert title in html
    assert page.headers["Cache-Control"] == "no-store"

    pdf = client.get(f"/s/{token}/documents/{zoe_docs[0]}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="r0123456-stageovereenkomst.pdf"'
    docx = client.get(f"/s/{token}/documents/{zoe_docs[0]}.docx")
    assert docx.status_code == 200 and docx.data.startswith(b"PK")

    # Another student's document through this link: not found, as if it did not exist.
    refused = client.get(f"/s/{token}/documents/{other_docs[0]}.pdf")
    assert refused.status_code == 404
    assert b"%PDF" not in refused.data
    assert client.get(f"/s/{token}/documents/{zoe_docs[0]}.exe").status_code == 404

    with unit_of_work(runtime.db) as session:
        downloads = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "document.downloaded")).all()
        assert len(downloads) == 2 and downloads[0].placement_id == zoe_id


def test_wrong_link_gets_a_clear_404(client, runtime, year):
    response = client.get("/s/not-a-real-token-at-all")
    assert response.status_code == 404
    assert "Deze link bestaat niet" in response.get_data(as_text=True)


def test_expired_and_replaced_links_get_410(client, runtime, year):
    cohort = _cohort(runtime)
    placement_id, docs = cohort["r0123456"]
    old = _link(runtime, placement_id)
    new = _link(runtime, placement_id)
    replaced = client.get(f"/s/{old}")
    assert replaced.status_code == 410
    assert "vervangen door een nieuwere link op" in replaced.get_data(as_text=True)
    assert client.get(f"/s/{old}/documents/{docs[0]}.pdf").status_code == 410
    assert client.get(f"/s/{new}").status_code == 200
    with freeze_time(datetime.now(UTC) + timedelta(days=31)):
        expired = client.get(f"/s/{new}")
    assert expired.status_code == 410
    assert "Deze link is verlopen op" in expired.get_data(as_text=True)


def test_tokens_are_stored_only_as_hashes(runtime, year):
    placement_id, _ = _cohort(runtime)["r0123456"]
    token = _link(runtime, placement_id)
    assert len(token) >= 43  # 256 bits, url-safe base64
    with unit_of_work(runtime.db) as session:
        stored = session.scalars(select(AccessLink.token_hash)).all()
    assert token not in stored and links.hash_token(token) in stored


def test_coordinator_emails_the_link_and_the_student_opens_it(client, runtime, inbox, year):
    placement_id, _ = _cohort(runtime)["r0123456"]
    make_user(runtime)
    login(client)
    token = csrf_token(client.get(f"/coordinator/desk/placements/{placement_id}")
                       .get_data(as_text=True))
    response = client.post(f"/coordinator/placements/{placement_id}/student-link",
                           data={"csrf_token": token, "send": "email", "confirm": "1"})
    assert response.status_code == 200
    assert "De link werd gemaild naar student0@student.example.org" in response.get_data(as_text=True)
    [message] = inbox.to("student0@student.example.org")
    body = message.get_content()
    assert message["Subject"] == "Je stagedocumenten – Thomas More"
    assert "Beste Zoë" in body and "Janssens & Zonen BV" in body
    assert re.search(r"SHA-256 [0-9a-f]{64}", body)
    url = re.search(r"http://localhost/s/[A-Za-z0-9_-]+", body).group(0)
    page = client.get(url.removeprefix("http://localhost"))
    assert page.status_code == 200 and "Stageovereenkomst" in page.get_data(as_text=True)
