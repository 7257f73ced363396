"""Signing in order over HTTP: links from real e-mails, real PAdES signatures, pdfsig's opinion."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from freezegun import freeze_time
from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.models import AuditEvent, Envelope, Placement, Revision
from docservice.services import links
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from docservice.signing.pki import ROOT_CERT
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.signing.pdfsig import pdfsig_report
from tests.signing.pyhanko_check import check_signatures
from tests.web.helpers import csrf_token, login, make_user

STUDENT = "student0@student.example.org"
COMPANY = "els@janssens.example.com"
COORDINATOR = "frank.vandromme@thomasmore.be"


def _prepare(client, runtime, **overrides) -> int:
    """One placement with its documents, a logged-in coordinator; returns the placement id."""
    with unit_of_work(runtime.db) as session:
        [placement] = import_placements(session, csv_bytes([row(0, **overrides)]),
                                        actor=TEST_ACTOR).placements
        generate_missing(session, converter=runtime.converter, blobs=runtime.blobs,
                         templates_root=runtime.settings.templates_path, pdfa=True, converters=2,
                         actor=TEST_ACTOR)
        placement_id = placement.id
    make_user(runtime, email="coordinator@school.example.org")
    login(client)
    return placement_id


def _open_envelope(client, placement_id: int) -> None:
    page = f"/coordinator/placements/{placement_id}"
    response = client.post(f"{page}/envelope",
                           data={"csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)


def _sign_link(inbox, address: str, n: int = 1) -> str:
    messages = inbox.to(address)
    assert len(messages) >= n, [m["To"] for m in inbox.messages]
    match = re.search(r"http://localhost(/sign/[A-Za-z0-9_-]+)", messages[n - 1].get_content())
    assert match, messages[n - 1].get_content()
    return match.group(1)


def _sign(client, path: str, name: str, consent: bool = True):
    token = csrf_token(client.get(path).get_data(as_text=True))
    data = {"csrf_token": token, "full_name": name}
    if consent:
        data["consent"] = "yes"
    return client.post(path, data=data)


def _revisions(runtime) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Revision))


def _final_pdfs(runtime, placement_id: int) -> dict[str, bytes]:
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        return {d.kind: runtime.blobs.get(d.current_revision.sha256)
                for d in placement.current_documents()}


def test_three_signers_in_order_produce_valid_trusted_timestamped_signatures(
        app, client, runtime, inbox, year, tmp_path: Path):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)

    student_link = _sign_link(inbox, STUDENT)
    message = inbox.to(STUDENT)[0]
    assert message["Subject"].startswith("Te ondertekenen: stagedocumenten van Zoë")
    body = message.get_content()
    assert "Onderteken uiterlijk op 15/12/2023" in body
    assert len(re.findall(r"SHA-256 [0-9a-f]{64}", body)) == 3

    review = client.get(student_link)
    html = review.get_data(as_text=True)
    assert review.status_code == 200
    assert "Frank Vandromme" in html and "15/12/2023" in html
    assert len(re.findall(r"SHA-256 <span class=\"mono\">[0-9a-f]{64}", html)) == 3
    preview = re.search(r'src="(/sign/[^"]+/pages/1\.png)"', html).group(1)
    image = client.get(preview)
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")

    assert not inbox.to(COMPANY), "the company is invited only after the student signed"
    done = _sign(client, student_link, "Zoë Vermeulen-D'Hondt")
    assert done.status_code == 200 and 'id="signed"' in done.get_data(as_text=True)

    company_link = _sign_link(inbox, COMPANY)
    assert not inbox.to(COORDINATOR)
    assert _sign(client, company_link, "els janssens").status_code == 200  # case is forgiven

    approval = inbox.to(COORDINATOR)[0].get_content()
    assert f"/coordinator/desk/placements/{placement_id}" in approval
    page = f"/coordinator/placements/{placement_id}"
    response = client.post(f"{page}/envelope/approve",
                           data={"csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True)),
                                 "confirm": "1"})
    assert response.status_code == 302

    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        assert envelope.status == "completed"
        assert [r.status for r in envelope.requests] == ["signed"] * 3
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("signer.signed") == 3 and "envelope.completed" in actions
    assert any("Ondertekend" in m["Subject"] for m in inbox.to(STUDENT))

    pki = runtime.signer.pki
    pdfs = _final_pdfs(runtime, placement_id)
    assert set(pdfs) == {"stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht"}
    for kind, pdf in pdfs.items():
        checks = check_signatures(pdf, trust_roots=pki.trust_roots, crls=pki.crls)
        assert [c.field_name for c in checks] == [
            "Signature_student", "Signature_company", "Signature_school"], kind
        assert [c.signer_name for c in checks][:2] == ["Zoë Vermeulen-D'Hondt", "Els Janssens"]
        for check in checks:
            assert check.intact and check.valid and check.trusted, (kind, check)
            assert check.timestamped and check.timestamp_time is not None
            assert check.coverage in ("ENTIRE_REVISION", "ENTIRE_FILE")
            assert check.modification_level in ("NONE", "FORM_FILLING", "LTA_UPDATES")
            assert check.ok, (kind, check.problems)
        assert checks[-1].coverage == "ENTIRE_FILE"

        path = tmp_path / f"{kind}.pdf"
        path.write_bytes(pdf)
        report = pdfsig_report(path, pki.folder / ROOT_CERT, tmp_path)
        assert len(report) == 3, report
        for signature in report:
            assert signature["Signature Validation"] == "Signature is Valid.", signature
            assert signature["Certificate Validation"] == "Certificate is Trusted.", signature

    # Each signature was appended: every earlier revision is a prefix of the final file.
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        for document in placement.current_documents():
            blobs = [runtime.blobs.get(r.sha256) for r in document.revisions]
            assert [r.reason for r in document.revisions] == [
                "generated", "signed:student", "signed:company", "signed:school"]
            for earlier, later in pairwise(blobs):
                assert later.startswith(earlier)


def test_company_cannot_sign_before_the_student(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        company = envelope.request_for("company")
        _, token = links.issue_link(session, envelope.placement, purpose="sign",
                                    now=datetime.now(UTC), valid_for=timedelta(days=3),
                                    actor=TEST_ACTOR, signature_request_id=company.id)
    before = _revisions(runtime)
    page = client.get(f"/sign/{token}")
    assert page.status_code == 200
    assert "wachten op de student" in page.get_data(as_text=True)
    token_csrf = csrf_token(client.get("/login").get_data(as_text=True))
    refused = client.post(f"/sign/{token}", data={"csrf_token": token_csrf, "consent": "yes",
                                                  "full_name": "Els Janssens"})
    assert refused.status_code == 409
    # The company signatory reads Dutch: the refusal names who signs first, in Dutch.
    refusal = refused.get_data(as_text=True)
    assert "Nog niet aan de beurt" in refusal
    assert "eerst moet de student ondertekenen" in refusal
    assert _revisions(runtime) == before


def test_a_used_link_signs_once_and_then_is_refused(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    csrf = csrf_token(client.get(link).get_data(as_text=True))
    data = {"csrf_token": csrf, "consent": "yes", "full_name": "Zoë Vermeulen-D'Hondt"}
    before = _revisions(runtime)
    assert client.post(link, data=data).status_code == 200
    again = client.post(link, data=data)
    assert again.status_code == 410
    assert _revisions(runtime) == before + 3  # one signature on each of the three documents


def test_wrong_name_or_missing_consent_signs_nothing(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    before = _revisions(runtime)
    wrong = _sign(client, link, "Someone Else")
    assert wrong.status_code == 422
    assert "Typ je volledige naam zoals hij hier staat: Zoë Vermeulen-D&#39;Hondt" in wrong.get_data(as_text=True)
    assert _sign(client, link, "Zoë Vermeulen-D'Hondt", consent=False).status_code == 422
    assert _revisions(runtime) == before
    assert _sign(client, link, "zoe vermeulen-d'hondt").status_code == 200  # accents forgiven


def test_resent_and_expired_links_are_refused(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    old = _sign_link(inbox, STUDENT)
    page = f"/coordinator/placements/{placement_id}"
    response = client.post(f"{page}/envelope/resend/student",
                           data={"csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True)),
                                 "confirm": "1"})
    assert response.status_code == 302
    new = _sign_link(inbox, STUDENT, 2)
    replaced = client.get(old)
    assert replaced.status_code == 410
    assert "vervangen door een nieuwere link" in replaced.get_data(as_text=True)
    assert client.get(new).status_code == 200
    # The link lives until the contract deadline, or at least 14 days when that has passed.
    with freeze_time(datetime.now(UTC) + timedelta(days=15)):
        assert client.get(new).status_code == 410


def test_decline_stops_the_envelope_and_tells_the_coordinator(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    _sign(client, link, "Zoë Vermeulen-D'Hondt")
    company = _sign_link(inbox, COMPANY)
    csrf = csrf_token(client.get(company).get_data(as_text=True))
    declined = client.post(f"{company}/decline", data={
        "csrf_token": csrf, "confirm": "1", "reason": "De startdatum klopt niet: <b>1 maart</b>"})
    assert declined.status_code == 200 and 'id="declined"' in declined.get_data(as_text=True)
    [notice] = inbox.to(COORDINATOR)
    assert notice["Subject"] == "Geweigerd: stagedocumenten van Zoë Vermeulen-D'Hondt"
    assert "De startdatum klopt niet: <b>1 maart</b>" in notice.get_content()
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        assert envelope.status == "declined"
        assert [r.status for r in envelope.requests] == ["signed", "declined", "cancelled"]
    assert client.get(company).status_code == 410  # the envelope's links stop working
    page = client.get(f"/coordinator/placements/{placement_id}",
                      follow_redirects=True).get_data(as_text=True)
    assert "&lt;b&gt;1 maart&lt;/b&gt;" in page


def test_coordinator_changes_the_company_signatory_before_they_sign(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    _sign(client, _sign_link(inbox, STUDENT), "Zoë Vermeulen-D'Hondt")
    old = _sign_link(inbox, COMPANY)
    page = f"/coordinator/placements/{placement_id}"
    response = client.post(f"{page}/envelope/company-signatory", data={
        "csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True)),
        "name": "Jan Peeters", "email": "jan.peeters@janssens.example.com"})
    assert response.status_code == 302
    assert client.get(old).status_code == 410
    new = _sign_link(inbox, "jan.peeters@janssens.example.com")
    assert "Beste Jan Peeters" in inbox.to("jan.peeters@janssens.example.com")[0].get_content()
    assert _sign(client, new, "Jan Peeters").status_code == 200
    with unit_of_work(runtime.db) as session:
        changed = session.scalars(select(AuditEvent).where(AuditEvent.action == "signer.changed")).one()
        assert changed.detail["before"] == ["Els Janssens", COMPANY]
    bad = client.post(f"{page}/envelope/company-signatory", data={
        "csrf_token": csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True)),
        "name": "X", "email": "x@y.org"})
    assert bad.status_code == 409  # the company has signed: too late to change


def test_ten_simultaneous_sign_requests_make_one_revision(app, client, runtime, inbox, year):
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)
    clients = [app.test_client() for _ in range(10)]
    forms = [{"csrf_token": csrf_token(c.get(link).get_data(as_text=True)), "consent": "yes",
              "full_name": "Zoë Vermeulen-D'Hondt"} for c in clients]
    before = _revisions(runtime)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def attempt(c, form) -> None:
        barrier.wait()
        statuses.append(c.post(link, data=form).status_code)

    threads = [threading.Thread(target=attempt, args=(c, f)) for c, f in zip(clients, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses).count(200) == 1, statuses
    assert all(s in (200, 409, 410) for s in statuses), statuses
    assert _revisions(runtime) == before + 3
    assert len(inbox.to(COMPANY)) == 1
