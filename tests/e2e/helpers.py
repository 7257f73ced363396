"""What the browser tests share besides fixtures: the live server's handle, the console watch,
and the steps a person takes (log in, read a link from an e-mail)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cache

from flask import Flask
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect

from docservice.config import CHECKOUT
from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.helpers import PASSWORD, csrf_token, login

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
COORDINATOR_LOGIN = "coordinator@school.example.org"
COORDINATOR_MAIL = "frank.vandromme@thomasmore.be"  # the year's coordinator, from the TOML file
COMPANY = "els@janssens.example.com"
SLOW = 90_000  # ms: signing three PDFs with timestamps, or the seal, on a 2-core machine

# Every CSP violation also reaches the console; this makes sure it does, with the directive.
REPORT_CSP = """
document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));
"""


@dataclass
class Live:
    base_url: str
    runtime: Runtime
    inbox: Inbox
    app: Flask


@dataclass
class Console:
    """What the pages of a browser context wrote to the console, and their uncaught errors."""

    messages: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> BrowserContext:
        context.add_init_script(REPORT_CSP)
        context.on("console", lambda m: self.messages.append(
            f"{m.type}: {m.text} [{m.location.get('url', '')}]"))
        context.on("weberror", lambda e: self.messages.append(f"pageerror: {e.error}"))
        return context

    @property
    def errors(self) -> list[str]:
        """Errors and CSP violations, except Chromium's own request for a /favicon.ico (404:
        the service has none, and pages cannot stop the browser from asking)."""
        return [m for m in self.messages
                if (m.startswith(("error", "pageerror")) or "Content Security Policy" in m
                    or "CSP violation" in m) and not m.endswith("/favicon.ico]")]


def placement(live: Live, n: int, **overrides: str) -> int:
    """One imported placement (`row(n, **overrides)`) with its generated documents; its id."""
    rt = live.runtime
    with unit_of_work(rt.db) as session:
        [imported] = import_placements(session, csv_bytes([row(n, **overrides)]),
                                       actor=TEST_ACTOR).placements
        generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                         templates_root=rt.settings.templates_path, pdfa=True, converters=2,
                         actor=TEST_ACTOR)
        return imported.id


def open_envelope_now(live: Live, placement_id: int) -> None:
    """Open the placement's envelope with the coordinator's button (over the app's test client,
    no browser needed): the first signer is e-mailed their link."""
    client = live.app.test_client()
    login(client, COORDINATOR_LOGIN)
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))
    response = client.post(f"{page}/envelope", data={"csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def wait_for_link(live: Live, address: str, prefix: str, count: int = 1,
                  timeout: float = 30) -> str:
    """The link of kind `prefix` in the `count`-th e-mail the SMTP server received for `address`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = live.inbox.to(address)
        if len(messages) >= count:
            body = messages[count - 1].get_content()
            match = re.search(re.escape(live.base_url) + re.escape(prefix) + r"[A-Za-z0-9_/-]+",
                              body)
            assert match, body
            return match.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no e-mail reached {address}: {[m['To'] for m in live.inbox.messages]}")


def wait_for_any_link(live: Live, address: str, prefix: str, timeout: float = 30) -> str:
    """The first link of kind `prefix` in any e-mail the SMTP server received for `address`."""
    pattern = re.compile(re.escape(live.base_url) + re.escape(prefix) + r"[A-Za-z0-9_/-]+")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in live.inbox.to(address):
            match = pattern.search(message.get_content())
            if match:
                return match.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no {prefix} link reached {address}: "
                         f"{[m['Subject'] for m in live.inbox.to(address)]}")


def log_in(page: Page, live: Live) -> None:
    page.goto(f"{live.base_url}/login")
    # The form in the staff's language: Dutch unless they chose English.
    page.get_by_label(re.compile("^(E-mailadres|E-mail address)$")).fill(COORDINATOR_LOGIN)
    page.get_by_label(re.compile("^(Wachtwoord|Password)$")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(Aanmelden|Log in)$")).click()
    # The header names the role in the staff's language.
    expect(page.get_by_text(re.compile(r"^Frank \((coördinator|coordinator)\)"))).to_be_visible()


def log_in_as(page: Page, live: Live, email: str) -> None:
    """Log in through the form as `email` (a user made with tests.web.helpers.make_user)."""
    page.goto(f"{live.base_url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.locator("#password")).to_have_count(0)


def tab_to(page: Page, selector: str, *, limit: int = 60) -> None:
    """Press Tab, and only Tab, until the element matching `selector` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement !== null && document.activeElement"
                         ".matches(s)", selector):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


AXE_SCRIPT = CHECKOUT / "node_modules" / "axe-core" / "axe.min.js"
SIZES: tuple[ViewportSize, ...] = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})
# Every rule axe runs by default (WCAG 2.0, 2.1 A and AA, and best practices); what counts is
# what it rates serious or critical.
AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.impact} ${v.id} (${v.help}): ` + v.nodes.slice(0, 4)
      .map(n => n.target.join(' ') + ' → ' + (n.failureSummary || '').replace(/\\s+/g, ' '))
      .join(' | '));
}"""


@cache
def _axe_source() -> str:
    # A statement list, not a function: Playwright evaluates it as a script.
    return AXE_SCRIPT.read_text("utf-8") + "\n;true"


@dataclass
class Axe:
    """axe-core, run in the page as it stands, at a computer's and at a phone's size."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def check(self, page: Page, what: str) -> None:
        """Record every serious or critical violation on `page` at both sizes."""
        before = page.viewport_size
        for size in SIZES:
            page.set_viewport_size(size)
            if not page.evaluate("typeof window.axe === 'object'"):
                # Not add_script_tag(): that adds an inline <script>, which the service's CSP
                # refuses, as it should. Playwright's own evaluation is not subject to it.
                page.evaluate(_axe_source())
            found = page.evaluate(AXE_RUN)
            self.problems += [f"{what} at {size['width']}×{size['height']}: {p}" for p in found]
        if before is not None:
            page.set_viewport_size(before)
        self.checked.append(what)

    def assert_clean(self) -> None:
        assert self.checked, "axe checked no page"
        assert self.problems == [], "\n".join(self.problems)
