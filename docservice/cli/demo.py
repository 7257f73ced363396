"""`docservice demo`: one placement through the whole flow, over real HTTP and real SMTP."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import re
import secrets
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from werkzeug.serving import make_server

from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.config import CHECKOUT, MailSettings, Settings
from docservice.db import unit_of_work
from docservice.domain import BRUSSELS
from docservice.errors import DocserviceError
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox, free_port, smtp_server
from docservice.services import documents as documents_service
from docservice.services import placements, users
from docservice.services.years import load_year_file
from docservice.signing.pki import init_dev_pki

DEMO_ACTOR = Actor("demo")
YEAR_FILE = CHECKOUT / "data" / "academic-years" / "2023-2024.toml"
PLACEMENTS_FILE = CHECKOUT / "data" / "demo" / "placements.csv"



@dataclass(frozen=True)
class _Download:
    body: bytes
    headers: dict[str, str]


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

    def get_response(self, path: str) -> _Download:
        with self.opener.open(self._url(path), timeout=60) as response:
            return _Download(response.read(), dict(response.headers))

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
            blob_path=root / "blobs", outbox_path=root / "outbox", archive_path=root / "archive",
            base_url=f"http://127.0.0.1:{web_port}",
            mail=MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port,
                              sender="Stagebureau <stages@school.example.org>"),
        )
        init_dev_pki(settings.pki_path)
        app = create_app(settings=settings)
        rt: Runtime = app.extensions["docservice"]
        # An archive of its own, removed with the rest: write-once objects kept ten years
        # have no place in the checkout's archive/ (nor in a configured S3 bucket).
        from docservice.archive.store import FilesystemArchiveStore

        rt.use_archive_store(FilesystemArchiveStore(root / "archive"))
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
    year_path, cohort, _shift = demo_files(settings.instance_path / "demo",
                                           datetime.now(BRUSSELS).date())
    with unit_of_work(rt.db) as session:
        year = load_year_file(session, year_path)
        first_row = cohort.decode("utf-8").splitlines()[:2]
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
    coordinator.submit(page, f"{actions}/envelope/approve", {"confirm": "1"})
    echo("Coordinator approved: the school's seal is applied")
    _wait_for_mail(inbox, student[0], 2)  # the confirmation that all three signed

    # Once every document is archived (B-LTA, verified, stored write-once), each party gets a
    # link to its copy: the student's is how the demo fetches what the archive keeps.
    copies_url = _link(_wait_for_mail(inbox, student[0], 3, timeout=180), base, "/copies/")
    echo("Archived as PAdES B-LTA; the student's copy arrived by e-mail")
    page_html = Browser(base).get(copies_url)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    browser = Browser(base)
    for sha in dict.fromkeys(re.findall(r"/copies/[A-Za-z0-9_-]+/([0-9a-f]{64})\.pdf", page_html)):
        for which in ("pdf", "report.pdf", "report.html", "report.json", "report.etsi.xml"):
            response = browser.get_response(f"{copies_url}/{sha}.{which}")
            name = _filename(response.headers.get("Content-Disposition", ""))
            target = out / name
            target.write_bytes(response.body)
            written.append(target)
    echo(f"Wrote {len(written)} file(s) to {out}: the archived PDFs and their reports")
    return written


def _filename(disposition: str) -> str:
    match = re.search(r'filename="([A-Za-z0-9._-]+)"', disposition)
    if not match:
        raise DocserviceError("a download without a file name")
    return match.group(1)


# --- the demo cohort of `docservice init --demo` ----------------------------------------------

#: The academic year starts on 1 September here (the school's first term begins in September).
YEAR_STARTS = (9, 1)


def demo_year(today: date, base_code: str = "2023-2024") -> tuple[str, timedelta]:
    """The code of the academic year containing `today`, and how far the base year's dates move.

    The shift is the whole number of years between the two, rounded to whole weeks (so by a
    multiple of 7 days, at most 3 days off the calendar date): every date keeps its weekday,
    and the regulation's Monday start and Friday deadline stay a Monday and a Friday.
    """
    first = today.year if (today.month, today.day) >= YEAR_STARTS else today.year - 1
    base_first = int(base_code[:4])
    anchor = date(base_first + 1, 2, 12)  # any date of the base year would do
    days = (anchor.replace(year=anchor.year + first - base_first) - anchor).days
    return f"{first}-{first + 1}", timedelta(weeks=round(days / 7))


def _shift_date(text: str, shift: timedelta) -> str:
    text = text.strip()
    if not text:
        return text
    parsed = (datetime.strptime(text, "%d/%m/%Y").date() if "/" in text
              else date.fromisoformat(text))
    return (parsed + shift).isoformat()


def shifted_year_toml(text: str, code: str, shift: timedelta) -> str:
    """The academic-year file `text` for `code`: every date moved by `shift`."""
    text = re.sub(r'(?m)^code = "[^"]*"', f'code = "{code}"', text)
    return re.sub(r"(?m)^(\w+ = )(\d{4}-\d\d-\d\d)\s*$",
                  lambda m: m.group(1) + _shift_date(m.group(2), shift), text)


def shifted_placements(data: bytes, code: str, shift: timedelta) -> bytes:
    """The placements CSV `data` moved to the academic year `code` (dates moved by `shift`)."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["academic_year"] = code
        for column in ("start_date", "end_date", "thesis_permission_date"):
            row[column] = _shift_date(row[column], shift)
        writer.writerow(row)
    return out.getvalue().encode()


