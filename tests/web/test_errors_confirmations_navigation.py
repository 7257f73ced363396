"""Issue 15, items 8-11: errors beside their field, a second step before what cannot be undone,
a way around for every role, and the details (stamp, desk column, words, mail)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.domain import signature_field_name
from docservice.models import AccessLink, AuditEvent, Envelope, Placement
from docservice.services.users import add_user
from tests.signing.samples import stamp_lines
from tests.web.helpers import PASSWORD, csrf_token, login, make_user
from tests.web.test_signing_flow import (
    COMPANY,
    STUDENT,
    _open_envelope,
    _prepare,
    _revisions,
    _sign,
    _sign_link,
)

PRINTED_SIGNATORY = "Frank Vandromme"  # school.coordinator_name of data/academic-years/2023-2024


def _tag(html: str, element_id: str) -> str:
    match = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', html)
    assert match, f"no element #{element_id}"
    return match.group(0)


def _envelope(runtime) -> Envelope:
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        session.expunge_all()
        return envelope


def _events(runtime, action: str) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == action))


def _live_links(runtime) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(AccessLink)
                              .where(AccessLink.revoked_at.is_(None)))


# --- item 8: errors beside their field ---------------------------------------------------------


def test_a_wrong_name_is_refused_beside_the_field_and_keeps_what_was_entered(
        client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    before = _revisions(runtime)

    wrong = _sign(client, link, "Els Janssens")
    assert wrong.status_code == 422
    html = wrong.get_data(as_text=True)
    field = _tag(html, "full_name")
    assert 'aria-invalid="true"' in field and 'aria-describedby="full_name-error"' in field
    assert 'value="Els Janssens"' in field and "autofocus" in field
    assert "checked" in _tag(html, "consent")  # the consent box stays ticked
    error = re.search(r'<p [^>]*id="full_name-error"[^>]*>([^<]*)</p>', html)
    assert error and "Typ je volledige naam zoals hij hier staat" in error.group(1)
    # Beside the field: right after it in the sign form, not at the top of the page.
    assert html.index('id="full_name"') < html.index('id="full_name-error"') < html.index(
        "Alle documenten ondertekenen")

    no_consent = _sign(client, link, "Zoë Vermeulen-D'Hondt", consent=False)
    assert no_consent.status_code == 422
    box = _tag(no_consent.get_data(as_text=True), "consent")
    assert 'aria-invalid="true"' in box and 'aria-describedby="consent-error"' in box
    assert 'id="consent-error"' in no_consent.get_data(as_text=True)
    assert _revisions(runtime) == before


def test_a_refused_login_keeps_the_email_address(client, runtime):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "password": "wrong",
                                           "email": "coordinator@school.example.org"})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    email = _tag(html, "email")
    assert 'value="coordinator@school.example.org"' in email and 'aria-invalid="true"' in email
    password = _tag(html, "password")
    assert 'aria-describedby="login-error"' in password and "autofocus" in password
    assert 'id="login-error"' in html


# --- item 9: a second step before what cannot be undone ----------------------------------------


def test_declining_asks_first_and_names_the_consequence(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    token = csrf_token(client.get(link).get_data(as_text=True))

    first = client.post(f"{link}/decline", data={"csrf_token": token, "reason": "Verkeerde datum"})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "stopt de ondertekening voor iedereen" in html and "Verkeerde datum" in html
    assert 'name="confirm" value="1"' in html
    assert _envelope(runtime).status == "open" and client.get(link).status_code == 200

    confirmed = client.post(f"{link}/decline", data={"csrf_token": csrf_token(html),
                                                     "reason": "Verkeerde datum", "confirm": "1"})
    assert confirmed.status_code == 200 and 'id="declined"' in confirmed.get_data(as_text=True)
    assert _envelope(runtime).status == "declined"


def test_an_empty_reason_is_refused_beside_the_field(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    token = csrf_token(client.get(link).get_data(as_text=True))
    response = client.post(f"{link}/decline", data={"csrf_token": token, "reason": "  "})
    assert response.status_code == 422
    reason = _tag(response.get_data(as_text=True), "reason")
    assert 'aria-describedby="reason-error"' in reason and 'aria-invalid="true"' in reason


def test_approving_asks_first_and_the_stamp_names_the_agreements_signatory(
        client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    # Someone else than the printed signatory clicks "approve": the stamp must not say so.
    with unit_of_work(runtime.db) as session:
        add_user(session, email="demo@school.example.org", name="Demo coordinator",
                 role="coordinator", password=PASSWORD)
    login(client, "demo@school.example.org")
    _open_envelope(client, placement_id)
    _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt")
    _sign(client, _sign_link(inbox, COMPANY), "Els Janssens")
    page = f"/coordinator/placements/{placement_id}"
    before = _revisions(runtime)

    first = client.post(f"{page}/envelope/approve", data={
        "csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert 'id="consequence"' in html and PRINTED_SIGNATORY in html
    assert "kan niet ingetrokken worden" in html and 'name="confirm" value="1"' in html
    assert _revisions(runtime) == before and _envelope(runtime).status == "open"

    confirmed = client.post(f"{page}/envelope/approve",
                            data={"csrf_token": csrf_token(html), "confirm": "1"})
    assert confirmed.status_code == 302
    assert _envelope(runtime).status == "completed"
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        school = placement.envelope.request_for("school")
        assert school.signer_name == school.signed_name == PRINTED_SIGNATORY
        agreement = next(d for d in placement.current_documents()
                         if d.kind == "stageovereenkomst")
        pdf = runtime.blobs.get(agreement.current_revision.sha256)
        signed = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "signer.signed").order_by(AuditEvent.id)).all()[-1]
        assert signed.detail["approved_by"] == "Demo coordinator"  # who clicked: in the trail
    stamp = stamp_lines(pdf, signature_field_name("school"))
    assert stamp[3] == f"goedgekeurd door {PRINTED_SIGNATORY}"
    assert not any("Demo coordinator" in line for line in stamp)


def test_a_new_signing_link_asks_first_while_the_old_one_works(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    old = _sign_link(inbox, STUDENT)
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))

    first = client.post(f"{page}/envelope/resend/student", data={"csrf_token": token})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "werkt daarna niet" in html and STUDENT in html
    assert client.get(old).status_code == 200 and len(inbox.to(STUDENT)) == 1

    confirmed = client.post(f"{page}/envelope/resend/student",
                            data={"csrf_token": csrf_token(html), "confirm": "1"})
    assert confirmed.status_code == 302
    assert client.get(old).status_code == 410 and len(inbox.to(STUDENT)) == 2


def test_a_new_student_link_asks_first_only_when_one_works(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    path = f"/coordinator/placements/{placement_id}/student-link"
    token = csrf_token(client.get(f"/coordinator/desk/placements/{placement_id}")
                       .get_data(as_text=True))
    issued = client.post(path, data={"csrf_token": token, "send": "show"})
    assert issued.status_code == 200 and "/s/" in issued.get_data(as_text=True)
    live = _live_links(runtime)
    personal = re.search(r"http://localhost(/s/[A-Za-z0-9_-]+)",
                         issued.get_data(as_text=True)).group(1)

    first = client.post(path, data={"csrf_token": token, "send": "show"})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "werkt daarna niet meer" in html and "/s/" not in html
    assert _live_links(runtime) == live and client.get(personal).status_code == 200

    confirmed = client.post(path, data={"csrf_token": token, "send": "show", "confirm": "1"})
    assert confirmed.status_code == 200 and "/s/" in confirmed.get_data(as_text=True)
    assert client.get(personal).status_code == 410


# --- item 10: finding one's way ----------------------------------------------------------------


def test_the_root_sends_each_role_to_its_landing_page(app, runtime):
    assert app.test_client().get("/").headers["Location"].startswith("/login")
    make_user(runtime, "coordinator@school.example.org", role="coordinator")
    make_user(runtime, "auditor@school.example.org", role="auditor")
    make_user(runtime, "admin@school.example.org", role="admin")
    for email, landing in (("coordinator@school.example.org", "/coordinator/"),
                           ("auditor@school.example.org", "/archive/"),
                           ("admin@school.example.org", "/coordinator/")):
        client = app.test_client()
        login(client, email)
        response = client.get("/")
        assert response.status_code == 302 and response.headers["Location"] == landing, email
        assert client.get(landing).status_code == 200


def test_the_menu_shows_each_role_its_pages_and_none_leads_to_a_403(app, runtime):
    make_user(runtime, "coordinator@school.example.org", role="coordinator")
    make_user(runtime, "auditor@school.example.org", role="auditor")
    expected = {"coordinator@school.example.org": {"desk", "archive", "verify", "jobs", "api"},
                "auditor@school.example.org": {"archive", "verify"}}
    for email, items in expected.items():
        client = app.test_client()
        login(client, email)
        html = client.get("/", follow_redirects=True).get_data(as_text=True)
        menu = re.search(r'<nav class="menu".*?</nav>', html, re.S).group(0)
        links = dict(re.findall(r'id="nav-([a-z]+)" href="([^"]+)"', menu))
        assert set(links) == items, (email, links)
        assert re.search(r'<a class="brand" href="/">', html)
        for target in [*links.values(), "/"]:
            status = client.get(target, follow_redirects=True).status_code
            assert status == 200, (email, target, status)


# --- item 11: details --------------------------------------------------------------------------


def test_the_desk_names_who_is_next_and_speaks_plain_words(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    html = client.get("/coordinator/?year=2023-2024").get_data(as_text=True)
    row = re.search(rf'data-placement="{placement_id}".*?</tr>', html, re.S).group(0)
    next_cell = re.search(r'<td class="next">(.*?)</td>', row, re.S).group(1)
    assert "Zoë Vermeulen-D&#39;Hondt" in next_cell and f">{STUDENT}<" not in next_cell
    page = client.get(f"/coordinator/desk/placements/{placement_id}").get_data(as_text=True)
    assert "verify_pdf" not in page and ">Tabel<" not in page and "check_signatures" not in page


def test_the_reminder_mail_has_no_runs_of_blank_lines(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    page = f"/coordinator/desk/placements/{placement_id}"
    token = csrf_token(client.get(page).get_data(as_text=True))
    assert client.post(f"{page}/remind", data={"csrf_token": token,
                                               "confirm": "1"}).status_code == 302
    reminder = inbox.to(STUDENT)[-1]
    assert reminder["Subject"].startswith("Herinnering")
    assert "\n\n\n" not in reminder.get_content()
