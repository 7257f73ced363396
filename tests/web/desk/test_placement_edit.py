"""Correcting a placement on its page: the import's checks, documents made again, and a
confirmation that names the signatures an edit (or cancel and regenerate) would void."""

from __future__ import annotations

import html as html_lib
import io
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from docservice.cli import main
from docservice.db import unit_of_work
from docservice.models import AuditEvent, Document, Envelope, Placement
from docservice.services.placements import placement_values
from tests.factories import csv_bytes
from tests.web.desk.conftest import Flow, Year, placement_row
from tests.web.helpers import csrf_token

STUDENT = "student0@student.example.org"


def _pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf,
                         capture_output=True, check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def _values(flow: Flow, placement_id: int) -> dict[str, str]:
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        values = placement_values(placement)
    del values["academic_year"]
    return values


def _edit(flow: Flow, placement_id: int, **changes: str):
    """Post the edit form as the page fills it, with `changes`."""
    page = f"/coordinator/desk/placements/{placement_id}/edit"
    form = flow.client.get(page)
    assert form.status_code == 200
    token = csrf_token(form.get_data(as_text=True))
    return flow.client.post(page, data={"csrf_token": token,
                                        **_values(flow, placement_id), **changes})


def _hidden_fields(html: str) -> dict[str, str]:
    form = html[html.index('<form method="post"'):]
    return {name: html_lib.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)}


def _current(flow: Flow, placement_id: int) -> list[tuple[Document, bytes]]:
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        documents = placement.current_documents()
        return [(d, flow.runtime.blobs.get(d.current_revision.sha256)) for d in documents]


def _actions(flow: Flow, placement_id: int) -> list[tuple[str, dict]]:
    with unit_of_work(flow.runtime.db) as session:
        return [(e.action, e.detail) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.placement_id == placement_id)
            .order_by(AuditEvent.id))]


