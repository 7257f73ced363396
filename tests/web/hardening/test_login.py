"""Logging in tells nobody which accounts exist, and a guessed account locks (issue 13, item 5)."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.models import AuditEvent
from docservice.services.users import authenticate
from docservice.web.auth import AccountLockout
from tests.web.helpers import PASSWORD, csrf_token, make_user

EMAIL = "coordinator@school.example.org"
NOBODY = "nobody@school.example.org"


def _login(client, password: str, *, email: str = EMAIL, address: str = "127.0.0.1") -> int:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address}).status_code


def _events(runtime, action: str) -> list[AuditEvent]:
    with unit_of_work(runtime.db) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


def test_a_wrong_password_and_an_unknown_address_take_the_same_time(runtime):
    make_user(runtime)
    with unit_of_work(runtime.db) as session:

        def timed(email: str) -> float:
            start = time.perf_counter()
            assert authenticate(session, email, "not the password at all") is None
            return time.perf_counter() - start

        timed(EMAIL), timed(NOBODY)  # warm: the first call of each path pays for imports
        known, unknown = [], []
        for _ in range(9):  # interleaved: a busy neighbour slows both alike
            known.append(timed(EMAIL))
            unknown.append(timed(NOBODY))
    slow, fast = sorted((statistics.median(known), statistics.median(unknown)), reverse=True)
    assert slow / fast < 1.3, (statistics.median(known), statistics.median(unknown))


def test_ten_failures_lock_the_account_whatever_the_address(app, client, runtime):
    make_user(runtime)
    make_user(runtime, email="auditor@school.example.org", role="auditor")
    # Ten addresses, one failure each: no address reaches its own limit.
    assert [_login(client, "wrong", address=f"198.51.100.{i}") for i in range(10)] == [401] * 10
    # Locked: even the right password, from an address never seen before.
    assert _login(client, PASSWORD, address="203.0.113.1") == 429
    [locked] = _events(runtime, "user.locked_out")
    assert locked.actor == EMAIL and locked.ip == "198.51.100.9"
    assert locked.detail["failures"] == 10
    assert _events(runtime, "user.login_failed")[-1].detail["reason"] == "account locked"
    # Another account logs in as usual from those same addresses.
    assert _login(client, PASSWORD, email="auditor@school.example.org",
                  address="198.51.100.1") == 302
    # An address nobody has locks the same way: the lock tells nothing about accounts.
    assert [_login(client, "wrong", email=NOBODY, address=f"192.0.2.{i}")
            for i in range(11)] == [401] * 10 + [429]


def test_the_lock_ends_after_its_window(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("docservice.web.auth.time.monotonic", lambda: now[0])
    lockout = AccountLockout(3, 15 * 60)
    assert [lockout.failed("Someone@School.example.org") for _ in range(3)] == [False, False, True]
    assert lockout.locked("someone@school.example.org ")  # the address as typed, any case
    assert not lockout.locked("else@school.example.org")
    now[0] += 15 * 60 - 1
    assert lockout.locked("someone@school.example.org")
    now[0] += 2
    assert not lockout.locked("someone@school.example.org")
    assert not lockout.failed("someone@school.example.org")  # its failures are forgotten too
