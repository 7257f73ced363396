"""Every route, for every kind of visitor: allowed, or refused as intended — never a 500.

Visitors: anonymous, a student holding their links, a company signatory holding theirs, and
logged-in auditor, coordinator and admin (the last two also with an API token). The routes come
from the app's URL map, and every one of them must be listed in POLICY with who may use it: a
route added without a decision about its access fails `test_every_route_has_a_policy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from docservice.db import unit_of_work
from docservice.models import Placement
from docservice.services import api_tokens, links
from docservice.web.auth import AttemptLimiter
from tests.conftest import TEST_ACTOR
from tests.web.desk.conftest import Flow, Year, placement_row
from tests.web.helpers import csrf_token, login, make_user

BOGUS_TOKEN = "A" * 43
BOGUS_SHA = "0" * 64
LOGGED_IN = ("auditor", "coordinator", "admin")

PUBLIC = "public"  # anyone: the login form, the API's description, health checks
LOOPBACK = "loopback"  # anyone on this machine, or with the metrics bearer token
LINK = "link"  # whoever holds the personal link in the path
API = "api"  # a bearer API token of a coordinator or admin
READER = "reader"  # logged in as auditor, coordinator or admin
COORDINATOR = "coordinator"  # logged in as coordinator or admin
#: The signed copies: a copy link, or a personal link once its envelope is complete. No
#: visitor here has one (their envelope is not complete): refused, never served, never a 5xx.
COPIES = "copies"

#: Every endpoint and who may use it. Add a route: add it here, with a decision.
POLICY: dict[str, str] = {
    "api_docs.docs": PUBLIC,  # the same public description, as a page
    "api.openapi": PUBLIC,
    "api.placement": API,
    "api.placements": API,
    "archive.download": READER,
    "archive.entry": READER,
    "archive.export": READER,
    "archive.manifest_json": READER,
    "archive.report_html": READER,
    "archive.report_json": READER,
    "archive.search": READER,
    "auth.home": PUBLIC,  # a redirect: to the login form, or to the role's landing page
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "coordinator.approve": COORDINATOR,
    "coordinator.change_company_signatory": COORDINATOR,
    "coordinator.dashboard": COORDINATOR,
    "coordinator.decide_external_signature": COORDINATOR,
    "coordinator.download": READER,
    "coordinator.export_csv": COORDINATOR,
    "coordinator.generate_documents": COORDINATOR,
    "coordinator.import_placements": COORDINATOR,
    "coordinator.issue_student_link": COORDINATOR,
    "coordinator.open_envelope": COORDINATOR,
    "coordinator.open_envelopes": COORDINATOR,
    "coordinator.placement": COORDINATOR,
    "coordinator.resend_link": COORDINATOR,
    "desk.edit": COORDINATOR,
    "desk.export_csv": COORDINATOR,
    "desk.placement": READER,
    "desk.print_view": COORDINATOR,
    "desk.regenerate": COORDINATOR,
    "desk.remind": COORDINATOR,
    "desk.revoke": COORDINATOR,
    "desk.set_language": PUBLIC,
    "desk.verification": READER,
    "jobs.index": COORDINATOR,
    "jobs.retry_all": COORDINATOR,
    "jobs.retry_mail": COORDINATOR,
    "jobs.retry_run": COORDINATOR,
    "ops.healthz": PUBLIC,
    "ops.metrics": LOOPBACK,
    "ops.readyz": PUBLIC,
    "sign.decline": LINK,
    "sign.page": LINK,
    "sign.pdf": LINK,
    "sign.review": LINK,
    "sign.sign": LINK,
    "sign.upload": LINK,
    "copies.download": COPIES,
    "copies.home": COPIES,
    "copies.resend": COPIES,
    "student.copy": COPIES,
    "student.download": LINK,
    "student.home": LINK,
    "verify.document_report": READER,
    "verify.upload": READER,
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class Visitor:
    name: str
    sign_token: str = BOGUS_TOKEN
    student_token: str = BOGUS_TOKEN
    api_token: str | None = None
    failures: list[str] = field(default_factory=list)


def _world(flow: Flow, y: Year) -> tuple[int, int, dict[str, Visitor]]:
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    flow.login()
    flow.generate()
    flow.open(p)
    student_sign = flow.link("student0@student.example.org").rsplit("/", 1)[1]
    now = datetime.now(UTC)
    with unit_of_work(flow.runtime.db) as session:
        placement = session.get(Placement, p)
        document_id = placement.current_documents()[0].id
        company = placement.envelope.request_for("company")
        _, company_sign = links.issue_link(session, placement, purpose="sign", now=now,
                                           valid_for=timedelta(days=3), actor=TEST_ACTOR,
                                           signature_request_id=company.id)
        _, personal = links.issue_link(session, placement, purpose=links.STUDENT, now=now,
                                       valid_for=timedelta(days=3), actor=TEST_ACTOR)
    make_user(flow.runtime, "auditor@school.example.org", role="auditor")
    make_user(flow.runtime, "admin@school.example.org", role="admin")
    with unit_of_work(flow.runtime.db) as session:
        tokens = {email: api_tokens.create_token(session, email, name="t", now=now,
                                                 actor=TEST_ACTOR)[1]
                  for email in ("coordinator@school.example.org", "admin@school.example.org")}
    visitors = {
        "anonymous": Visitor("anonymous"),
        "student_link": Visitor("student_link", sign_token=student_sign, student_token=personal),
        "company_link": Visitor("company_link", sign_token=company_sign),
        "auditor": Visitor("auditor"),
        "coordinator": Visitor("coordinator",
                               api_token=tokens["coordinator@school.example.org"]),
        "admin": Visitor("admin", api_token=tokens["admin@school.example.org"]),
    }
    return p, document_id, visitors


def _url(rule: Rule, visitor: Visitor, placement_id: int, document_id: int) -> str:
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name == "token":
            values[name] = (visitor.student_token if rule.endpoint.startswith("student.")
                            else visitor.sign_token)
        elif name == "placement_id":
            values[name] = placement_id
        elif name == "document_id":
            values[name] = document_id
        elif name == "sha256":
            values[name] = BOGUS_SHA
        elif name in ("role", "kind"):
            values[name] = "student"
        elif name == "fmt":
            values[name] = "pdf"
        elif name == "code":
            values[name] = "en"
        elif name == "page":
            values[name] = 1
        else:
            converter = rule._converters.get(name)  # noqa: SLF001 - only to pick a value
            values[name] = 1 if isinstance(converter, IntegerConverter) else "x"
    url = rule.build(values, append_unknown=False)
    assert url is not None
    return url[1]


def _owns_link(rule: Rule, visitor: Visitor) -> bool:
    if rule.endpoint.startswith("student."):
        return visitor.student_token != BOGUS_TOKEN
    return visitor.sign_token != BOGUS_TOKEN


def _problem(rule: Rule, method: str, visitor: Visitor, status: int, location: str) -> str | None:
    """Why this answer is wrong for this visitor, or None."""
    policy = POLICY[rule.endpoint]
    to_login = status == 302 and location.startswith("/login")
    if status >= 500:
        return "server error"
    if policy == PUBLIC:
        return None
    if policy == COPIES:
        return None if 400 <= status < 500 else "a copy served before the envelope completed"
    if policy == LOOPBACK:  # the test client comes from 127.0.0.1
        return None if status == 200 else "loopback refused"
    if policy == LINK:
        if _owns_link(rule, visitor):
            return None if status < 400 else "own link refused"
        return None if status == 404 else "someone else's link answered"
    if policy == API:
        if visitor.api_token:
            return None if status not in (401, 403) else "token refused"
        return None if status == 401 else "no token, yet not 401"
    if visitor.name not in LOGGED_IN:
        return None if to_login else "not sent to the login page"
    if visitor.name == "auditor" and policy != READER:
        return None if status == 403 else "auditor not refused"
    return None if status not in (401, 403) and not to_login else "refused"


def test_every_route_has_a_policy(app: Flask):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    unlisted = sorted(endpoints - POLICY.keys())
    assert not unlisted, ("routes without an access decision (add them to POLICY): "
                          + ", ".join(unlisted))
    gone = sorted(POLICY.keys() - endpoints)
    assert not gone, "POLICY lists routes that no longer exist: " + ", ".join(gone)


def test_every_route_allowed_or_refused_as_intended(app: Flask, flow: Flow, desk_year: Year):
    placement_id, document_id, visitors = _world(flow, desk_year)
    # Every visitor tries bogus links from 127.0.0.1: more than a guesser is allowed. The
    # limit has its own test (tests/hardening/test_web_security.py).
    app.extensions["docservice.link_limiter"] = AttemptLimiter(limit=10_000)
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"),
                   key=lambda r: (r.rule, r.endpoint))
    checked = 0
    for visitor in visitors.values():
        client = app.test_client()
        if visitor.name in LOGGED_IN:
            login(client, f"{visitor.name}@school.example.org")
        csrf = csrf_token(client.get("/login").get_data(as_text=True))
        for rule in rules:
            for method in METHODS:
                if method not in (rule.methods or ()) or rule.endpoint == "auth.logout":
                    continue
                if (method == "POST" and rule.endpoint.startswith(("sign.", "student."))
                        and _owns_link(rule, visitor)):
                    continue  # posting there signs or declines: the signing tests do that
                url = _url(rule, visitor, placement_id, document_id)
                headers = ({"Authorization": f"Bearer {visitor.api_token}"}
                           if visitor.api_token and url.startswith("/api/") else {})
                response = client.open(url, method=method, headers=headers,
                                       data={"csrf_token": csrf} if method != "GET" else None)
                checked += 1
                problem = _problem(rule, method, visitor, response.status_code,
                                   response.headers.get("Location", ""))
                if problem:
                    visitor.failures.append(f"{visitor.name} {method} {url} -> "
                                            f"{response.status_code}: {problem}")
        if visitor.name in LOGGED_IN:
            response = client.post("/logout", data={"csrf_token": csrf})
            assert response.status_code == 302
            assert client.get("/coordinator/").status_code == 302  # logged out for real
    failures = [f for v in visitors.values() for f in v.failures]
    assert not failures, "\n".join(failures)
    assert checked > 150