def _be(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def test_edit_without_signatures_makes_the_documents_again(flow: Flow, desk_year: Year):
    y = desk_year
    start = y.today + timedelta(days=45)
    [p] = flow.import_rows([placement_row(0, y, start)])
    flow.login()
    flow.generate()
    [(old, old_pdf)] = _current(flow, p)
    assert _be(start) in _pdf_text(old_pdf)
    page = flow.client.get(f"/coordinator/desk/placements/{p}").get_data(as_text=True)
    assert f'/coordinator/desk/placements/{p}/edit' in page  # the page links to the form

    new_start = start + timedelta(days=7)
    response = _edit(flow, p, start_date=new_start.isoformat())
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    [(new, new_pdf)] = _current(flow, p)
    assert new.id != old.id and new.reference.endswith("-2")
    text = _pdf_text(new_pdf)
    assert _be(new_start) in text and _be(start) not in text
    with unit_of_work(flow.runtime.db) as session:
        assert session.get(Document, old.id).superseded_at is not None
        assert session.get(Placement, p).start_date == new_start
    actions = _actions(flow, p)
    [changed] = [d for a, d in actions if a == "placement.changed"]
    assert changed["changes"] == {"start_date": [start.isoformat(), new_start.isoformat()]}
    assert changed["source"] == "edit form"
    [regenerated] = [d for a, d in actions if a == "documents.regenerated"]
    assert regenerated["superseded"] == [old.reference]
    names = [a for a, _ in actions]
    assert names.index("placement.changed") < len(names) - 1 - names[::-1].index(
        "document.generated")

    # Saving the same values again changes nothing and makes no documents.
    again = _edit(flow, p)
    assert again.status_code == 302
    assert [a for a, _ in _actions(flow, p)] == names
    assert _current(flow, p)[0][0].id == new.id

    # A text area sends its line ends as CR LF: stored as line feeds, not refused.
    assert _edit(flow, p, assignment="Regel 1\r\nRegel 2").status_code == 302
    with unit_of_work(flow.runtime.db) as session:
        assert session.get(Placement, p).assignment == "Regel 1\nRegel 2"


def test_edit_with_a_student_signature_names_it_and_asks_first(flow: Flow, desk_year: Year,
                                                              runner, tmp_path: Path):
    y = desk_year
    start = y.today + timedelta(days=45)
    [p] = flow.import_rows([placement_row(0, y, start)])
    flow.login()
    flow.generate()
    flow.open(p)
    flow.sign(p, "student")
    [(signed_doc, _)] = _current(flow, p)
    before = _actions(flow, p)

    # The edit page says up front which signature a change would cost.
    form = flow.client.get(f"/coordinator/desk/placements/{p}/edit").get_data(as_text=True)
    assert 'id="signatures-at-stake"' in form and 'data-role="student"' in form

    new_start = start + timedelta(days=7)
    asked = _edit(flow, p, start_date=new_start.isoformat())
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200, html[:2000]
    lost = html[html.index('id="signatures-lost"'):html.index("</ul>", html.index(
        'id="signatures-lost"'))]
    assert 'data-role="student"' in lost and "Zoë Vermeulen-D" in lost
    assert 'data-role="company"' not in lost
    assert 'data-field="start_date"' in html and new_start.isoformat() in html
    assert f'href="/coordinator/desk/placements/{p}"' in html  # not confirming: back

    # Not confirming changes nothing: no data, no envelope, no trail.
    assert flow.client.get(f"/coordinator/desk/placements/{p}").status_code == 200
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, p)
        assert placement.start_date == start
        assert [e.status for e in placement.envelopes] == ["open"]
    assert _actions(flow, p)[:len(before)] == before
    assert not [a for a, _ in _actions(flow, p) if a in ("placement.changed",
                                                         "envelope.superseded")]
    # A confirmation token that names other signatures is no confirmation.
    fields = _hidden_fields(html)
    assert fields["confirm"] and fields["start_date"] == new_start.isoformat()
    wrong = flow.client.post(f"/coordinator/desk/placements/{p}/edit",
                             data={**fields, "confirm": "0" * 32})
    assert wrong.status_code == 200 and 'id="signatures-lost"' in wrong.get_data(as_text=True)

    # `import --update` does not void signatures either: it sends the coordinator here.
    cohort = tmp_path / "fix.csv"
    cohort.write_bytes(csv_bytes([placement_row(0, y, new_start,
                                                end_date=(start + timedelta(days=60))
                                                .isoformat())]))
    refused = runner.invoke(main, ["placements", "import", "--update", str(cohort)])
    assert refused.exit_code == 1
    assert "voids signatures (student: Zoë Vermeulen-D'Hondt)" in refused.output
    with unit_of_work(flow.runtime.db) as session:
        assert session.get(Placement, p).start_date == start

    # Confirming cancels the envelope, makes the documents again and invites the student anew.
    done = flow.client.post(f"/coordinator/desk/placements/{p}/edit", data=fields)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, p)
        assert placement.start_date == new_start
        envelopes = list(session.scalars(select(Envelope).where(Envelope.placement_id == p)
                                         .order_by(Envelope.id)))
        assert [e.status for e in envelopes] == ["cancelled", "open"]
        assert session.get(Document, signed_doc.id).superseded_at is not None
    [(new, new_pdf)] = _current(flow, p)
    assert new.id != signed_doc.id and len(new.revisions) == 1
    assert PdfFileReader(io.BytesIO(new_pdf)).embedded_signatures == []
    text = _pdf_text(new_pdf)
    assert _be(new_start) in text and _be(start) not in text
    assert len(flow.inbox.to(STUDENT)) == 2  # invited again, for the new documents
    actions = _actions(flow, p)
    [changed] = [d for a, d in actions if a == "placement.changed"]
    assert changed["changes"] == {"start_date": [start.isoformat(), new_start.isoformat()]}
    assert "envelope.superseded" in [a for a, _ in actions]


