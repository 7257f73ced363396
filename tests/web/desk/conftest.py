"""The desk's fixtures: an academic year around today, and placements driven through the real flow.

Signing happens at the real time (the run's PKI and CRLs are valid now); the calendar the desk
reasons about is then pinned with freezegun to days before or after, relative to that year.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox
from docservice.models import Placement
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from docservice.services.years import load_year_file
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.helpers import csrf_token, login, make_user
from tests.web.test_signing_flow import _open_envelope

BRUSSELS = ZoneInfo("Europe/Brussels")
COORDINATOR_MAIL = "frank.vandromme@thomasmore.be"  # the year's coordinator (TOML below)
DOCENT_MAIL = "joelle.peeters@school.example.org"  # tests.factories' docent


@pytest.fixture(autouse=True)
def _signer_built_now(request: pytest.FixtureRequest) -> None:
    # The signer refreshes the development CRLs when it is built: that must happen at the real
    # time, never inside a test's pinned future, or the run's shared PKI gets CRLs from then.
    if "app" in request.fixturenames or "flow" in request.fixturenames:
        request.getfixturevalue("runtime").signer  # noqa: B018


@dataclass(frozen=True)
class Year:
    """An academic year laid out around the real today."""

    code: str
    today: date
    deadline: date
    period_start: date
    period_end: date


def load_year(runtime: Runtime, folder: Path, *, deadline_in: int = 20, period_in: int = 1,
              length: int = 200) -> Year:
    """Load an academic year: contract deadline and internship period N days from today."""
    today = datetime.now(BRUSSELS).date()
    year = Year(code=f"{today.year}-{today.year + 1}", today=today,
                deadline=today + timedelta(days=deadline_in),
                period_start=today + timedelta(days=period_in),
                period_end=today + timedelta(days=period_in + length))
    path = folder / "year.toml"
    path.write_text(f'''code = "{year.code}"
school_name = "Thomas More"
campus = "Mechelen"
programme = "Information Management & Security"
coordinator_name = "Frank Vandromme"
coordinator_email = "{COORDINATOR_MAIL}"
period_start = {year.period_start.isoformat()}
period_end = {year.period_end.isoformat()}
weeks = 12
thesis_permission_deadline = {(today - timedelta(days=90)).isoformat()}
preference_deadline = {(today - timedelta(days=60)).isoformat()}
contract_deadline = {year.deadline.isoformat()}
''', encoding="utf-8")
    with unit_of_work(runtime.db) as session:
        load_year_file(session, path)
    return year


@pytest.fixture
def desk_year(runtime: Runtime, tmp_path: Path) -> Year:
    """Deadline in 20 days; the period starts tomorrow (placements choose their start)."""
    return load_year(runtime, tmp_path)


@contextmanager
def on(day: date, hour: int = 9) -> Iterator[None]:
    """Pin the clock to `hour` o'clock in Brussels on `day`."""
    with freeze_time(datetime.combine(day, time(hour), tzinfo=BRUSSELS)):
        yield


def placement_row(n: int, year: Year, start: date, **overrides: Any) -> dict[str, str]:
    """A placement with one document (no NDA, no waiver) and its own company signatory."""
    values: dict[str, Any] = dict(
        academic_year=year.code, start_date=start.isoformat(),
        end_date=(start + timedelta(days=60)).isoformat(), nda="nee", copyright_waiver="nee",
        company_signatory_email=f"company{n}@firm.example.com",
        company_signatory_name=f"Signatory {n}")
    values.update(overrides)
    return row(n, **values)


