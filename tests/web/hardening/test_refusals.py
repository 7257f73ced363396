"""Refusals stay in the audit trail although the refused request rolls back (issue 13, item 4).

A refused upload, a failed login, a refused (unknown, replaced, expired) link and a rate
limit hit are each written in a transaction of their own; every response here is a 4xx.
"""

from __future__ import annotations

import io
import re
import secrets

from freezegun import freeze_time
from sqlalchemy import select

from docservice.archive import audit
from docservice.db import unit_of_work
from docservice.models import AuditEvent
from docservice.web.auth import AttemptLimiter
from tests.web.helpers import csrf_token, make_user
from tests.web.test_signing_flow import STUDENT, _open_envelope, _prepare, _sign_link

EMAIL = "coordinator@school.example.org"


def _events(runtime, action: str) -> list[AuditEvent]:
    with unit_of_work(runtime.db) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


def _chain_holds(runtime) -> bool:
    with unit_of_work(runtime.db) as session:
        return audit.verify_chain(session)[1] is None


def _login(client, password: str, email: str = EMAIL) -> int:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token}).status_code


def test_a_refused_upload_and_refused_links_stay_in_the_trail(app, client, runtime, inbox,
                                                               year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, STUDENT)

    html = client.get(link).get_data(as_text=True)
    data: dict = {"csrf_token": csrf_token(html)}
    for document_id in re.findall(r'name="document-(\d+)"', html):
        data[f"document-{document_id}"] = (io.BytesIO(b"not a PDF at all"), "signed.pdf")
    response = client.post(f"{link}/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    [refused] = _events(runtime, "signer.upload_refused")
    assert refused.placement_id == placement_id and refused.detail["role"] == "student"
    assert "not a PDF" in str(refused.detail["problems"]) and refused.ip == "127.0.0.1"

    # A link that matches nothing, a replaced one, an expired one: each a 4xx, each recorded.
    assert client.get("/sign/" + secrets.token_urlsafe(32)).status_code == 404
    page = f"/coordinator/placements/{placement_id}"
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))
    assert client.post(f"{page}/envelope/resend/student",
                       data={"csrf_token": token, "confirm": "1"}).status_code == 302
    assert client.get(link).status_code == 410
    with freeze_time("2099-01-01"):
        assert client.get(_sign_link(inbox, STUDENT, 2)).status_code == 410
    unknown, replaced, expired = _events(runtime, "link.refused")
    assert unknown.detail["reason"] == "unknown" and unknown.placement_id is None
    assert "token" not in unknown.detail
    assert (replaced.detail["reason"], replaced.placement_id) == ("replaced", placement_id)
    assert (expired.detail["reason"], expired.placement_id) == ("expired", placement_id)
    assert replaced.detail["link_id"] != expired.detail["link_id"]
    assert _chain_holds(runtime)


def test_failed_logins_and_rate_limits_stay_in_the_trail(app, client, runtime):
    app.extensions["docservice.login_limiter"] = AttemptLimiter(2, 900, name="login")
    make_user(runtime)
    assert [_login(client, "wrong password") for _ in range(4)] == [401, 401, 429, 429]
    failed = _events(runtime, "user.login_failed")
    assert len(failed) == 2
    assert {(e.actor, e.ip) for e in failed} == {(EMAIL, "127.0.0.1")}
    # One entry per address and window, however many requests were refused.
    [limited] = _events(runtime, "security.rate_limited")
    assert limited.detail["limit"] == "login" and limited.ip == "127.0.0.1"

    app.extensions["docservice.link_limiter"] = AttemptLimiter(2, 900, name="link")
    guesser = {"REMOTE_ADDR": "198.51.100.20"}
    statuses = [client.get("/sign/" + secrets.token_urlsafe(32), environ_base=guesser)
                .status_code for _ in range(4)]
    assert statuses == [404, 404, 429, 429]
    assert len(_events(runtime, "link.refused")) == 2
    limits = {e.detail["limit"]: e for e in _events(runtime, "security.rate_limited")}
    assert set(limits) == {"login", "link"} and limits["link"].ip == "198.51.100.20"
    assert _chain_holds(runtime)


def test_a_refusal_recorded_in_a_successful_unit_of_work_is_written_once(runtime):
    with unit_of_work(runtime.db) as session:
        audit.record_refusal(session, "test.refused", audit.Actor("someone"), why="testing")
        audit.record(session, "test.other", audit.SYSTEM)
    assert len(_events(runtime, "test.refused")) == 1
    assert len(_events(runtime, "test.other")) == 1
    try:
        with unit_of_work(runtime.db) as session:
            audit.record(session, "test.lost", audit.SYSTEM)
            audit.record_refusal(session, "test.refused", audit.Actor("someone"))
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert not _events(runtime, "test.lost")
    assert len(_events(runtime, "test.refused")) == 2
    assert _chain_holds(runtime)
