"""Every page for everyone: axe-core finds no serious or critical problem on any page, in both
languages, at a computer's and a phone's size; the signing page reads on a phone with the
documents' text for screen readers; signing and declining take the keyboard alone.

The tests walk the flows as people do and check each page in the state the flow left it in.
axe-core comes from npm (package.json, installed by scripts/setup.sh) and is injected into
Debian's Chromium; never `playwright install`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.e2e.helpers import (
    AXE_SCRIPT,
    COORDINATOR_LOGIN,
    PHONE,
    SLOW,
    Axe,
    Console,
    Live,
    log_in_as,
    open_envelope_now,
    placement,
    tab_to,
    wait_for_any_link,
    wait_for_link,
)
from tests.factories import row
from tests.web.helpers import make_user

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NewContext = Callable[..., BrowserContext]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
AUDITOR = "auditor@school.example.org"
#: A clause of the internship agreement, and the page of it that holds the clause.
CLAUSE = {"nl": "De stage is onbezoldigd.", "en": "The internship is unpaid."}


def _company(n: int) -> str:
    return f"signatory{n}@company.example.com"


def _open(live: Live, n: int, language: str = "nl") -> tuple[int, str]:
    """A placement whose envelope is open; its id and the student's signing link."""
    placement_id = placement(live, n, language=language, company_signatory_email=_company(n))
    open_envelope_now(live, placement_id)
    return placement_id, wait_for_link(live, row(n)["student_email"], "/sign/")


def _sign_by_clicking(page: Page, name: str) -> None:
    page.locator("#consent").check()
    page.locator("#full_name").fill(name)
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("#signed")).to_be_visible(timeout=SLOW)


def _no_console_errors(console: Console, *allowed: str) -> None:
    assert [m for m in console.errors if not any(a in m for a in allowed)] == [], console.messages


def test_axe_is_installed() -> None:
    assert AXE_SCRIPT.is_file(), "run scripts/setup.sh (npm ci) to install axe-core"


def test_axe_finds_what_it_should(live: Live, new_context: NewContext) -> None:
    """Guards the guard: a grey-on-white text and an unlabelled field are reported."""
    page = new_context(**DESKTOP).new_page()
    page.goto(f"{live.base_url}/login")
    page.evaluate("""() => { const p = document.createElement('p');
        p.textContent = 'faint'; p.style.color = '#bbb'; document.querySelector('main').append(p);
        document.querySelector('main').append(document.createElement('input')); }""")
    axe = Axe()
    axe.check(page, "login, spoiled")
    assert any("color-contrast" in p for p in axe.problems), axe.problems
    assert any(" label " in p for p in axe.problems), axe.problems
    assert all("at 1280×800" in p or "at 390×844" in p for p in axe.problems)


