"""End to end in Debian's Chromium: student, company and school sign; the desk shows it complete.

Reuses the live server, browser and helpers of tests/e2e (a server of its own for this module);
screenshots of the dashboard (Dutch, English) and its print view are kept in the test's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from docservice.db import unit_of_work
from docservice.mail.devserver import Inbox
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.e2e.helpers import PHONE, SLOW, Console, Live, log_in, wait_for_link
from tests.e2e.test_browser import _assert_png, _open_envelope, _sign
from tests.factories import csv_bytes, row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SIGNATORY = "desk-e2e@firm.example.com"


def test_dashboard_shows_complete_after_everyone_signed_in_a_browser(
        live: Live, new_context: Any, console: Console,
        inbox: Inbox, tmp_path: Path) -> None:
    rt = live.runtime
    student_row = row(7, company_signatory_email=SIGNATORY, company_signatory_name="Dirk Desk",
                      nda="nee", copyright_waiver="nee")
    with unit_of_work(rt.db) as session:
        [placement] = import_placements(session, csv_bytes([student_row]),
                                        actor=TEST_ACTOR).placements
        generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                         templates_root=rt.settings.templates_path, pdfa=True, converters=2,
                         actor=TEST_ACTOR)
        placement_id, number = placement.id, placement.student_number

    coordinator = new_context().new_page()
    log_in(coordinator, live)
    coordinator.goto(f"{live.base_url}/coordinator/?q={number}")
    row_ = coordinator.locator(f'tr[data-placement="{placement_id}"]')
    expect(row_.locator(".state").first).to_have_text("mag niet starten")  # 2023-2024 is past
    _open_envelope(coordinator, live, placement_id)

    student = new_context(**PHONE).new_page()
    student.goto(wait_for_link(live, student_row["student_email"], "/sign/"))
    _sign(student, "Zoë Vermeulen-D'Hondt")
    company = new_context().new_page()
    company.goto(wait_for_link(live, SIGNATORY, "/sign/"))
    _sign(company, "Dirk Desk")

    coordinator.goto(f"{live.base_url}/coordinator/desk/placements/{placement_id}")
    coordinator.get_by_role("button", name="Goedkeuren en zegel van de hogeschool plaatsen"
                            ).click()
    expect(coordinator.locator("#consequence")).to_be_visible()
    coordinator.locator("#confirm").click()
    expect(coordinator.get_by_role("status")).to_contain_text("Goedgekeurd", timeout=SLOW)
    coordinator.goto(f"{live.base_url}/coordinator/desk/placements/{placement_id}")
    expect(coordinator.locator("#state")).to_have_text("volledig ondertekend")
    expect(coordinator.locator("#documents td.pdf")).to_have_count(3)
    coordinator.screenshot(path=tmp_path / "desk-placement.png", full_page=True)

    coordinator.goto(f"{live.base_url}/coordinator/?q={number}")
    expect(row_.locator(".state").first).to_have_text("volledig ondertekend", timeout=SLOW)
    expect(row_.locator(".sig-yes")).to_have_count(3)
    expect(coordinator.locator(".loud-banner")).to_have_count(0)
    coordinator.screenshot(path=tmp_path / "desk-dashboard-nl.png", full_page=True)
    coordinator.locator("#lang-switch").click()
    expect(row_.locator(".state").first).to_have_text("complete")
    coordinator.screenshot(path=tmp_path / "desk-dashboard-en.png", full_page=True)
    coordinator.locator("#print").click()
    expect(coordinator.get_by_role("heading", level=1)).to_contain_text(
        "Internship agreements overview")
    coordinator.emulate_media(media="print")
    coordinator.screenshot(path=tmp_path / "desk-print.png", full_page=True)
    for name in ("desk-placement.png", "desk-dashboard-nl.png", "desk-dashboard-en.png",
                 "desk-print.png"):
        _assert_png(tmp_path / name)
    assert console.errors == [], console.messages