def demo_files(folder: Path, today: date) -> tuple[Path, bytes, timedelta]:
    """Write the demo's academic year (the 2023-2024 file, moved to the year containing `today`)
    into `folder`; return its path, the demo placements moved likewise, and the shift."""
    code, shift = demo_year(today)
    folder.mkdir(parents=True, exist_ok=True)
    year_path = folder / f"{code}.toml"
    text = YEAR_FILE.read_text(encoding="utf-8")
    header = (f"# The demo's academic year: {YEAR_FILE.name} moved by {shift.days} days "
              f"({shift.days // 7} weeks), written by `docservice init --demo`.\n")
    year_path.write_text(header + shifted_year_toml(text, code, shift), encoding="utf-8")
    return year_path, shifted_placements(PLACEMENTS_FILE.read_bytes(), code, shift), shift


#: What `init --demo` does with each demo placement, so that the desk shows every stage:
#: signed by these roles (in order), then "decline" by the next one; absent: no envelope.
DEMO_STAGES: dict[str, tuple[str, ...]] = {
    "r0800001": ("student", "company"),            # waiting for the school
    "r0800002": ("student",),                      # waiting for the company
    "r0800003": (),                                # waiting for the student (English)
    "r0800004": ("student", "company", "school"),  # complete, archived, copies mailed
    "r0800005": ("student", "decline"),            # declined by the company
    "r0800007": ("student",),                      # waiting for the company (English)
}


def stage_demo_cohort(rt: Runtime, *, now: datetime, actor: Actor = DEMO_ACTOR,
                      approved_by: str = "Demo coordinator") -> dict[str, str]:
    """Open, sign and decline the demo placements' envelopes as DEMO_STAGES says; the state
    each placement reached, by student number. One unit of work per step, as people do it."""
    from docservice.models import Placement
    from docservice.services import envelopes

    with unit_of_work(rt.db) as session:
        ids = {p.student_number: p.id for p in session.scalars(select(Placement))
               if p.student_number in DEMO_STAGES and p.envelope is None}
    reached = {}
    for number, steps in DEMO_STAGES.items():
        if number not in ids:
            continue
        with unit_of_work(rt.db) as session:
            envelopes.open_envelope(session, session.get_one(Placement, ids[number]),
                                    now=now, actor=actor, mailer=rt.mail, settings=rt.settings)
        reached[number] = "waiting for the student"
        for step in steps:
            with unit_of_work(rt.db) as session:
                envelope = envelopes.envelope_of_placement(session, ids[number])
                request = envelope.next_request
                if request is None:
                    break
                if step == "decline":
                    envelopes.decline(session, request, now=now, actor=actor,
                                      mailer=rt.mail, settings=rt.settings, reason="De startdatum klopt niet: we verwachten de "
                                             "student een week later.")
                    reached[number] = f"declined by the {request.role}"
                    break
                envelopes.sign(session, request, typed_name=request.signer_name,
                               consent=True, now=now, actor=actor, signer=rt.signer,
                               blobs=rt.blobs, mailer=rt.mail, settings=rt.settings,
                               enqueue=rt.enqueue,
                               approved_by=approved_by if step == "school" else None)
                following = envelope.next_request
                reached[number] = (f"waiting for the {following.role}" if following
                                   else "complete")
    return reached
