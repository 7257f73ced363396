"""Concurrency on PostgreSQL: parallel signing, signing out of turn, two coordinators at once.

Each attempt is a thread with its own HTTP test client (its own cookies and CSRF token) against
one app on a real PostgreSQL database, so the row locks and conditional UPDATEs are tested for
real. Skipped only when no PostgreSQL is reachable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from docservice import migrate
from docservice.db import Database, unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox
from docservice.models import AuditEvent, Document, Envelope, Placement, Revision
from docservice.services import links
from tests.conftest import TEST_ACTOR, mail_to_test_server, make_settings, running_app
from tests.web.helpers import csrf_token, login, make_user
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign_link

ATTEMPTS = 20
STUDENT_NAME = "Zoë Vermeulen-D'Hondt"


@pytest.fixture
def pg_app(tmp_path: Path, postgres_url: str, pki_path: Path,
           smtp_session: tuple[Inbox, int], inbox: Inbox, converter: Any) -> Iterator[Flask]:
    """The app on PostgreSQL (never SQLite: its locks are the subject here)."""
    db = Database(postgres_url)
    migrate.upgrade(db)
    db.dispose()
    settings = make_settings(tmp_path, postgres_url, pki_path=pki_path,
                             mail=mail_to_test_server(smtp_session))
    with running_app(settings, converter) as app:
        _ = app.extensions["docservice"].signer  # built now, before any thread needs it
        yield app


@pytest.fixture
def pg_runtime(pg_app: Flask) -> Runtime:
    return pg_app.extensions["docservice"]  # type: ignore[no-any-return]


@pytest.fixture
def pg_year(pg_runtime: Runtime) -> Any:
    from docservice.config import CHECKOUT
    from docservice.services.years import load_year_file

    with unit_of_work(pg_runtime.db) as session:
        return load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")


def _at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread, all released at the same moment; their results."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as e:  # noqa: BLE001 - reported by the assertions below
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "an attempt hangs"
    return results


def _count(rt: Runtime, model: Any, *where: Any) -> int:
    with unit_of_work(rt.db) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _poster(client: FlaskClient, path: str, data: dict[str, str]) -> Callable[[], Any]:
    def post() -> tuple[int, str]:
        response = client.post(path, data=data)
        return response.status_code, response.get_data(as_text=True)
    return post


def _placement(pg_app: Flask, rt: Runtime) -> tuple[FlaskClient, int]:
    client = pg_app.test_client()
    # One document (no NDA, no waiver): the subject is the race, not the paperwork.
    placement_id = _prepare(client, rt, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    return client, placement_id


def test_twenty_parallel_signatures_by_the_signer_make_one_revision(pg_app, pg_runtime, inbox,
                                                                    pg_year):
    rt = pg_runtime
    _, _placement_id = _placement(pg_app, rt)
    link = _sign_link(inbox, STUDENT)
    clients = [pg_app.test_client() for _ in range(ATTEMPTS)]
    jobs = [_poster(c, link, {"csrf_token": csrf_token(c.get(link).get_data(as_text=True)),
                              "consent": "yes", "full_name": STUDENT_NAME}) for c in clients]
    revisions = _count(rt, Revision)
    results = _at_once(jobs)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, statuses
    # The others: "signed already" (409), or the used link no longer works (410).
    assert all(s in (409, 410) for s in statuses if s != 200), statuses
    for status, body in results:
        if status == 409:
            assert "Al ondertekend" in body
        elif status == 410:
            assert "Deze link werkt niet meer" in body
    assert _count(rt, Revision) == revisions + 1
    assert _count(rt, AuditEvent, AuditEvent.action == "signer.signed") == 1
    assert len(inbox.to("els@janssens.example.com")) == 1  # the company is invited once


def test_twenty_attempts_by_the_next_signer_before_their_turn_are_all_refused(
        pg_app, pg_runtime, inbox, pg_year):
    rt = pg_runtime
    _, placement_id = _placement(pg_app, rt)
    with unit_of_work(rt.db) as session:
        placement = session.get(Placement, placement_id)
        company = placement.envelope.request_for("company")
        _, token = links.issue_link(session, placement, purpose="sign", now=datetime.now(UTC),
                                    valid_for=timedelta(days=3), actor=TEST_ACTOR,
                                    signature_request_id=company.id)
    path = f"/sign/{token}"
    clients = [pg_app.test_client() for _ in range(ATTEMPTS)]
    # The review page has no signing form before their turn: take the token from another form.
    jobs = [_poster(c, path, {"csrf_token": csrf_token(c.get("/login").get_data(as_text=True)),
                              "consent": "yes", "full_name": "Els Janssens"}) for c in clients]
    revisions = _count(rt, Revision)
    results = _at_once(jobs)
    assert not [r for r in results if isinstance(r, Exception)]
    assert [status for status, _ in results] == [409] * ATTEMPTS
    for _, body in results:
        assert "Nog niet aan de beurt" in body and "eerst moet de student" in body
    assert _count(rt, Revision) == revisions
    assert _count(rt, AuditEvent, AuditEvent.action == "signer.signed") == 0


def test_two_coordinators_replacing_one_envelope_one_wins(pg_app, pg_runtime, inbox, pg_year):
    rt = pg_runtime
    first, placement_id = _placement(pg_app, rt)
    make_user(rt, email="second@school.example.org")
    second = pg_app.test_client()
    login(second, "second@school.example.org")
    path = f"/coordinator/desk/placements/{placement_id}/envelope/regenerate"
    jobs = [_poster(c, path, {"csrf_token": csrf_token(c.get("/coordinator/import")
                                                        .get_data(as_text=True)),
                              "reason": f"wrong company address ({n})"})
            for n, c in enumerate((first, second))]
    results = _at_once(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _ in results)
    assert statuses == [302, 409], [(s, b[:300]) for s, b in results]
    [(_, loser)] = [r for r in results if r[0] == 409]
    assert "someone else changed or replaced this envelope" in loser

    with unit_of_work(rt.db) as session:
        placement = session.get(Placement, placement_id)
        envelopes = list(session.scalars(select(Envelope).where(
            Envelope.placement_id == placement_id)))
        live = [e for e in envelopes if e.status != "cancelled"]
        assert len(envelopes) == 2 and len(live) == 1  # the old one kept, one new in force
        current = [d for d in placement.documents if d.superseded_at is None]
        assert current and all(d.envelope_id == live[0].id for d in current)
        # No orphans: every document belongs to an envelope of its placement.
        orphans = session.scalar(select(func.count()).select_from(Document).where(
            Document.placement_id == placement_id, Document.envelope_id.is_(None)))
        assert orphans == 0
        superseded = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "envelope.superseded"))
        assert superseded == 1
