"""One validator for names and free text: the CSV import and every form (issue 13, item 9).

C0 and C1 control characters and the bidirectional controls are refused everywhere, naming
the field; nothing is stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.errors import ImportRejected, InvalidInput
from docservice.models import Envelope, Placement, User
from docservice.services.placements import import_placements
from docservice.services.text import BIDI_CONTROLS, checked_text, forbidden_character
from docservice.services.users import add_user
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.helpers import csrf_token
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign_link

NUL, ESC, RLO = "\x00", "\x1b", "\u202e"
BIDI = [chr(c) for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
                         0x2069)]


@pytest.mark.parametrize("char", [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
                         + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)] + BIDI)
def test_every_control_is_refused_and_named(char):
    for multiline in (False, True):
        problem = forbidden_character(f"Jan{char}Peeters", multiline=multiline)
        assert problem and f"U+{ord(char):04X}" in str(problem)
        assert f"U+{ord(char):04X}" in problem.dutch()
    with pytest.raises(InvalidInput) as refused:
        checked_text("name", f"Els{char}Janssens")
    assert refused.value.field == "name"
    assert set(BIDI) <= BIDI_CONTROLS


def test_ordinary_names_and_text_pass():
    for name in ("Zoë Vermeulen-D'Hondt", "Anaïs Łukasiewicz", "Seán O'Neill", "محمد", "李小龙"):
        assert checked_text("name", name) == name
    assert checked_text("reason", "Two lines\r\nand a\ttab", multiline=True) == (
        "Two lines\nand a\ttab")
    with pytest.raises(InvalidInput):
        checked_text("name", "one\nline")


def test_the_csv_import_refuses_bidi_controls_too(runtime, year):
    with unit_of_work(runtime.db) as session, pytest.raises(ImportRejected) as rejected:
        import_placements(session, csv_bytes([row(0, student_last_name=f"Peeters{RLO}fdp.exe"),
                                              row(1, assignment=f"Een SIEM{ESC} opzetten")]),
                          actor=TEST_ACTOR)
    errors = {(e.line, e.column): str(e.reason) for e in rejected.value.errors}
    assert "U+202E" in errors[(2, "student_last_name")]
    assert "U+001B" in errors[(3, "assignment")]


def test_accounts_refuse_controls_in_names(runtime):
    with unit_of_work(runtime.db) as session, pytest.raises(InvalidInput) as refused:
        add_user(session, email="x@school.example.org", name=f"Frank{RLO}", role="auditor",
                 password="a long enough password")
    assert refused.value.field == "name"
    with unit_of_work(runtime.db) as session:
        assert session.scalars(select(User)).first() is None


def test_every_form_refuses_controls_naming_the_field(app, client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))

    for bad, code in ((f"Bart{NUL}Janssens", "U+0000"), (f"Bart{ESC}[31mJanssens", "U+001B"),
                      (f"Bart {RLO}snessnaJ", "U+202E")):
        response = client.post(f"{page}/envelope/company-signatory", data={
            "csrf_token": token, "name": bad, "email": "bart@janssens.example.com"})
        body = response.get_data(as_text=True)
        assert response.status_code == 422, body
        assert "name:" in body and code in body
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        assert envelope.request_for("company").signer_name == "Els Janssens"
        assert session.get(Placement, placement_id).company_signatory_name == "Els Janssens"

    response = client.post(f"/coordinator/desk/placements/{placement_id}/envelope/regenerate",
                           data={"csrf_token": token, "reason": f"wrong{RLO} data"})
    assert response.status_code == 422 and "reason:" in response.get_data(as_text=True)

    link = _sign_link(inbox, STUDENT)
    sign_token = csrf_token(client.get(link).get_data(as_text=True))
    response = client.post(link, data={"csrf_token": sign_token, "consent": "yes",
                                       "full_name": f"Zoë Vermeulen-D'Hondt{RLO}"})
    assert response.status_code == 422 and "U+202E" in response.get_data(as_text=True)
    response = client.post(f"{link}/decline", data={"csrf_token": sign_token,
                                                    "reason": f"no{ESC} thanks"})
    assert response.status_code == 422 and "U+001B" in response.get_data(as_text=True)
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope)).one()
        assert envelope.status == "open"
        assert envelope.request_for("student").status == "pending"
