"""Issue 15, items 2-10, clicked through in Debian's Chromium as people would.

A coordinator corrects a start date, exports and re-imports; signers see what became of a used
link; every party downloads the archived contract from the link in their e-mail; errors sit
beside their field; what cannot be undone asks first; each role finds its way from "/". The
signing links, reminders and copy links come from the e-mails the real SMTP server received.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Locator, Page, expect

from docservice.cli import main
from tests.e2e.helpers import (
    COORDINATOR_LOGIN,
    COORDINATOR_MAIL,
    PHONE,
    SLOW,
    Console,
    Live,
    log_in,
    log_in_as,
    open_envelope_now,
    placement,
    wait_for_any_link,
    wait_for_link,
)
from tests.factories import row
from tests.web.helpers import make_user

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NewContext = Callable[..., BrowserContext]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
STUDENT_NAME = "Zoë Vermeulen-D'Hondt"
COMPANY_NAME = "Els Janssens"  # the factory row's company signatory
AUDITOR = "auditor.people@school.example.org"
#: A moment as the pages show it: a day, a time and the Brussels zone.
MOMENT = r"\d\d/\d\d/\d{4},? \d\d:\d\d (CET|CEST)"


def _company(n: int) -> str:
    return f"people{n}@company.example.com"


def _one_document(live: Live, n: int, **overrides: str) -> int:
    """A placement with the agreement only (no NDA, no waiver): the cheapest to sign."""
    return placement(live, n, nda="nee", copyright_waiver="nee",
                     company_signatory_email=_company(n), **overrides)


def _placement_page(live: Live, placement_id: int) -> str:
    return f"{live.base_url}/coordinator/desk/placements/{placement_id}"


def _sign(page: Page, name: str) -> None:
    page.locator("#consent").check()
    page.locator("#full_name").fill(name)
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("#signed")).to_be_visible(timeout=SLOW)


def _pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf,
                         capture_output=True, check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def _download(page: Page, link: Locator, folder: Path) -> bytes:
    """Save what `link` leads to as a person does with Alt+click (Chromium's "save link")."""
    with page.expect_download() as started:
        link.click(modifiers=["Alt"])
    target = folder / started.value.suggested_filename
    started.value.save_as(target)
    return target.read_bytes()


def _pdfsig(path: Path) -> list[tuple[str, str, bool]]:
    """Each signature as poppler's pdfsig sees it: field, integrity verdict, whether it covers
    the whole file. (Not trust: the test PKI's root is in no system store; and pdfsig cannot
    check a document timestamp, which the verify page does.)"""
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    return [(field, verdict.strip(), "Total document signed" in block)
            for block in out.split("Signature #")[1:]
            for field, verdict in re.findall(r"Field Name: (\S+).*?Signature Validation: ([^\n]+)",
                                             block, re.S)]


def _no_console_errors(console: Console, *allowed: str) -> None:
    assert [m for m in console.errors if not any(a in m for a in allowed)] == [], console.messages


# --- items 4, 5, 8, 9: a whole envelope, every party holding the signed contract ---------------


def test_every_party_signs_and_downloads_the_archived_contract(
        live: Live, new_context: NewContext, console: Console, tmp_path: Path) -> None:
    n = 40
    placement_id = _one_document(live, n)
    student_email, company_email = row(n)["student_email"], _company(n)
    page = _placement_page(live, placement_id)
    desk = new_context(**DESKTOP).new_page()
    log_in(desk, live)
    desk.goto(page)
    desk.locator("#open-envelope").click()
    expect(desk.get_by_role("status")).to_contain_text("Envelop geopend", timeout=SLOW)
    first_link = wait_for_link(live, student_email, "/sign/")

    # Item 9, a new link: the first click names what it does; nothing is sent yet.
    desk.locator("#envelope tr[data-role=student]").get_by_role(
        "button", name="Stuur nieuwe link").click()
    expect(desk.locator("#consequence")).to_contain_text("werkt daarna niet")
    expect(desk.locator("#consequence")).to_contain_text(student_email)
    assert len(live.inbox.to(student_email)) == 1
    student = new_context(**PHONE).new_page()
    student.goto(first_link)
    expect(student.locator("#sign")).to_be_visible()  # the link sent still works
    desk.locator("#confirm").click()
    link = wait_for_link(live, student_email, "/sign/", count=2)
    assert link != first_link
    student.goto(first_link)
    expect(student.locator("#what")).to_have_text(re.compile(
        "^Deze link is vervangen door een nieuwere link op " + MOMENT))

    # Item 9, a reminder now: asks first, naming the link it replaces, then mails the student.
    desk.goto(page)
    desk.locator("#remind").click()
    expect(desk.locator("#consequence")).to_contain_text(
        f"{student_email} ({STUDENT_NAME}, student) krijgt nu een herinnering")
    expect(desk.locator("#consequence")).to_contain_text("werkt daarna niet meer")
    student.goto(link)
    expect(student.locator("#sign")).to_be_visible()
    assert len(live.inbox.to(student_email)) == 2
    desk.locator("#confirm").click()
    expect(desk.get_by_role("status")).to_contain_text("Herinnering verstuurd")
    link = wait_for_link(live, student_email, "/sign/", count=3)
    assert live.inbox.to(student_email)[-1]["Subject"].startswith("Herinnering")

    # Item 8: a wrong name is refused beside the field, which has the focus; nothing is lost.
    student.goto(link)
    student.locator("#consent").check()
    student.locator("#full_name").fill("Zoe Vermeulen")
    student.locator("#sign button[type=submit]").click()
    error = student.locator("#full_name-error")
    expect(error).to_contain_text(f"Typ je volledige naam zoals hij hier staat: {STUDENT_NAME}")
    expect(error).to_be_in_viewport()
    assert student.evaluate("document.activeElement.id") == "full_name"
    name = student.locator("#full_name")
    expect(name).to_have_value("Zoe Vermeulen")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", "full_name-error")
    expect(student.locator("#consent")).to_be_checked()
    name.fill(STUDENT_NAME)
    student.locator("#sign button[type=submit]").click()
    expect(student.locator("#signed")).to_be_visible(timeout=SLOW)
    expect(student.locator("#signed")).to_contain_text("Je handtekening staat op 1 document(en)")
    # The link again: what happened, not the form.
    student.goto(link)
    expect(student.locator("#sign")).to_have_count(0)
    expect(student.locator("#what")).to_have_text(re.compile(
        "^(Je|U) hebt ondertekend op " + MOMENT))  # "je": see the test after the next
    expect(student.locator("#link-used")).to_contain_text("Zodra alle partijen ondertekend hebben")

    # The company's signatory ("u"), on a computer.
    company = new_context(**DESKTOP).new_page()
    company_link = wait_for_link(live, company_email, "/sign/")
    company.goto(company_link)
    _sign(company, COMPANY_NAME)
    company.go_back()  # the back button: what happened, not a form that looks signable
    expect(company.locator("#link-used")).to_be_visible()
    expect(company.locator("#sign")).to_have_count(0)
    expect(company.locator("#what")).to_have_text(re.compile("^U hebt ondertekend op " + MOMENT))

    # Item 9, approve and seal: the page before names the consequence; nothing is sealed yet.
    desk.goto(page)
    desk.locator("#approve").click()
    expect(desk.locator("#consequence")).to_contain_text("kan niet ingetrokken worden")
    expect(desk.locator("#consequence")).to_contain_text("Frank Vandromme")
    desk.goto(page)
    expect(desk.locator("#state")).not_to_have_text("volledig ondertekend")
    desk.locator("#approve").click()
    desk.locator("#confirm").click()
    expect(desk.get_by_role("status")).to_contain_text("Goedgekeurd", timeout=SLOW)

    # Item 5: each party's mail links to their copy; the PDF is the archived B-LTA file.
    downloaded: dict[str, bytes] = {}
    for who, address in (("student", student_email), ("company", company_email),
                         ("school", COORDINATOR_MAIL)):
        copies = new_context(**(PHONE if who == "student" else DESKTOP)).new_page()
        copies.goto(wait_for_any_link(live, address, "/copies/", timeout=SLOW / 1000))
        expect(copies.get_by_role("heading", level=1)).to_have_text("Volledig ondertekend")
        item = copies.locator("#copies li").first
        sha = re.search(r"SHA-256 ([0-9a-f]{64})", item.inner_text())
        assert sha, item.inner_text()
        folder = tmp_path / who
        folder.mkdir()
        pdf = _download(copies, item.get_by_role("link", name="PDF").first, folder)
        assert hashlib.sha256(pdf).hexdigest() == sha.group(1)
        [saved] = folder.glob("*.pdf")
        signatures = _pdfsig(saved)
        # Student, company, school, intact; then the archive's document timestamp (B-LTA).
        assert [(f, v) for f, v, _whole in signatures[:3]] == [
            (f"Signature_{role}", "Signature is Valid.")
            for role in ("student", "company", "school")], signatures
        assert signatures[-1][0].startswith("DocTimeStamp") and signatures[-1][2], signatures
        downloaded[who] = pdf
    assert len(set(downloaded.values())) == 1, "every party holds the same archived file"

    # The verify page agrees, and says so in words a person reads.
    desk.goto(f"{live.base_url}/verify")
    upload: FilePayload = {"name": "contract.pdf", "mimeType": "application/pdf",
                           "buffer": downloaded["student"]}
    desk.locator("#file").set_input_files(files=[upload])
    desk.locator("form[enctype] button[type=submit]").click()
    expect(desk.locator("#indication")).to_contain_text("TOTAL_PASSED", timeout=SLOW)

    # The student's own page says "volledig ondertekend" and offers the same file.
    desk.goto(page)
    desk.locator("#student-link button[value=show]").click()
    home = new_context(**PHONE).new_page()
    home.goto((desk.locator("#link").text_content() or "").strip())
    expect(home.locator("#complete")).to_contain_text("Volledig ondertekend")
    own = _download(home, home.locator("#complete").get_by_role("link", name="ondertekende PDF"),
                    tmp_path)
    assert own == downloaded["student"]

    # The used signing link now leads to the documents: a new copy link, to the known address.
    student.goto(link)
    expect(student.locator("#what")).to_have_text(re.compile("hebt ondertekend op " + MOMENT))
    student.get_by_role("button", name="Mail mij een link naar de ondertekende documenten"
                        ).click()
    expect(student.locator("main")).to_contain_text("We mailden op ")  # just now: not again
    _no_console_errors(console, "status of 410", "status of 422")


def test_a_used_link_says_je_to_a_student(live: Live, new_context: NewContext) -> None:
    n = 43
    open_envelope_now(live, _one_document(live, n))
    link = wait_for_link(live, row(n)["student_email"], "/sign/")
    student = new_context(**PHONE).new_page()
    student.goto(link)
    _sign(student, STUDENT_NAME)
    student.goto(link)
    expect(student.locator("#what")).to_have_text(re.compile("^Je hebt ondertekend op " + MOMENT),
                                                  timeout=2_000)
    expect(student.locator("#link-used")).not_to_contain_text(re.compile(r"\b(u|uw)\b"),
                                                              timeout=2_000)


# --- item 4 in English, item 9 decline and cancel-and-regenerate, item 2 with a signature -----


def test_an_english_company_declines_and_the_coordinator_corrects_the_date(
        live: Live, new_context: NewContext, console: Console) -> None:
    n = 41
    placement_id = _one_document(live, n, language="en")
    open_envelope_now(live, placement_id)
    student = new_context(**PHONE).new_page()
    link = wait_for_link(live, row(n)["student_email"], "/sign/")
    student.goto(link)
    expect(student.locator("html")).to_have_attribute("lang", "en")
    _sign(student, STUDENT_NAME)
    student.goto(link)
    expect(student.locator("#what")).to_have_text(re.compile("^You signed on " + MOMENT))

    # Declining asks first, naming the consequence; until confirmed the envelope stays open.
    company = new_context(**DESKTOP).new_page()
    company_link = wait_for_link(live, _company(n), "/sign/")
    company.goto(company_link)
    company.locator("#reason").fill("The start date is wrong: we agreed on 19 February.")
    company.locator("#decline button[type=submit]").click()
    expect(company.locator("#confirm-page")).to_contain_text("for everyone")
    desk = new_context(**DESKTOP).new_page()
    log_in(desk, live)
    page = _placement_page(live, placement_id)
    desk.goto(page)
    expect(desk.locator("#envelope strong").first).to_have_text("open")
    company.locator("#confirm").click()
    expect(company.locator("#declined")).to_be_visible(timeout=SLOW)
    company.goto(company_link)
    expect(company.locator("html")).to_have_attribute("lang", "en")
    expect(company.locator("#what")).to_have_text(re.compile(
        "^You declined to sign on " + MOMENT))

    # Cancel and regenerate: the page names the student's signature; going back does nothing.
    desk.goto(page)
    desk.locator("#regenerate textarea").fill("Verkeerde startdatum")
    desk.locator("#regenerate button[type=submit]").click()
    lost = desk.locator("#signatures-lost")
    expect(lost.locator("li")).to_have_count(1)
    expect(lost.locator("li[data-role=student]")).to_contain_text(STUDENT_NAME)
    desk.locator("#do-not-confirm").click()
    expect(desk.locator("#envelope strong").first).to_have_text("geweigerd")

    # The fix itself, on the edit form: the form says up front which signature it costs.
    old_start = date(2024, 2, 12)
    new_start = old_start + timedelta(days=7)
    desk.get_by_role("link", name="Gegevens wijzigen").click()
    expect(desk.locator("#signatures-at-stake li[data-role=student]")).to_contain_text(
        STUDENT_NAME)
    desk.get_by_label("Startdatum").fill(new_start.isoformat())
    desk.locator("#save").click()
    expect(desk.locator("#signatures-lost li[data-role=student]")).to_contain_text(STUDENT_NAME)
    expect(desk.locator("#changes tr[data-field=start_date]")).to_contain_text(
        new_start.isoformat())
    desk.locator("#confirm").click()
    expect(desk.get_by_role("status")).to_be_visible()
    expect(desk.locator("main")).to_contain_text(f"{new_start:%d/%m/%Y}")
    _no_console_errors(console, "status of 410")


# --- item 2 without signatures, and item 3: the export imports again ---------------------------


def test_the_coordinator_fixes_a_start_date_and_the_export_imports_unchanged(
        live: Live, new_context: NewContext, console: Console, tmp_path: Path) -> None:
    n = 42
    # Not the default 12/02/2024, which the agreement also prints as the semester's start.
    old_start, new_start = date(2024, 2, 14), date(2024, 2, 21)
    placement_id = _one_document(live, n, start_date=old_start.isoformat())
    desk = new_context(**DESKTOP).new_page()
    log_in(desk, live)
    desk.goto(_placement_page(live, placement_id))
    expect(desk.locator("main")).to_contain_text(f"{old_start:%d/%m/%Y}")
    desk.get_by_role("link", name="Gegevens wijzigen").click()
    expect(desk.locator("#signatures-at-stake")).to_have_count(0)
    field = desk.get_by_label("Startdatum")
    field.fill("31/02/2024")
    desk.locator("#save").click()
    expect(desk.locator("#err-start_date")).to_contain_text("is geen datum")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("31/02/2024")
    field.fill(new_start.isoformat())
    desk.locator("#save").click()
    expect(desk.get_by_role("status")).to_be_visible(timeout=SLOW)
    expect(desk.locator("main")).to_contain_text(f"{new_start:%d/%m/%Y}")
    expect(desk.locator("main")).not_to_contain_text(f"{old_start:%d/%m/%Y}")
    pdf = _download(desk, desk.locator("#documents a", has_text="PDF").first, tmp_path)
    text = _pdf_text(pdf)
    assert f"{new_start:%d/%m/%Y}" in text and f"{old_start:%d/%m/%Y}" not in text

    # Item 3: the dashboard's export in import format, then `placements import --update`.
    desk.goto(f"{live.base_url}/coordinator/?year=2023-2024")
    exported = _download(desk, desk.get_by_role("link", name="Exporteer gegevens (importformaat)"),
                         tmp_path)
    assert f"{row(n)['student_number']}".encode() in exported
    assert b"'+32" in exported  # formula-safe: what made the round trip fail before
    cohort = tmp_path / "cohort.csv"
    cohort.write_bytes(exported)
    result = live.app.test_cli_runner().invoke(main, ["placements", "import", "--update",
                                                      str(cohort)])
    assert result.exit_code == 0, result.output
    assert re.search(r"Updated 0 placement\(s\) from .*; \d+ unchanged\.", result.output), \
        result.output
    # The import page has no update mode: the same file is refused there, naming each row.
    desk.goto(f"{live.base_url}/coordinator/import")
    desk.locator("#file").set_input_files(str(cohort))
    desk.get_by_role("button", name="Importeren").click()
    expect(desk.get_by_role("alert")).to_contain_text("Niets geïmporteerd")

    # Item 4 in Dutch: the company declines the corrected agreement; its link says so, "u".
    open_envelope_now(live, placement_id)
    student = new_context(**PHONE).new_page()
    student.goto(wait_for_link(live, row(n)["student_email"], "/sign/"))
    _sign(student, STUDENT_NAME)
    company = new_context(**DESKTOP).new_page()
    company_link = wait_for_link(live, _company(n), "/sign/")
    company.goto(company_link)
    company.locator("#reason").fill("De einddatum klopt niet.")
    company.locator("#decline button[type=submit]").click()
    expect(company.locator("#confirm-page")).to_contain_text("stopt de ondertekening voor iedereen")
    company.locator("#confirm").click()
    expect(company.locator("#declined")).to_be_visible(timeout=SLOW)
    company.goto(company_link)
    expect(company.locator("#what")).to_have_text(re.compile(
        "^U hebt de ondertekening geweigerd op " + MOMENT))
    expect(company.locator("#link-used")).to_contain_text("De stagecoördinator kreeg uw reden")
    _no_console_errors(console, "status of 410", "status of 422")


# --- item 8 for the login, item 10: every role finds its way -----------------------------------


def test_each_role_finds_its_way_from_the_root_and_the_menu(
        live: Live, new_context: NewContext, console: Console) -> None:
    anonymous = new_context(**DESKTOP).new_page()
    anonymous.goto(f"{live.base_url}/")
    expect(anonymous.locator("#email")).to_be_visible()
    # A wrong password: the e-mail address stays, the error is named, the password has focus.
    anonymous.locator("#email").fill(COORDINATOR_LOGIN)
    anonymous.locator("#password").fill("wrong password")
    anonymous.locator("#password").press("Enter")
    expect(anonymous.locator("#login-error")).to_be_visible()
    expect(anonymous.locator("#email")).to_have_value(COORDINATOR_LOGIN)
    for field in ("#email", "#password"):
        expect(anonymous.locator(field)).to_have_attribute("aria-invalid", "true")
        expect(anonymous.locator(field)).to_have_attribute("aria-describedby", "login-error")
    assert anonymous.evaluate("document.activeElement.id") == "password"

    make_user(live.runtime, email=AUDITOR, role="auditor")
    menus = {COORDINATOR_LOGIN: ("/coordinator/", ["desk", "archive", "verify", "jobs", "api"]),
             AUDITOR: ("/archive/", ["archive", "verify"])}
    for email, (landing, items) in menus.items():
        person = new_context(**DESKTOP).new_page()
        log_in_as(person, live, email)
        person.goto(f"{live.base_url}/")
        assert person.url == f"{live.base_url}{landing}", (email, person.url)
        expect(person.locator("nav.menu a[id^=nav-]")).to_have_count(len(items))
        for item in items:
            person.goto(f"{live.base_url}{landing}")
            with person.expect_navigation() as went:
                person.locator(f"#nav-{item}").click()
            response = went.value
            assert response is not None and response.status == 200, (email, item)
            person.go_back()
            person.locator("a.brand").click()
            assert person.url == f"{live.base_url}{landing}", (email, item, person.url)
    _no_console_errors(console, "status of 401")
