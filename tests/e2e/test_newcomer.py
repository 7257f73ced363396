"""The product walked from outside, beyond issue 15's list: a signer who presses twice, the desk
on a 390-pixel phone with a long e-mail address, a tampered PDF on the verify page, the jobs page
and the API documentation a newcomer finds in the menu.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.e2e.helpers import (
    PHONE,
    SLOW,
    Console,
    Live,
    log_in,
    open_envelope_now,
    placement,
    wait_for_link,
)
from tests.factories import row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NewContext = Callable[..., BrowserContext]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
#: Long enough to push a table out of a phone's screen unless it may break.
LONG_NAME = "Maximiliaan Vandenbroucke-Delacroix"
LONG_EMAIL = "maximiliaan.vandenbroucke-delacroix@vandenbroucke-engineering.example.com"
#: What sticks out to the right of a 390-pixel screen, for the assertion's message.
WIDER = """() => [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => `${e.tagName}#${e.id}.${e.className}`)"""


def _fits(page: Page, what: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, (what,
                                                                         page.evaluate(WIDER))


def _upload(page: Page, live: Live, name: str, data: bytes) -> None:
    page.goto(f"{live.base_url}/verify")
    upload: FilePayload = {"name": name, "mimeType": "application/pdf", "buffer": data}
    page.locator("#file").set_input_files(files=[upload])
    page.locator("form[enctype] button[type=submit]").click()
    expect(page.locator("#report")).to_be_visible(timeout=SLOW)


def test_a_double_press_signs_once_and_the_desk_fits_a_phone(
        live: Live, new_context: NewContext, console: Console) -> None:
    n = 60
    placement_id = placement(live, n, nda="nee", copyright_waiver="nee",
                             company_signatory_name=LONG_NAME,
                             company_signatory_email=LONG_EMAIL)
    open_envelope_now(live, placement_id)
    student = new_context(**DESKTOP).new_page()
    student.goto(wait_for_link(live, row(n)["student_email"], "/sign/"))
    posts: list[str] = []
    student.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    student.locator("#consent").check()
    student.locator("#full_name").fill("Zoë Vermeulen-D'Hondt")
    # Two presses 150 ms apart, while the first is being signed: one request, one result.
    # (Before, the second request's answer "Al ondertekend door de student" replaced the first.)
    student.evaluate("""() => { const button = document.querySelector('#sign [type=submit]');
                                button.click(); setTimeout(() => button.click(), 150); }""")
    expect(student.locator("#signed h1")).to_have_text("Ondertekend", timeout=SLOW)
    assert len(posts) == 1, posts

    # The desk on a phone: the dashboard, and the placement page whose signers' table holds a
    # long address and whose history holds the student's browser: nothing scrolls sideways.
    desk = new_context(**PHONE).new_page()
    log_in(desk, live)
    desk.goto(f"{live.base_url}/coordinator/?year=2023-2024")
    dashboard_row = desk.locator(f'tr[data-placement="{placement_id}"]')
    expect(dashboard_row.locator(".state").first).to_be_visible()  # not the colour alone
    _fits(desk, "desk dashboard")
    desk.goto(f"{live.base_url}/coordinator/desk/placements/{placement_id}")
    expect(desk.locator("#envelope")).to_contain_text(LONG_EMAIL)
    expect(desk.locator("#history tr[data-action='signer.signed']")).to_have_count(1)
    _fits(desk, "placement page")
    # The signers' buttons are there on a phone too (a rule hid every table's fourth column on).
    company = desk.locator("#envelope tr[data-role=company]")
    expect(company.get_by_role("button", name="Stuur nieuwe link")).to_be_visible()
    expect(company.locator("#revoke-company")).to_be_visible()
    desk.get_by_role("link", name="Gegevens wijzigen").click()
    expect(desk.locator("#signatures-at-stake")).to_be_visible()
    _fits(desk, "edit form")

    # The student's signed agreement, one byte changed, on the verify page: it says so.
    desk.get_by_role("link", name="Terug naar de plaatsing").click()
    href = desk.locator("#documents a", has_text="PDF").first.get_attribute("href")
    pdf = desk.request.get(f"{live.base_url}{href}").body()
    at = pdf.index(b"Stageovereenkomst")  # in the signed bytes (the document's title)
    tampered = pdf[:at] + b"Stageovereenkomsx" + pdf[at + len(b"Stageovereenkomst"):]
    _upload(desk, live, "tampered.pdf", tampered)
    # In words on the Dutch page, each code beside its words for whoever searches for it.
    expect(desk.locator("#indication")).to_contain_text("Mislukt")
    expect(desk.locator("#indication")).to_contain_text("HASH_FAILURE")
    expect(desk.locator("#report")).to_contain_text("Signature_student")
    _fits(desk, "verification report")
    _upload(desk, live, "untouched.pdf", pdf)
    expect(desk.locator("#indication")).not_to_contain_text("FAILED")
    _upload(desk, live, "notes.pdf", b"not a PDF at all")
    expect(desk.locator("#indication")).to_contain_text("FORMAT_FAILURE")
    assert console.errors == [], console.messages


def test_the_jobs_page_and_the_api_documentation_from_the_menu(
        live: Live, new_context: NewContext, console: Console) -> None:
    desk = new_context(**DESKTOP).new_page()
    log_in(desk, live)
    desk.locator("#nav-jobs").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Achtergrondtaken en mail")
    expect(desk.get_by_role("heading", level=2, name="Mislukte taken")).to_be_visible()
    desk.locator("#nav-api").click()
    # A page a person reads, made from the OpenAPI description that tools fetch as JSON.
    expect(desk.get_by_role("heading", level=1)).to_have_text("API-documentatie")
    description = json.loads(desk.request.get(f"{live.base_url}/api/v1/openapi.json").text())
    assert description["openapi"].startswith("3.") and description["paths"], description.keys()
    paths = desk.locator("code.path").all_inner_texts()
    assert set(description["paths"]) <= set(paths)
    assert any(path.endswith("/placements") for path in paths)
    assert console.errors == [], console.messages