def test_a_student_reads_every_page_and_signs_with_the_keyboard_alone(
        live: Live, new_context: NewContext, console: Console) -> None:
    _, link = _open(live, 20)
    axe = Axe()
    student = new_context(**PHONE).new_page()
    student.goto(link)

    # Every page at the column's width, one below the other: nothing scrolls sideways.
    images = student.locator("ol.pages img")
    assert images.count() >= 3
    assert student.evaluate("document.documentElement.scrollWidth") <= 390
    sizes = images.evaluate_all(
        "imgs => imgs.map(i => [i.getBoundingClientRect().width, i.parentElement.clientWidth,"
        " i.getAttribute('width')])")
    assert all(abs(shown - column) < 1 and int(pixels) >= 900 for shown, column, pixels in sizes), \
        sizes
    first = images.first
    first.scroll_into_view_if_needed()
    student.wait_for_function("img => img.complete && img.naturalWidth >= 900",
                              arg=first.element_handle())
    expect(first).to_have_accessible_name(re.compile(r"^Stageovereenkomst, pagina 1 van \d+$"))

    # The agreement's text, page by page: the image's long description and, under it, a
    # "Tekst van pagina N" to open.
    agreement = student.locator("section.document").first
    described = agreement.locator("img[aria-describedby]")
    assert described.count() == agreement.locator("img").count()
    texts = [student.locator(f"#{i}").text_content() or "" for i in
             described.evaluate_all("imgs => imgs.map(i => i.getAttribute('aria-describedby'))")]
    [page_number] = [n for n, text in enumerate(texts, 1) if CLAUSE["nl"] in text]
    image = agreement.get_by_role("img", name=re.compile(rf"pagina {page_number} van"))
    expect(image).to_have_accessible_description(re.compile(re.escape(CLAUSE["nl"])))
    details = agreement.locator("details.page-text").nth(page_number - 1)
    expect(details.locator("summary")).to_have_text(f"Tekst van pagina {page_number}")
    details.locator("summary").focus()
    student.keyboard.press("Enter")
    expect(details.get_by_text(CLAUSE["nl"])).to_be_visible()
    expect(details.locator("[lang=nl]")).to_have_count(1)
    expect(student.get_by_label("Ik heb de documenten gelezen")).not_to_be_checked()
    axe.check(student, "sign review (nl)")

    # The keyboard alone: the first Tab stop leads to the form, then consent, name, button.
    student.reload()
    tab_to(student, "a.skip-link", limit=1)
    expect(student.locator("a.skip-link")).to_have_text("Naar het ondertekenen")
    expect(student.locator("a.skip-link")).to_be_in_viewport()
    student.keyboard.press("Enter")
    tab_to(student, "#consent", limit=1)
    student.keyboard.press("Space")
    expect(student.locator("#consent")).to_be_checked()
    tab_to(student, "#full_name", limit=1)
    student.keyboard.type("Zoë Vermeulen-D'Hondt")
    tab_to(student, "#sign button[type=submit]", limit=1)
    student.keyboard.press("Enter")
    expect(student.locator("#signed")).to_be_visible(timeout=SLOW)
    axe.check(student, "signed (nl)")

    student.goto(link)  # the link, once used, says what happened
    expect(student.locator("#link-used")).to_be_visible()
    axe.check(student, "used link (nl)")

    # The company's signatory ("u" in Dutch) declines, with the mouse this time.
    company = new_context(**DESKTOP).new_page()
    company.goto(wait_for_link(live, _company(20), "/sign/"))
    axe.check(company, "sign review, company (nl)")
    company.locator("#reason").fill("De startdatum klopt niet.")
    company.locator("#decline button[type=submit]").click()
    expect(company.locator("#confirm-page")).to_be_visible()
    axe.check(company, "decline confirmation (nl)")
    company.locator("#confirm").click()
    expect(company.locator("#declined")).to_be_visible(timeout=SLOW)
    axe.check(company, "declined (nl)")
    _no_console_errors(console, "status of 410")
    axe.assert_clean()


def test_a_company_declines_in_english_with_the_keyboard_alone(
        live: Live, new_context: NewContext, console: Console) -> None:
    placement_id, link = _open(live, 21, language="en")
    axe = Axe()
    student = new_context(**DESKTOP).new_page()
    student.goto(link)
    expect(student.locator("html")).to_have_attribute("lang", "en")
    expect(student.get_by_label("I have read the documents")).to_be_visible()
    texts = student.locator("ol.pages [id^=text-]").all_text_contents()
    assert any(CLAUSE["en"] in text for text in texts), texts[:2]
    axe.check(student, "sign review (en)")
    _sign_by_clicking(student, "Zoë Vermeulen-D'Hondt")
    axe.check(student, "signed (en)")

    company = new_context(**DESKTOP).new_page()
    company.goto(wait_for_link(live, _company(21), "/sign/"))
    tab_to(company, "a[href='#decline']")
    company.keyboard.press("Enter")
    tab_to(company, "#reason", limit=1)
    company.keyboard.type("The start date is wrong: we agreed on 19 February.")
    tab_to(company, "#decline button[type=submit]", limit=1)
    company.keyboard.press("Enter")
    expect(company.locator("#confirm-page")).to_be_visible()
    axe.check(company, "decline confirmation (en)")
    tab_to(company, "#confirm")
    company.keyboard.press("Enter")
    expect(company.locator("#declined")).to_be_visible(timeout=SLOW)
    axe.check(company, "declined (en)")
    company.goto(company.url.rsplit("/decline", 1)[0])
    expect(company.locator("#link-used")).to_be_visible()
    axe.check(company, "used link, declined (en)")

    student.goto(link)
    axe.check(student, "used link, signed (en)")
    home = _student_home(live, new_context, placement_id)
    expect(home.locator("html")).to_have_attribute("lang", "en")
    axe.check(home, "student home (en)")
    _no_console_errors(console, "status of 410")
    axe.assert_clean()


def _student_home(live: Live, new_context: NewContext, placement_id: int) -> Page:
    """The student's personal page, from a link the coordinator makes on the placement page."""
    coordinator = new_context(**DESKTOP).new_page()
    log_in_as(coordinator, live, COORDINATOR_LOGIN)
    coordinator.goto(f"{live.base_url}/coordinator/desk/placements/{placement_id}")
    coordinator.locator("#student-link button[value=show]").click()
    url = coordinator.locator("#link").text_content() or ""
    home = new_context(**PHONE).new_page()
    home.goto(url.strip())
    return home


