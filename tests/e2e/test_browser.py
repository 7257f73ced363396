"""End to end in a real browser: Debian's Chromium, driven by Playwright, against a live server.

The coordinator, the student and the company signatory click through the pages as people do;
the signing links come from the e-mails the real SMTP server received. Never run
`playwright install`: the browser is /usr/bin/chromium (see scripts/setup.sh).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.mail.devserver import Inbox
from docservice.models import Envelope, Placement, Revision
from tests.e2e.helpers import (
    COMPANY,
    COORDINATOR_MAIL,
    PHONE,
    SLOW,
    Console,
    Live,
    open_envelope_now,
)
from tests.e2e.helpers import log_in as _log_in
from tests.e2e.helpers import placement as _placement
from tests.e2e.helpers import wait_for_link as _wait_for_link
from tests.factories import row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def student_link(live: Live) -> str:
    """The signing link e-mailed to the student of a second placement whose envelope is open.

    Shared by the tests that only look at the page or are refused: neither changes its state.
    """
    open_envelope_now(live, _placement(live, 1))
    return _wait_for_link(live, row(1)["student_email"], "/sign/")


def _revisions(live: Live) -> int:
    with unit_of_work(live.runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Revision))  # type: ignore[return-value]


def _open_envelope(page: Page, live: Live, placement_id: int) -> None:
    page.goto(f"{live.base_url}/coordinator/placements/{placement_id}")
    page.locator("#open-envelope").click()
    expect(page.get_by_role("status")).to_contain_text("Envelop geopend", timeout=SLOW)
    expect(page.locator("#envelope strong").first).to_have_text("open")


def _images_loaded(page: Page) -> int:
    """Scroll every (lazy) page preview into view and wait until it decoded; return how many."""
    images = page.locator(".pages img")
    count = images.count()
    for i in range(count):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=image.element_handle(), timeout=30_000)
    widths = page.eval_on_selector_all(".pages img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == count and all(w > 0 for w in widths), widths
    page.evaluate("window.scrollTo(0, 0)")
    return count


def _sign(page: Page, name: str) -> None:
    page.get_by_role("checkbox").check()
    page.locator("#full_name").fill(name)
    page.get_by_role("button", name="Alle documenten ondertekenen").click()
    expect(page.locator("#signed")).to_be_visible(timeout=SLOW)
    expect(page.locator("#signed h1")).to_have_text("Ondertekend")


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, (path, len(data))


def test_coordinator_student_company_and_school_sign_in_a_real_browser(
        live: Live, new_context: Any, console: Console, inbox: Inbox, tmp_path: Path) -> None:
    placement_id = _placement(live, 0)
    student_email = row(0)["student_email"]

    coordinator = new_context().new_page()
    _log_in(coordinator, live)
    _open_envelope(coordinator, live, placement_id)

    # The student, on a phone, from the link in their e-mail.
    student = new_context(**PHONE).new_page()
    student.goto(_wait_for_link(live, student_email, "/sign/"))
    expect(student.get_by_role("heading", level=1)).to_contain_text(
        "Stagedocumenten van Zoë Vermeulen-D'Hondt")
    # The three documents, then: sign, sign with your own certificate, decline.
    expect(student.get_by_role("heading", level=2)).to_have_count(3 + 3)
    expect(student.get_by_role("heading", name="Ondertekenen met je eigen certificaat (eID)")
           ).to_be_visible()
    assert len(re.findall(r"SHA-256 [0-9a-f]{64}", student.inner_text("main"))) == 3
    assert _images_loaded(student) >= 3
    student.screenshot(path=tmp_path / "student-review-phone.png", full_page=True)
    _assert_png(tmp_path / "student-review-phone.png")
    assert not inbox.to(COMPANY), "the company is invited only after the student signed"
    _sign(student, "Zoë Vermeulen-D'Hondt")

    # The company signatory, from their own e-mail.
    company = new_context().new_page()
    company.goto(_wait_for_link(live, COMPANY, "/sign/"))
    expect(company.locator("main")).to_contain_text("als het stagebedrijf")
    assert _images_loaded(company) >= 3
    _sign(company, "Els Janssens")

    # The coordinator is told, and approves: the school's seal.
    assert f"/coordinator/desk/placements/{placement_id}" in _wait_for_link(
        live, COORDINATOR_MAIL, "/coordinator/desk/placements/")
    coordinator.reload()
    coordinator.locator("#approve").click()
    coordinator.locator("#confirm").click()  # the page before names what sealing does
    expect(coordinator.get_by_role("status")).to_contain_text("Goedgekeurd", timeout=SLOW)
    expect(coordinator.locator("#envelope strong").first).to_have_text("volledig ondertekend")
    expect(coordinator.locator("#envelope tbody tr")).to_have_count(3)
    for i in range(3):
        expect(coordinator.locator("#envelope tbody tr").nth(i).locator("td").nth(2)
               ).to_have_text("ondertekend")
    coordinator.screenshot(path=tmp_path / "coordinator-placement.png", full_page=True)
    _assert_png(tmp_path / "coordinator-placement.png")

    with unit_of_work(live.runtime.db) as session:
        envelope = session.scalars(select(Envelope).join(Placement)
                                   .where(Placement.id == placement_id)).one()
        assert envelope.status == "completed"
        assert [r.status for r in envelope.requests] == ["signed"] * 3
    deadline = time.monotonic() + 10
    while not any("Ondertekend" in m["Subject"] for m in inbox.to(student_email)):
        assert time.monotonic() < deadline, [m["Subject"] for m in inbox.to(student_email)]
        time.sleep(0.05)

    assert console.errors == [], console.messages


def test_the_browser_requires_consent_and_the_server_the_right_name(
        live: Live, new_context: Any, console: Console, student_link: str) -> None:
    link = student_link
    student = new_context(**PHONE).new_page()
    student.goto(link)
    expect(student.locator("#sign")).to_be_visible()
    posts: list[str] = []
    student.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    before, company_mails = _revisions(live), len(live.inbox.to(COMPANY))

    # No consent: the browser's own `required` check stops the form; nothing reaches the server.
    student.locator("#full_name").fill("Zoë Vermeulen-D'Hondt")
    student.get_by_role("button", name="Alle documenten ondertekenen").click()
    consent = student.get_by_role("checkbox")
    assert consent.evaluate("box => box.validity.valueMissing") is True
    assert student.evaluate("document.activeElement.name") == "consent"
    student.wait_for_timeout(500)
    assert posts == [] and student.url == link
    assert _revisions(live) == before

    # Consent, but someone else's name: the server refuses and says why.
    consent.check()
    student.locator("#full_name").fill("Els Janssens")
    student.get_by_role("button", name="Alle documenten ondertekenen").click()
    expect(student.get_by_role("alert")).to_contain_text(
        "Typ je volledige naam zoals hij hier staat: Zoë Vermeulen-D'Hondt")
    assert posts == [link]
    assert _revisions(live) == before
    expect(student.locator("#full_name")).to_have_value("Els Janssens")  # kept for correcting
    # The error sits beside the field, which has the focus and is in view; consent stays ticked.
    assert student.evaluate("document.activeElement.id") == "full_name"
    expect(student.locator("#full_name")).to_have_attribute("aria-describedby", "full_name-error")
    expect(student.locator("#full_name-error")).to_be_in_viewport()
    expect(student.get_by_role("checkbox")).to_be_checked()
    assert len(live.inbox.to(COMPANY)) == company_mails, "nobody signed, nobody was invited"
    # The only console error allowed: Chromium reporting the refused form's HTTP 422.
    assert [m for m in console.errors if f"status of 422 (UNPROCESSABLE ENTITY) [{link}]" not in m
            ] == [], console.messages


def test_the_review_page_fits_a_phone_screen(new_context: Any, student_link: str) -> None:
    student = new_context(**PHONE).new_page()
    student.goto(student_link)
    too_wide = student.evaluate("""() => [...document.querySelectorAll('main h1, main h2')]
        .filter(h => h.scrollWidth > h.clientWidth).map(h => h.textContent.trim())""")
    assert student.evaluate("document.documentElement.scrollWidth") <= 390, too_wide


def test_the_console_watch_catches_a_csp_violation(live: Live, new_context: Any,
                                                   console: Console) -> None:
    """Guards the guard: an inline script is refused by the CSP, and the watch reports it."""
    page = new_context().new_page()
    page.goto(f"{live.base_url}/login")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.injected = true'; document.body.append(s); }""")
    page.wait_for_function("() => true")
    assert page.evaluate("window.injected === undefined")
    assert any("Content Security Policy" in m and "script-src" in m for m in console.errors), \
        console.messages