def test_cancel_and_regenerate_after_a_decline_asks_first(flow: Flow, desk_year: Year):
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    flow.login()
    flow.generate()
    flow.open(p)
    flow.sign(p, "student")
    flow.decline(p, "company", "De startdatum klopt niet")
    page = f"/coordinator/desk/placements/{p}"
    asked = flow.post(f"{page}/envelope/regenerate", page=page, expect=200,
                      data={"reason": "Verkeerde startdatum"})
    html = asked.get_data(as_text=True)
    assert 'id="signatures-lost"' in html and 'data-role="student"' in html
    with unit_of_work(flow.runtime.db) as session:
        assert [e.status for e in session.get(Placement, p).envelopes] == ["declined"]
    fields = _hidden_fields(html)
    assert fields["reason"] == "Verkeerde startdatum"
    assert flow.client.post(f"{page}/envelope/regenerate", data=fields).status_code == 302
    with unit_of_work(flow.runtime.db) as session:
        assert [e.status for e in session.get(Placement, p).envelopes] == ["cancelled", "open"]


def test_invalid_input_is_refused_naming_the_field_and_keeping_what_was_typed(
        flow: Flow, desk_year: Year):
    y = desk_year
    start = y.today + timedelta(days=45)
    [p] = flow.import_rows([placement_row(0, y, start)])
    flow.login()
    response = _edit(flow, p, start_date="31/02/2024", mentor_phone="call me",
                     company_name="Janssens & Zonen NV")
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:2000]
    assert re.search(r'id="f-start_date" name="start_date" aria-invalid="true" '
                     r'aria-describedby="err-start_date"', html)
    # Beside each field, in the page's language (Dutch), naming the value.
    assert 'id="err-start_date"' in html and "&#39;31/02/2024&#39; is geen datum" in html
    assert 'aria-describedby="err-mentor_phone"' in html
    assert "&#39;call me&#39; is geen telefoonnummer" in html
    assert 'value="31/02/2024"' in html and 'value="call me"' in html
    assert 'value="Janssens &amp; Zonen NV"' in html  # the valid change is kept too
    assert 'aria-invalid="true" aria-describedby="err-company_name"' not in html
    assert "Startdatum" in html  # Dutch by default, like the rest of the desk
    english = flow.client.post(f"/coordinator/desk/placements/{p}/edit?lang=en", data={
        "csrf_token": csrf_token(html), **_values(flow, p), "end_date": start.isoformat(),
        "start_date": (start + timedelta(days=1)).isoformat()})
    assert english.status_code == 422
    text = english.get_data(as_text=True)
    assert "End date" in text and "is before start_date" in text
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, p)
        assert placement.start_date == start and placement.company_name == "Janssens & Zonen BV"
    assert "placement.changed" not in [a for a, _ in _actions(flow, p)]


def test_only_a_coordinator_edits_and_only_with_the_form_token(flow: Flow, desk_year: Year):
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    page = f"/coordinator/desk/placements/{p}/edit"
    flow.login("auditor@school.example.org", role="auditor")
    token = csrf_token(flow.client.get(f"/coordinator/desk/placements/{p}")
                       .get_data(as_text=True))
    assert flow.client.get(page).status_code == 403
    assert flow.client.post(page, data={"csrf_token": token, **_values(flow, p),
                                        "company_name": "Other BV"}).status_code == 403
    flow.login()
    refused = flow.client.post(page, data={**_values(flow, p), "company_name": "Other BV"})
    assert refused.status_code == 400  # no CSRF token
    with unit_of_work(flow.runtime.db) as session:
        assert session.get(Placement, p).company_name == "Janssens & Zonen BV"
    assert "placement.changed" not in [a for a, _ in _actions(flow, p)]


def test_a_signed_agreement_is_not_edited(flow: Flow, desk_year: Year):
    y = desk_year
    start = y.today + timedelta(days=45)
    [p] = flow.import_rows([placement_row(0, y, start)])
    flow.login()
    flow.generate()
    flow.complete(p)
    form = flow.client.get(f"/coordinator/desk/placements/{p}/edit").get_data(as_text=True)
    assert 'id="save"' not in form and "ondertekende overeenkomst wordt niet gewijzigd" in form
    refused = _edit(flow, p, start_date=(start + timedelta(days=7)).isoformat())
    assert refused.status_code == 409
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, p)
        assert placement.start_date == start
        assert [e.status for e in placement.envelopes] == ["completed"]
