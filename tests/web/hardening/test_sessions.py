"""Login sessions end on the server: logout, password change, deactivation, an absolute
lifetime besides the idle one (issue 13, item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from docservice.cli import main
from docservice.config import Settings
from docservice.db import unit_of_work
from docservice.errors import ConfigurationError
from docservice.models import AuditEvent
from tests.web.helpers import csrf_token, login, make_user

DESK = "/coordinator/"
EMAIL = "coordinator@school.example.org"


def _opens_the_desk(client) -> bool:
    response = client.get(DESK)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200, response.status_code
    return True


def _saved_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_saved_before_logout_no_longer_opens_the_desk(app, client, runtime):
    make_user(runtime)
    login(client)
    other_device = app.test_client()
    login(other_device)
    assert _opens_the_desk(client) and _opens_the_desk(other_device)
    saved = _saved_cookie(client)

    token = csrf_token(client.get(DESK).get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    client.set_cookie("session", saved)  # the cookie as it was before logging out
    assert not _opens_the_desk(client)
    assert not _opens_the_desk(other_device)  # logging out ends every session of the user
    with unit_of_work(runtime.db) as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "user.logout")).one()

    login(client)  # a new login works as ever
    assert _opens_the_desk(client)


def test_a_password_change_and_deactivation_end_every_session(app, client, runner, runtime):
    make_user(runtime)
    login(client)
    assert _opens_the_desk(client)
    result = runner.invoke(main, ["users", "password", EMAIL, "--password-stdin"],
                           input="another long password\n")
    assert result.exit_code == 0, result.output
    assert not _opens_the_desk(client)

    token = csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"email": EMAIL, "password": "another long password",
                                       "csrf_token": token}).status_code == 302
    assert _opens_the_desk(client)
    result = runner.invoke(main, ["users", "deactivate", EMAIL])
    assert result.exit_code == 0, result.output
    assert not _opens_the_desk(client)
    with unit_of_work(runtime.db) as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "user.password_changed" in actions and "user.deactivated" in actions


def test_a_session_ends_twelve_hours_after_login_however_busy(client, runtime):
    make_user(runtime)
    with freeze_time("2024-03-01 08:00:00") as clock:
        login(client)
        for _ in range(11):  # a request every hour: never idle
            clock.tick(timedelta(hours=1))
            assert _opens_the_desk(client)
        clock.tick(timedelta(hours=1, minutes=1))  # 12 h 1 min after login, 1 h 1 min idle
        assert not _opens_the_desk(client)


def test_the_idle_timeout_stays(client, runtime):
    make_user(runtime)
    with freeze_time("2024-03-01 08:00:00") as clock:
        login(client)
        clock.tick(timedelta(hours=7, minutes=59))
        assert _opens_the_desk(client)
        clock.tick(timedelta(hours=8, minutes=1))
        assert not _opens_the_desk(client)


def test_session_lifetimes_are_settings(tmp_path):
    base = {"DOCSERVICE_INSTANCE_PATH": str(tmp_path), "DOCSERVICE_SECRET_KEY": "s" * 32}
    default = Settings.from_env(base)
    assert (default.session_idle_hours, default.session_absolute_hours) == (8, 12)
    assert Settings.from_env({**base, "DOCSERVICE_SESSION_ABSOLUTE_HOURS": "24"}
                             ).session_absolute_hours == 24
    with pytest.raises(ConfigurationError, match="DOCSERVICE_SESSION_IDLE_HOURS"):
        Settings.from_env({**base, "DOCSERVICE_SESSION_ABSOLUTE_HOURS": "4"})
