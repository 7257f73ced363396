"""Each state of the desk reached through the real flow, and the calendar's states on their day."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import Document, Revision
from docservice.services.desk import State, placement_state
from tests.web.desk.conftest import Flow, Year, dashboard_states, placement_row


def _numbers(flow: Flow, ids: list[int]) -> list[str]:
    from docservice.models import Placement

    with unit_of_work(flow.runtime.db) as session:
        return [session.get(Placement, i).student_number for i in ids]


def test_every_state_through_the_real_flow_and_the_calendar(flow: Flow, desk_year: Year):
    """Signing moves a placement through its stages; the calendar turns the late ones red."""
    y = desk_year
    later = y.today + timedelta(days=45)
    # p0 starts tomorrow (it is completed the day before its start); the others in 45 days.
    ids = flow.import_rows([placement_row(0, y, y.period_start)]
                           + [placement_row(n, y, later) for n in range(1, 6)])
    p0, p1, p2, p3, p4, _p5 = ids
    n0, n1, n2, n3, n4, n5 = _numbers(flow, ids)
    flow.login()
    # Nothing opened yet: drafts; p0 starts tomorrow, so it is at risk already.
    assert dashboard_states(flow.client) == {n0: "at_risk", n1: "draft", n2: "draft",
                                             n3: "draft", n4: "draft", n5: "draft"}

    flow.generate()
    for p in (p0, p1, p2, p3, p4):
        flow.open(p)
    flow.sign(p0, "student")
    flow.sign(p0, "company")
    flow.approve(p0)
    flow.sign(p1, "student")
    flow.sign(p1, "company")
    flow.sign(p2, "student")
    flow.decline(p4, "student", "Mijn stageperiode klopt niet")

    html = flow.client.get("/coordinator/").get_data(as_text=True)
    states = dashboard_states(flow.client)
    assert states == {n0: "complete", n1: "waiting_school", n2: "waiting_company",
                      n3: "waiting_student", n4: "declined", n5: "draft"}
    # "Signed" is what the PDFs say, once verified: every row's documents were verified.
    assert "PDF nog niet geverifieerd" not in html
    complete_row = re.search(rf'data-placement="{p0}".*?</tr>', html, re.S).group(0)
    assert complete_row.count("sig sig-yes") == 3 and "sig-disagree" not in complete_row
    assert "volledig ondertekend" in complete_row and "SPREKEN ELKAAR TEGEN" not in html

    # Before the deadline nothing is late; the day after it, the incomplete ones are overdue.
    with flow.on(y.deadline):
        assert dashboard_states(flow.client)[n3] == "waiting_student"
    with flow.on(y.deadline + timedelta(days=1)):
        states = dashboard_states(flow.client)
    assert states == {n0: "complete", n1: "overdue", n2: "overdue", n3: "overdue",
                      n4: "overdue", n5: "overdue"}
    # Fifteen days before the start: still only overdue; fourteen: at risk (the window).
    with flow.on(later - timedelta(days=15)):
        assert dashboard_states(flow.client)[n2] == "overdue"
    with flow.on(later - timedelta(days=14)):
        states = dashboard_states(flow.client)
    assert {states[n] for n in (n1, n2, n3, n4, n5)} == {"at_risk"}
    # p0 was completed the day before its start: on its start day it is complete, not blocked.
    with flow.on(y.period_start):
        assert dashboard_states(flow.client)[n0] == "complete"
    with flow.on(later - timedelta(days=1)):
        assert dashboard_states(flow.client)[n1] == "at_risk"
    with flow.on(later):
        states = dashboard_states(flow.client)
        filtered = dashboard_states(flow.client, "?state=not_cleared")
        by_stage = dashboard_states(flow.client, "?state=waiting_company")
    assert states == {n0: "complete", n1: "not_cleared", n2: "not_cleared", n3: "not_cleared",
                      n4: "not_cleared", n5: "not_cleared"}
    assert set(filtered) == {n1, n2, n3, n4, n5}
    assert set(by_stage) == {n2}  # a stage filter still finds it under its red state

    history = flow.client.get(f"/coordinator/desk/placements/{p4}").get_data(as_text=True)
    assert 'data-action="signer.declined"' in history and "Mijn stageperiode klopt niet" in history


def test_a_pdf_tampered_behind_the_services_back_shows_as_not_signed_with_the_reason(
        flow: Flow, desk_year: Year):
    """Table says signed; the stored PDFs say otherwise: the desk believes the PDFs, loudly."""
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.period_start + timedelta(days=30), nda="ja")])
    flow.login()
    flow.generate()
    flow.open(p)
    flow.sign(p, "student")
    flow.sign(p, "company")
    flow.approve(p)
    [number] = _numbers(flow, [p])
    assert dashboard_states(flow.client) == {number: "complete"}

    rt = flow.runtime
    with unit_of_work(rt.db) as session:
        documents = {d.kind: d for d in session.scalars(select(Document))}
        agreement = documents["stageovereenkomst"].current_revision
        nda = documents["geheimhoudingsverklaring"].current_revision
        # 1. Someone edits the agreement and puts the edited file in place of the revision,
        #    keeping the database consistent with the new bytes: only verification can tell.
        original = rt.blobs.get(agreement.sha256)
        first_signature = original.index(b"/ByteRange")
        target = original.rindex(b"LibreOffice", 0, first_signature)
        edited = original[:target] + b"LibreOfficf" + original[target + 11:]
        new_sha = rt.blobs.put(edited)
        session.get(Revision, agreement.id).sha256 = new_sha
        nda_sha = nda.sha256
    # 2. Someone overwrites the NDA's stored file in place (same name, other bytes).
    path = rt.blobs.root / nda_sha[:2] / nda_sha[2:]
    data = bytearray(path.read_bytes())
    spot = data.rindex(b"LibreOffice", 0, data.index(b"/ByteRange"))
    data[spot + 10:spot + 11] = b"f"
    path.chmod(0o644)
    path.write_bytes(bytes(data))

    html = flow.client.get("/coordinator/").get_data(as_text=True)
    states = dashboard_states(flow.client)
    assert states[number] != "complete"
    assert "ONZE GEGEVENS EN DE PDF SPREKEN ELKAAR TEGEN" in html
    assert "student: volgens onze gegevens ondertekend, volgens de PDF niet" in html
    assert "OPGESLAGEN PDF GEWIJZIGD" in html
    assert re.search(r'<tr class="row st-\w+ loud"', html)

    page = flow.client.get(f"/coordinator/desk/placements/{p}").get_data(as_text=True)
    assert page.count("niet ondertekend") >= 3
    report = flow.client.get(f"/coordinator/desk/placements/{p}/documents/"
                             f"{documents['stageovereenkomst'].id}/verification?format=json")
    verdict = report.get_json()
    assert verdict["sha256"] == new_sha and not verdict["stored_file_changed"]
    student = next(s for s in verdict["signatures"] if s["role"] == "student")
    assert student["passed"] is False and student["reasons"], verdict
    reasons = " ".join(student["reasons"]).lower()
    assert "changed" in reasons or "digest" in reasons or "hash" in reasons, reasons
    assert student["reasons"][0] in page  # the reason is on the placement page, in words
    nda_report = flow.client.get(f"/coordinator/desk/placements/{p}/documents/"
                                 f"{documents['geheimhoudingsverklaring'].id}/verification"
                                 "?format=json").get_json()
    assert nda_report["stored_file_changed"] is True
    api = flow.client.get(f"/coordinator/desk/placements/{p}")
    assert api.status_code == 200


@pytest.mark.parametrize(("stage", "days_to_start", "past_deadline", "expected"), [
    (State.COMPLETE, 0, True, State.COMPLETE),
    (State.WAITING_COMPANY, 0, True, State.NOT_CLEARED),
    (State.WAITING_COMPANY, -3, True, State.NOT_CLEARED),
    (State.DRAFT, 14, True, State.AT_RISK),
    (State.DRAFT, 15, True, State.OVERDUE),
    (State.WAITING_STUDENT, 15, False, State.WAITING_STUDENT),
    (State.DECLINED, 30, False, State.DECLINED),
    (State.DECLINED, 30, True, State.OVERDUE),
])
def test_the_calendar_decides_over_the_stage_of_an_incomplete_placement(
        stage, days_to_start, past_deadline, expected):
    from datetime import date

    today = date(2024, 1, 10)
    deadline = today - timedelta(days=1) if past_deadline else today
    assert placement_state(stage, today=today, start=today + timedelta(days=days_to_start),
                           deadline=deadline, risk_window_days=14) == expected