class Flow:
    """A coordinator at the desk, and the signers reading their mail."""

    def __init__(self, client: FlaskClient, runtime: Runtime, inbox: Inbox) -> None:
        self.client = client
        self.runtime = runtime
        self.inbox = inbox

    def login(self, email: str = "coordinator@school.example.org", role: str = "coordinator"
              ) -> None:
        make_user(self.runtime, email=email, role=role)
        login(self.client, email)
        self.email = email

    @contextmanager
    def on(self, day: date, hour: int = 9) -> Iterator[None]:
        """Pin the clock, and log in again (a session lasts eight hours); again after."""
        with on(day, hour):
            login(self.client, self.email)
            yield
        login(self.client, self.email)

    def import_rows(self, rows: list[dict[str, str]]) -> list[int]:
        with unit_of_work(self.runtime.db) as session:
            result = import_placements(session, csv_bytes(rows), actor=TEST_ACTOR)
            return [p.id for p in result.placements]

    def generate(self) -> None:
        rt = self.runtime
        with unit_of_work(rt.db) as session:
            generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                             templates_root=rt.settings.templates_path, pdfa=True, converters=2,
                             actor=TEST_ACTOR)

    def open(self, placement_id: int) -> None:
        _open_envelope(self.client, placement_id)

    def emails(self, placement_id: int) -> tuple[str, str, str]:
        with unit_of_work(self.runtime.db) as session:
            p = session.get(Placement, placement_id)
            assert p is not None
            return p.student_email, p.company_signatory_email, p.student_full_name

    def link(self, address: str) -> str:
        """The signing link in the newest e-mail to `address` that has one."""
        for message in reversed(self.inbox.to(address)):
            match = re.search(r"http://localhost(/sign/[A-Za-z0-9_-]+)", message.get_content())
            if match:
                return match.group(1)
        raise AssertionError(f"no signing link was mailed to {address}")

    def sign(self, placement_id: int, role: str, **environ: str) -> None:
        student, company, name = self.emails(placement_id)
        address = student if role == "student" else company
        typed = name if role == "student" else self.signatory(placement_id)
        path = self.link(address)
        token = csrf_token(self.client.get(path, environ_base=environ)
                           .get_data(as_text=True))
        response = self.client.post(path, data={"csrf_token": token, "full_name": typed,
                                                "consent": "yes"},
                                    environ_base=environ)
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]

    def signatory(self, placement_id: int) -> str:
        with unit_of_work(self.runtime.db) as session:
            p = session.get(Placement, placement_id)
            assert p is not None and p.envelope is not None
            return p.envelope.request_for("company").signer_name

    def approve(self, placement_id: int) -> None:
        self.post(f"/coordinator/placements/{placement_id}/envelope/approve",
                  page=f"/coordinator/desk/placements/{placement_id}", data={"confirm": "1"})

    def decline(self, placement_id: int, role: str, reason: str) -> None:
        student, company, _ = self.emails(placement_id)
        path = self.link(student if role == "student" else company)
        token = csrf_token(self.client.get(path).get_data(as_text=True))
        response = self.client.post(f"{path}/decline", data={"csrf_token": token,
                                                             "reason": reason, "confirm": "1"})
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]

    def post(self, path: str, *, page: str = "/coordinator/", data: dict[str, str] | None = None,
             expect: int = 302, **environ: str) -> Any:
        token = csrf_token(self.client.get(page).get_data(as_text=True))
        response = self.client.post(path, data={"csrf_token": token, **(data or {})},
                                    environ_base=environ)
        assert response.status_code == expect, response.get_data(as_text=True)[:2000]
        return response

    def complete(self, placement_id: int) -> None:
        self.open(placement_id)
        self.sign(placement_id, "student")
        self.sign(placement_id, "company")
        self.approve(placement_id)


@pytest.fixture
def flow(client: FlaskClient, runtime: Runtime, inbox: Inbox) -> Flow:
    return Flow(client, runtime, inbox)


def dashboard_states(client: FlaskClient, query: str = "") -> dict[str, str]:
    """Student number -> state, as the dashboard's rows show them."""
    html = client.get(f"/coordinator/{query}").get_data(as_text=True)
    return row_states(html)


def row_states(html: str) -> dict[str, str]:
    states = {}
    for match in re.finditer(r'<tr class="row [^"]*" data-placement="\d+" data-state="(\w+)">'
                             r'\s*<td><a [^>]*>[^<]*</a></td>\s*<td>([^<]+)</td>', html):
        states[match.group(2)] = match.group(1)
    return states


def student_numbers(html: str) -> list[str]:
    """The student numbers of the dashboard's rows, in order."""
    return list(row_states(html))


def placement_ids(runtime: Runtime) -> dict[str, int]:
    with unit_of_work(runtime.db) as session:
        return {p.student_number: p.id for p in session.scalars(select(Placement))}
