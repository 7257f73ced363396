"""`docservice demo`: one placement through the whole flow, over real HTTP and real SMTP."""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from werkzeug.serving import make_server

from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.config import CHECKOUT, MailSettings, Settings
from docservice.db import unit_of_work
from docservice.devmail import Inbox, free_port, smtp_server
from docservice.errors import DocserviceError
from docservice.runtime import Runtime
from docservice.services import documents as documents_service
from docservice.services import placements, users
from docservice.services.years import load_year_file
from docservice.signing.pki import init_dev_pki

DEMO_ACTOR = Actor("demo")
YEAR_FILE = CHECKOUT / "data" / "academic-years" / "2023-2024.toml"
PLACEMENTS_FILE = CHECKOUT / "data" / "demo" / "placements.csv"


class Browser:
    """A cookie-keeping HTTP client that fills in forms' CSRF tokens, like a person's browser."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self._url(path), timeout=60) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def get_bytes(self, path: str) -> bytes:
        with self.opener.open(self._url(path), timeout=60) as response:
            return response.read()  # type: ignore[no-any-return]

    def submit(self, page_path: str, action: str, fields: dict[str, str]) -> str:
        """Load the page, then post `fields` with its CSRF token to `action`."""
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get(page_path))
        if not match:
            raise DocserviceError(f"no form on {page_path}")
        data = urllib.parse.urlencode({"csrf_token": match.group(1), **fields}).encode()
        with self.opener.open(self._url(action), data=data, timeout=120) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path


def _wait_for_mail(inbox: Inbox, to: str, count: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = inbox.to(to)
        if len(messages) >= count:
            return messages[count - 1].get_content()  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise DocserviceError(f"no e-mail reached {to} within {timeout:.0f} s")


def _link(body: str, base_url: str, prefix: str) -> str:
    match = re.search(re.escape(base_url) + prefix + r"[A-Za-z0-9_/-]+", body)
    if not match:
        raise DocserviceError(f"no {prefix} link in the e-mail")
    return match.group(0)


def run_demo(out: Path, *, echo: Callable[[str], None] = print,
             base_settings: Settings | None = None) -> list[Path]:
    """Sign the first demo placement as student, company and school; return the PDFs written."""
    base = base_settings or Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="docservice-demo-") as tmp, smtp_server() as (inbox, smtp_port):
        root = Path(tmp)
        web_port = free_port()
        settings = replace(
            base, env="development", instance_path=root, database_url=f"sqlite:///{root / 'demo.sqlite3'}",
            blob_path=root / "blobs", outbox_path=root / "outbox",
            base_url=f"http://127.0.0.1:{web_port}",
            mail=MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port,
                              sender="Stagebureau <stages@school.example.org>"),
        )
        init_dev_pki(settings.pki_path)
        app = create_app(settings=settings)
        rt: Runtime = app.extensions["docservice"]
        server = make_server("127.0.0.1", web_port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            return _walk_through(rt, settings, inbox, out, echo)
        finally:
            server.shutdown()
            rt.close()


def _walk_through(rt: Runtime, settings: Settings, inbox: Inbox, out: Path,
                  echo: Callable[[str], None]) -> list[Path]:
    password = secrets.token_urlsafe(16)
    migrate.upgrade(rt.db)
    with unit_of_work(rt.db) as session:
        year = load_year_file(session, YEAR_FILE)
        first_row = PLACEMENTS_FILE.read_bytes().decode("utf-8").splitlines()[:2]
        placement = placements.import_placements(
            session, ("\n".join(first_row) + "\n").encode(), actor=DEMO_ACTOR).placements[0]
        coordinator_email = year.coordinator_email
        users.add_user(session, email=coordinator_email, name=year.coordinator_name,
                       role="coordinator", password=password)
        placement_id = placement.id
        student = (placement.student_email, placement.student_full_name)
        company = (placement.company_signatory_email, placement.company_signatory_name)
    echo(f"Demo placement: {student[1]} at {placement.company_name}")
    with unit_of_work(rt.db) as session:
        made = documents_service.generate_missing(
            session, converter=rt.converter, blobs=rt.blobs,
            templates_root=settings.templates_path, pdfa=settings.pdfa,
            converters=settings.converters, actor=DEMO_ACTOR)
    echo(f"Generated {len(made)} document(s) through LibreOffice")

    base = settings.base_url
    coordinator = Browser(base)
    coordinator.submit("/login", "/login", {"email": coordinator_email, "password": password})
    page, actions = f"/coordinator/desk/placements/{placement_id}", \
        f"/coordinator/placements/{placement_id}"
    coordinator.submit(page, f"{actions}/envelope", {})
    echo("Coordinator opened the envelope")

    for (email, name), role in ((student, "student"), (company, "company")):
        url = _link(_wait_for_mail(inbox, email, 1), base, "/sign/")
        signer = Browser(base)
        html = signer.submit(url, url, {"consent": "yes", "full_name": name})
        if 'id="signed"' not in html:
            raise DocserviceError(f"the {role} could not sign")
        echo(f"{role.capitalize()} {name} signed through the link e-mailed to {email}")

    _link(_wait_for_mail(inbox, coordinator_email, 1), base, "/coordinator/desk/placements/")
    coordinator.submit(page, f"{actions}/envelope/approve", {})
    echo("Coordinator approved: the school's seal is applied")
    _wait_for_mail(inbox, student[0], 2)  # the confirmation that all three signed

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with unit_of_work(rt.db) as session:
        from docservice.models import Placement

        for document in session.get(Placement, placement_id).current_documents():  # type: ignore[union-attr]
            data = coordinator.get_bytes(f"{actions}/documents/{document.id}.pdf")
            target = out / f"{document.placement.student_number}-{document.kind}.pdf"
            target.write_bytes(data)
            written.append(target)
    echo(f"Wrote {len(written)} signed PDF(s) to {out}")
    return written
