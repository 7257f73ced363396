"""`docservice deadlines check`: reminders at the offsets, once each; escalation; not cleared."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from docservice.cli import main
from docservice.config import DeskSettings
from docservice.db import unit_of_work
from docservice.models import AuditEvent, Reminder
from docservice.services.deadlines import due_offset
from tests.web.desk.conftest import COORDINATOR_MAIL, DOCENT_MAIL, Flow, Year, on, placement_row


def _reminders(flow: Flow) -> int:
    with unit_of_work(flow.runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Reminder))


def _actions(flow: Flow, action: str) -> int:
    with unit_of_work(flow.runtime.db) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == action))


def test_reminders_fire_once_at_each_offset_then_escalation_and_not_cleared(
        flow: Flow, runner, desk_year: Year):
    y = desk_year
    start = y.today + timedelta(days=45)
    p0, p1, _p2, p3 = flow.import_rows([placement_row(n, y, start) for n in range(4)])
    flow.login()
    flow.generate()
    flow.open(p0)  # waits for the student
    flow.open(p1)
    flow.sign(p1, "student")  # waits for the company; p2 stays a draft
    flow.open(p3)
    flow.sign(p3, "student")
    flow.sign(p3, "company")  # waits for the school: the coordinator's approval
    student, company = "student0@student.example.org", "company1@firm.example.com"
    invitation = flow.link(student)
    inbox = flow.inbox

    def check(day, *args: str) -> str:
        with on(day):
            result = runner.invoke(main, ["deadlines", "check", *args])
        assert result.exit_code == 0, result.output
        return result.output

    inbox.messages.clear()
    assert "reminders sent: 0" in check(y.today)
    first = y.deadline - timedelta(days=14)
    dry = check(first, "--dry-run")
    assert "reminders would send: 3 (company 1, school 1, student 1)" in dry
    assert f"reminder -> student {student}" in dry
    assert inbox.messages == [] and _reminders(flow) == 0

    out = check(first)
    assert "reminders sent: 3 (company 1, school 1, student 1)" in out
    [mail] = inbox.to(student)
    assert mail["Subject"].startswith("Herinnering: stagedocumenten van")
    body = mail.get_content()
    assert f"{y.deadline:%d/%m/%Y} (nog 14 dag(en))" in body
    assert len(inbox.to(company)) == 1
    [approval] = inbox.to(COORDINATOR_MAIL)  # one list of what waits for the seal
    assert approval["Subject"] == "Herinnering: 1 stageovereenkomst(en) wachten op het zegel"
    assert f"/coordinator/desk/placements/{p3}" in approval.get_content()
    again = check(first)  # a second run the same day sends nothing
    assert "reminders sent: 0" in again and "already sent before (skipped): 3" in again
    # The reminder's link works; the invitation's link was replaced by it.
    with flow.on(first):
        assert flow.client.get(flow.link(student)).status_code == 200
        assert flow.client.get(invitation).status_code == 410

    for days, expected in ((13, 0), (7, 3), (5, 0), (3, 3), (1, 3), (0, 0)):
        out = check(y.deadline - timedelta(days=days))
        assert f"reminders sent: {expected}" in out, (days, out)
    assert len(inbox.to(student)) == len(inbox.to(company)) == 4
    assert len(inbox.to(COORDINATOR_MAIL)) == 4

    # Fourteen days before the start: a start-date reminder, and escalation of all four.
    out = check(start - timedelta(days=14))
    assert "reminders sent: 3" in out and "at-risk escalations sent: 4" in out
    digest = inbox.to(COORDINATOR_MAIL)[-1]
    assert digest["Subject"] == "Stageovereenkomsten in gevaar: 4"
    assert digest.get_content().count("/coordinator/desk/placements/") == 4
    assert len(inbox.to(DOCENT_MAIL)) == 1
    assert "at-risk escalations sent: 0" in check(start - timedelta(days=14))
    for days in (7, 3, 1):
        assert "reminders sent: 3" in check(start - timedelta(days=days))

    # The start date: not cleared, marked once and told to coordinator and docent.
    out = check(start)
    assert "not cleared to start, marked: 4" in out and "reminders sent: 0" in out
    assert inbox.to(COORDINATOR_MAIL)[-1]["Subject"] == "Mogen niet starten: 4 stage(s)"
    assert "not cleared to start, marked: 0" in check(start)
    assert "not cleared to start, marked: 0" in check(start + timedelta(days=1))

    assert len(inbox.to(student)) == len(inbox.to(company)) == 8
    assert len(inbox.to(COORDINATOR_MAIL)) == 8 + 2  # approval lists, then the two digests
    assert _actions(flow, "reminder.sent") == 24
    assert _actions(flow, "escalation.sent") == 4
    assert _actions(flow, "placement.not_cleared") == 4
    with unit_of_work(flow.runtime.db) as session:
        kinds = dict(session.execute(select(Reminder.kind, func.count())
                                     .group_by(Reminder.kind)).all())
    assert kinds == {"reminder": 24, "escalation": 8, "not_cleared": 8}

    page = flow.client.get(f"/coordinator/desk/placements/{p0}").get_data(as_text=True)
    assert page.count('data-action="reminder.sent"') == 8
    assert re.search(r"herinnering verstuurd", page)


def test_offsets_and_window_are_configurable(flow: Flow, runner, desk_year: Year):
    y = desk_year
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    flow.login()
    flow.generate()
    flow.open(p)
    with on(y.deadline - timedelta(days=16)):
        default = runner.invoke(main, ["deadlines", "check", "--dry-run"])
        custom = runner.invoke(main, ["deadlines", "check", "--dry-run", "--offsets", "20,2"])
        wide = runner.invoke(main, ["deadlines", "check", "--dry-run", "--window", "60"])
        wrong = runner.invoke(main, ["deadlines", "check", "--offsets", "soon"])
    assert "reminders would send: 0" in default.output
    assert "reminders would send: 1" in custom.output
    assert "at-risk escalations would send: 1" in wide.output
    assert wrong.exit_code == 1 and "whole numbers of days" in wrong.output
    assert DeskSettings.from_env({"DOCSERVICE_REMINDER_OFFSETS": "1, 30,7",
                                  "DOCSERVICE_RISK_WINDOW_DAYS": "21"}) == DeskSettings(
        reminder_offsets=(30, 7, 1), risk_window_days=21)


def test_a_missed_day_sends_the_latest_offset_only():
    offsets = (14, 7, 3, 1)
    assert [due_offset(days, offsets) for days in (15, 14, 9, 7, 4, 3, 2, 1, 0, -5)] == [
        None, 14, 14, 7, 7, 3, 3, 1, None, None]
