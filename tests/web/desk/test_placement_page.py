"""A placement's page: history with time, actor, IP address and browser; the desk's actions."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import Document, Envelope
from tests.web.desk.conftest import Flow, Year, placement_row
from tests.web.helpers import csrf_token

STUDENT_BROWSER = {"REMOTE_ADDR": "192.0.2.7", "HTTP_USER_AGENT": "StudentPhone/2.0 (Android)"}
COORDINATOR_BROWSER = {"REMOTE_ADDR": "10.20.30.40", "HTTP_USER_AGENT": "CoordinatorDesk/1.0"}


def _history(page: str) -> list[tuple[str, str, str, str, str]]:
    """(time, action, actor, ip, user agent) of each row of the history table."""
    section = page[page.index('id="history"'):]
    return re.findall(r'<tr data-action="([\w.]+)">\s*<td>([^<]*)</td>\s*<td>[^<]*</td>\s*'
                      r'<td>([^<]*)</td>\s*<td class="mono">([^<]*)</td>\s*'
                      r'<td class="ua">([^<]*)</td>', section)


def test_history_reminder_revoke_and_regenerate(flow: Flow, desk_year: Year):
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    student, company = "student0@student.example.org", "company0@firm.example.com"
    flow.login()
    flow.generate()
    page = f"/coordinator/desk/placements/{p}"
    flow.post(f"/coordinator/placements/{p}/envelope", page=page, **COORDINATOR_BROWSER)
    invitation = flow.link(student)
    flow.sign(p, "student", **STUDENT_BROWSER)
    company_link = flow.link(company)

    # Send a reminder now: first a page that names who gets it and that the link they have
    # stops working; it sends nothing and the link still works.
    asked = flow.post(f"{page}/remind", page=page, expect=200, **COORDINATOR_BROWSER)
    html = asked.get_data(as_text=True)
    assert 'id="confirm-page"' in html and 'name="confirm" value="1"' in html
    assert company in html and "krijgt nu een herinnering per e-mail" in html
    assert "werkt daarna niet meer" in html
    assert len(flow.inbox.to(company)) == 1  # the invitation only
    assert flow.client.get(company_link).status_code == 200
    # Confirmed: the company gets a fresh link, the invitation's stops working.
    flow.post(f"{page}/remind", page=page, data={"confirm": "1"}, **COORDINATOR_BROWSER)
    [_, reminder] = flow.inbox.to(company)
    assert reminder["Subject"].startswith("Herinnering: stagedocumenten van")
    assert flow.client.get(company_link).status_code == 410
    fresh = flow.link(company)
    assert flow.client.get(fresh).status_code == 200
    # Revoke it: the link stops working, until the coordinator sends a new one.
    flow.post(f"{page}/links/company/revoke", page=page)
    assert flow.client.get(fresh).status_code == 410
    assert flow.client.get(invitation).status_code == 410  # the student's was used up

    html = flow.client.get(page).get_data(as_text=True)
    history = _history(html)
    actions = [h[0] for h in history]
    for action in ("placement.imported", "document.generated", "envelope.opened",
                   "signer.invited", "link.opened", "signer.signed", "reminder.sent",
                   "link.revoked"):
        assert action in actions, (action, actions)
    signed = next(h for h in history if h[0] == "signer.signed")
    assert signed[2] == f"student:{student}" and signed[3] == "192.0.2.7"
    assert signed[4] == "StudentPhone/2.0 (Android)"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", signed[1])
    opened = next(h for h in history if h[0] == "link.opened")
    assert opened[3] == "192.0.2.7" and opened[4].startswith("StudentPhone")
    reminded = next(h for h in history if h[0] == "reminder.sent")
    assert reminded[2] == "coordinator@school.example.org" and reminded[3] == "10.20.30.40"
    assert "uitnodiging verstuurd" in html and "herinnering verstuurd" in html
    assert "ondertekend" in html and 'id="reminders"' in html

    # The verification report of the document: the student's signature verifies.
    with unit_of_work(flow.runtime.db) as session:
        [document] = session.scalars(select(Document)).all()
        old_document_id = document.id
    report = flow.client.get(f"{page}/documents/{old_document_id}/verification")
    assert report.status_code == 200 and "Verificatierapport" in report.get_data(as_text=True)
    verdict = flow.client.get(f"{page}/documents/{old_document_id}/verification?format=json"
                              ).get_json()
    assert [(s["role"], s["passed"]) for s in verdict["signatures"]] == [("student", True)]

    # Cancel and regenerate: a reason is required; the old envelope is kept, superseded.
    refused = flow.post(f"{page}/envelope/regenerate", page=page, data={"reason": " "},
                        expect=422)
    assert "reason" in refused.get_data(as_text=True)
    # The student signed: a page names that signature first; only confirming replaces it.
    asked = flow.post(f"{page}/envelope/regenerate", page=page, expect=200,
                      data={"reason": "Verkeerde startdatum in de import"})
    confirm = asked.get_data(as_text=True)
    assert 'id="signatures-lost"' in confirm and 'data-role="student"' in confirm
    token = re.search(r'name="confirm" value="(\w+)"', confirm)
    assert token
    flow.post(f"{page}/envelope/regenerate", page=page,
              data={"reason": "Verkeerde startdatum in de import", "confirm": token.group(1)})
    with unit_of_work(flow.runtime.db) as session:
        envelopes = list(session.scalars(select(Envelope).order_by(Envelope.id)))
        documents = list(session.scalars(select(Document).order_by(Document.id)))
        assert [e.status for e in envelopes] == ["cancelled", "open"]
        assert [r.status for r in envelopes[0].requests] == ["signed", "cancelled", "cancelled"]
        assert documents[0].superseded_at is not None and documents[1].superseded_at is None
        assert documents[0].reference.endswith("-1") and documents[1].reference.endswith("-2")
        assert documents[1].envelope_id == envelopes[1].id
    assert len(flow.inbox.to(student)) == 2  # invited again, for the new documents
    html = flow.client.get(page).get_data(as_text=True)
    assert 'id="older"' in html and "vervangen" in html
    assert "envelope.superseded" in html and "Verkeerde startdatum in de import" in html
    assert 'data-state="waiting_student"' in html
    # The superseded document's verdict can still be read: the student's signature holds.
    old = flow.client.get(f"{page}/documents/{old_document_id}/verification?format=json")
    assert [(s["role"], s["passed"]) for s in old.get_json()["signatures"]] == [
        ("student", True)]


def test_an_auditor_reads_the_page_but_cannot_act(flow: Flow, desk_year: Year):
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    flow.login("auditor@school.example.org", role="auditor")
    page = flow.client.get(f"/coordinator/desk/placements/{p}")
    assert page.status_code == 200
    assert "/remind" not in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    assert flow.client.post(f"/coordinator/desk/placements/{p}/remind",
                            data={"csrf_token": token}).status_code == 403
    assert flow.client.get("/coordinator/").status_code == 403
