"""Issue 15: a used link says what happened, in the signer's language; each party gets a copy.

The envelope is signed over HTTP as in test_signing_flow.py (real LibreOffice, real PAdES,
real SMTP); the school's approval runs the archiving job (inline in tests), which mails the
copies once every document is archived.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import ArchiveEntry, Placement
from docservice.services import links
from docservice.signing.verify import Trust, verify_pdf
from tests.conftest import TEST_ACTOR
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import (
    COMPANY,
    COORDINATOR,
    STUDENT,
    _open_envelope,
    _prepare,
    _sign,
    _sign_link,
)

MOMENT = r"\d\d/\d\d/\d{4} \d\d:\d\d (CET|CEST)"  # Brussels time, the zone shown


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _copy_link(inbox, address: str, n: int = 1) -> str:
    mails = [m for m in inbox.to(address) if "/copies/" in m.get_content()]
    assert len(mails) >= n, [m["Subject"] for m in inbox.to(address)]
    match = re.search(r"http://localhost(/copies/[A-Za-z0-9_-]+)", mails[n - 1].get_content())
    assert match
    return match.group(1)


def _approve(client, placement_id: int) -> None:
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))
    assert client.post(f"{page}/envelope/approve",
                       data={"csrf_token": token, "confirm": "1"}).status_code == 302


SENTENCES = {
    "nl": {"replaced": "Deze link is vervangen door een nieuwere link op ",
           # The student is told "je", as on every student page; the company "u".
           "signed": "Je hebt ondertekend op ", "expired": "Deze link is verlopen op ",
           "declined": "U hebt de ondertekening geweigerd op ",
           "later": "Zodra alle partijen ondertekend hebben, krijg je een e-mail",
           "newest": "Gebruik de link uit de nieuwste e-mail"},
    "en": {"replaced": "This link was replaced by a newer link on ",
           "signed": "You signed on ", "expired": "This link expired on ",
           "declined": "You declined to sign on ",
           "later": "As soon as every party has signed, you get an e-mail",
           "newest": "Use the link in the newest e-mail"},
}


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_used_link_says_what_happened_in_the_signers_language(
        client, runtime, inbox, year, language):
    placement_id = _prepare(client, runtime, language=language, nda="nee",
                            copyright_waiver="nee")
    _open_envelope(client, placement_id)
    said = SENTENCES[language]
    coordinator = 'href="mailto:frank.vandromme@thomasmore.be"'

    old = _sign_link(inbox, STUDENT)
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))
    assert client.post(f"{page}/envelope/resend/student",
                       data={"csrf_token": token, "confirm": "1"}).status_code == 302
    replaced = client.get(old)
    assert replaced.status_code == 410
    assert re.search(re.escape(said["replaced"]) + MOMENT, _text(replaced)), _text(replaced)
    assert said["newest"] in _text(replaced) and coordinator in _text(replaced)
    assert "This link was replaced" not in _text(replaced) or language == "en"

    student = _sign_link(inbox, STUDENT, 2)
    assert _sign(client, student, "Zoë Vermeulen-D'Hondt").status_code == 200
    signed = client.get(student)
    assert signed.status_code == 410
    assert re.search(re.escape(said["signed"]) + MOMENT, _text(signed)), _text(signed)
    assert said["later"] in _text(signed)  # the way to the documents: the copy comes by mail

    company = _sign_link(inbox, COMPANY)
    with freeze_time(datetime.now(UTC) + timedelta(days=15)):
        expired = client.get(company)
    assert expired.status_code == 410
    assert re.search(re.escape(said["expired"]) + MOMENT, _text(expired)), _text(expired)
    assert said["newest"] in _text(expired) and coordinator in _text(expired)

    token = csrf_token(client.get(company).get_data(as_text=True))
    assert client.post(f"{company}/decline", data={"csrf_token": token, "confirm": "1",
                                                   "reason": "Verkeerde periode"}).status_code == 200
    declined = client.get(company)
    assert declined.status_code == 410
    assert re.search(re.escape(said["declined"]) + MOMENT, _text(declined)), _text(declined)
    assert coordinator in _text(declined)
    assert f'<html lang="{language}">' in declined.get_data(as_text=True)


def test_a_used_link_says_je_to_the_student_and_u_to_the_company(client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    student = _sign_link(inbox, STUDENT)
    assert _sign(client, student, "Zoë Vermeulen-D'Hondt").status_code == 200
    company = _sign_link(inbox, COMPANY)
    assert _sign(client, company, "Els Janssens").status_code == 200

    to_student = _text(client.get(student))
    assert re.search("Je hebt ondertekend op " + MOMENT, to_student), to_student
    assert "krijg je een e-mail" in to_student
    card = re.search(r'<div class="card" id="link-used">(.*?)</div>', to_student).group(1)
    assert not re.search(r"\b(u|uw)\b", card), card

    to_company = _text(client.get(company))
    assert re.search("U hebt ondertekend op " + MOMENT, to_company), to_company
    assert "krijgt u een e-mail" in to_company


def test_a_completed_envelope_gives_each_party_the_archived_pdfs(
        client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, copyright_waiver="nee")  # agreement and NDA
    _open_envelope(client, placement_id)
    student_sign = _sign_link(inbox, STUDENT)
    assert _sign(client, student_sign, "Zoë Vermeulen-D'Hondt").status_code == 200
    assert _sign(client, _sign_link(inbox, COMPANY), "Els Janssens").status_code == 200
    assert not [m for m in inbox.messages if "/copies/" in m.get_content()]
    _approve(client, placement_id)

    with unit_of_work(runtime.db) as session:
        archived = {e.sha256: e.document_kind for e in session.scalars(select(ArchiveEntry))}
    assert len(archived) == 2
    pki = runtime.signer.pki
    trust = Trust(roots=pki.trust_roots, crls=pki.crls)
    # Dutch mail says "je" to the student and "u" to the company and the school.
    for address, greeting, yours in ((STUDENT, "Beste Zoë", "Je"),
                                     (COMPANY, "Beste Els Janssens", "Uw"),
                                     (COORDINATOR, "Beste Frank Vandromme", "Uw")):
        [mail] = [m for m in inbox.to(address) if "/copies/" in m.get_content()]
        assert mail["Subject"].startswith(f"{yours} exemplaar: ondertekende stagedocumenten van Zoë")
        body = mail.get_content()
        assert greeting in body and "De link werkt tot " in body
        assert all(sha in body for sha in archived)
        link = _copy_link(inbox, address)
        page = client.get(link)
        assert page.status_code == 200 and "Volledig ondertekend" in _text(page)
        html = page.get_data(as_text=True)
        pdfs = re.findall(r'href="(/copies/[^"]+/([0-9a-f]{64})\.pdf)"', html)
        assert {sha for _href, sha in pdfs} == set(archived)
        for href, sha in pdfs:
            download = client.get(href)
            assert download.status_code == 200 and download.mimetype == "application/pdf"
            assert hashlib.sha256(download.data).hexdigest() == sha  # the archived bytes
            report = verify_pdf(download.data, trust=trust)
            assert report.passed, report.to_json()
            assert report.complete
            assert report.signatures[-1].kind == "document_timestamp"  # B-LTA
            as_json = client.get(href.replace(".pdf", ".report.json"))
            assert as_json.status_code == 200 and json.loads(as_json.data)["verdict"] == "passed"
            as_pdf = client.get(href.replace(".pdf", ".report.pdf"))
            assert as_pdf.status_code == 200 and as_pdf.data.startswith(b"%PDF")

    # The student's own page says so and offers the same archived files.
    with unit_of_work(runtime.db) as session:
        _, token = links.issue_link(session, session.get(Placement, placement_id),
                                    purpose=links.STUDENT, now=datetime.now(UTC),
                                    valid_for=timedelta(days=5), actor=TEST_ACTOR)
    home = client.get(f"/s/{token}")
    assert home.status_code == 200 and "Volledig ondertekend" in _text(home)
    own = re.findall(r'href="(/s/[^"]+/copies/([0-9a-f]{64})\.pdf)"', home.get_data(as_text=True))
    assert {sha for _h, sha in own} == set(archived)
    for href, sha in own:
        assert hashlib.sha256(client.get(href).data).hexdigest() == sha

    # The used signing link now offers a new link to the copies, sent to the known address.
    used = client.get(student_sign)
    assert used.status_code == 410 and "Mail mij een link naar de ondertekende documenten" in \
        _text(used)
    form = re.search(r'action="(/copies/resend/[^"]+)"', used.get_data(as_text=True)).group(1)
    csrf = csrf_token(used.get_data(as_text=True))
    again = client.post(form, data={"csrf_token": csrf})  # the copies were mailed just now
    assert again.status_code == 200 and "We mailden op " in _text(again) and "kijk in je mailbox" in _text(again)
    with freeze_time(datetime.now(UTC) + timedelta(minutes=3)):
        resent = client.post(form, data={"csrf_token": csrf})
    assert resent.status_code == 200
    assert f"We hebben een nieuwe link naar je exemplaar gemaild naar {STUDENT}" in _text(resent)
    newest = _copy_link(inbox, STUDENT, 2)
    assert client.get(newest).status_code == 200

    # Past DOCSERVICE_COPY_LINK_DAYS (60) a copy link is refused, saying so.
    with freeze_time(datetime.now(UTC) + timedelta(days=61)):
        late = client.get(newest)
        late_pdf = client.get(f"{newest}/{next(iter(archived))}.pdf")
    assert late.status_code == 410 and late_pdf.status_code == 410
    assert re.search("Deze link is verlopen op " + MOMENT, _text(late))