def test_every_staff_page_and_a_completed_envelope(
        live: Live, new_context: NewContext, console: Console) -> None:
    axe = Axe()
    anonymous = new_context(**DESKTOP).new_page()
    anonymous.goto(f"{live.base_url}/login")
    axe.check(anonymous, "login")
    response = anonymous.goto(f"{live.base_url}/no-such-page")
    assert response is not None and response.status == 404
    axe.check(anonymous, "error 404")
    response = anonymous.goto(f"{live.base_url}/sign/{'x' * 43}")
    assert response is not None and response.status in (404, 410)
    axe.check(anonymous, "unknown signing link")

    placement_id = placement(live, 22, company_signatory_email=_company(22))
    desk = new_context(**DESKTOP).new_page()
    log_in_as(desk, live, COORDINATOR_LOGIN)
    desk.goto(f"{live.base_url}/coordinator/")
    axe.check(desk, "desk dashboard")
    desk.goto(f"{live.base_url}/coordinator/import")
    axe.check(desk, "import")
    desk.goto(f"{live.base_url}/coordinator/desk/placements/{placement_id}/edit")
    axe.check(desk, "edit form")
    placement_page = f"{live.base_url}/coordinator/desk/placements/{placement_id}"
    desk.goto(placement_page)
    axe.check(desk, "placement page, documents ready")
    desk.locator("#student-link button[value=show]").click()
    axe.check(desk, "student link made")
    student_home = desk.locator("#link").text_content() or ""

    desk.goto(placement_page)
    desk.locator("#open-envelope").click()
    expect(desk.locator("#envelope")).to_be_visible(timeout=SLOW)
    student = new_context(**PHONE).new_page()
    student.goto(wait_for_link(live, row(22)["student_email"], "/sign/"))
    _sign_by_clicking(student, "Zoë Vermeulen-D'Hondt")
    company = new_context(**DESKTOP).new_page()
    company.goto(wait_for_link(live, _company(22), "/sign/"))
    axe.check(company, "sign review, company (nl)")
    _sign_by_clicking(company, "Els Janssens")

    desk.goto(placement_page)
    axe.check(desk, "placement page, waiting for the school")
    desk.locator("#regenerate textarea").fill("De startdatum is fout.")
    desk.locator("#regenerate button[type=submit]").click()
    axe.check(desk, "cancel and regenerate: confirmation")
    desk.goto(placement_page)
    desk.locator("#approve").click()
    axe.check(desk, "approve: confirmation")
    desk.locator("#confirm").click()
    expect(desk.locator("#envelope strong").first).to_have_text(re.compile("completed|volledig ondertekend"),
                                                                timeout=SLOW)

    copies = new_context(**PHONE).new_page()
    copies.goto(wait_for_any_link(live, _company(22), "/copies/", timeout=SLOW / 1000))
    axe.check(copies, "copies (nl)")
    pdf_url = copies.locator("#copies a").first.get_attribute("href") or ""
    signed_pdf = copies.request.get(f"{live.base_url}{pdf_url}").body()
    student.goto(student_home.strip())
    expect(student.locator("#complete")).to_be_visible()
    axe.check(student, "student home, fully signed (nl)")

    desk.goto(f"{live.base_url}/archive/")
    axe.check(desk, "archive search")
    desk.goto(f"{live.base_url}/archive/?year=2023-2024")
    axe.check(desk, "archive search results")
    desk.locator("#results a").first.click()
    axe.check(desk, "archive entry")
    report = desk.locator("a[href$='/report.html']").first.get_attribute("href") or ""
    desk.goto(f"{live.base_url}{report}")
    axe.check(desk, "archived verification report")
    desk.goto(f"{live.base_url}/verify")
    axe.check(desk, "verify upload")
    upload: FilePayload = {"name": "signed.pdf", "mimeType": "application/pdf",
                           "buffer": signed_pdf}
    desk.locator("#file").set_input_files(files=[upload])
    desk.locator("form[enctype] button[type=submit]").click()
    expect(desk.locator("#report")).to_be_visible(timeout=SLOW)
    axe.check(desk, "verification report")
    desk.goto(f"{live.base_url}/coordinator/jobs/")
    axe.check(desk, "jobs")
    desk.goto(f"{live.base_url}/coordinator/")
    axe.check(desk, "desk dashboard, one envelope complete")

    make_user(live.runtime, email=AUDITOR, role="auditor")
    auditor = new_context(**DESKTOP).new_page()
    log_in_as(auditor, live, AUDITOR)
    response = auditor.goto(f"{live.base_url}/coordinator/import")
    assert response is not None and response.status == 403
    axe.check(auditor, "error 403")
    _no_console_errors(console, "status of 403", "status of 404")
    axe.assert_clean()
