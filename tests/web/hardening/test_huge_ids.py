"""Ids and page numbers beyond what the database holds: 404 or 422, never a 500; JSON on /api/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from docservice.db import unit_of_work
from docservice.models import Placement
from docservice.services import api_tokens, links
from docservice.web.params import MAX_ID, parse_int
from tests.conftest import TEST_ACTOR
from tests.web.test_signing_flow import _open_envelope, _prepare, _sign_link

HUGE = 99999999999999999999999  # beyond 64 bits
VALUES = {"sha256": "0" * 64, "role": "student", "kind": "student", "fmt": "pdf", "code": "en",
          "decision": "accept"}


def _huge_url(rule: Rule, tokens: dict[str, str]) -> str:
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)  # noqa: SLF001 - only to pick a value
        if name == "token":
            values[name] = tokens["student" if rule.endpoint.startswith("student.") else "sign"]
        elif isinstance(converter, IntegerConverter):
            values[name] = HUGE
        else:
            values[name] = VALUES.get(name, "x")
    # Build by hand: a bounded converter refuses to build an id it would never match.
    path = "".join(str(values[part]) if is_arg else part
                   for is_arg, part in rule._trace[1:])  # noqa: SLF001 - skip the host part
    return path


def test_every_route_with_a_huge_id_is_404_or_422_and_json_on_the_api(
        app: Flask, client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")  # logged in
    _open_envelope(client, placement_id)
    now = datetime.now(UTC)
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        _, student = links.issue_link(session, placement, purpose=links.STUDENT, now=now,
                                      valid_for=timedelta(days=3), actor=TEST_ACTOR)
        _, api_token = api_tokens.create_token(session, "coordinator@school.example.org",
                                               name="t", now=now, actor=TEST_ACTOR)
    tokens = {"sign": _sign_link(inbox, "student0@student.example.org").rsplit("/", 1)[1],
              "student": student}
    app.config["WTF_CSRF_ENABLED"] = False  # reach the view, not the CSRF check
    walked, wrong = 0, []
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, IntegerConverter)
                   for c in rule._converters.values()):  # noqa: SLF001
            continue
        url = _huge_url(rule, tokens)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(url, method=method, headers={
                "Authorization": f"Bearer {api_token}"} if url.startswith("/api/") else {})
            walked += 1
            if response.status_code not in (404, 422):
                wrong.append(f"{method} {url} -> {response.status_code}")
            elif url.startswith("/api/") and not response.is_json:
                wrong.append(f"{method} {url} -> {response.status_code} not JSON")
    assert walked >= 15
    assert not wrong, "\n".join(wrong)


def test_huge_page_numbers_are_refused_or_bounded(app, client, runtime, year):
    _prepare(client, runtime, nda="nee", copyright_waiver="nee")  # logged in as coordinator
    for url in (f"/coordinator/?page={HUGE}", f"/coordinator/?page=-{HUGE}",
                f"/archive/?student=x&page={HUGE}", f"/archive/?student=x&page=-{HUGE}",
                f"/coordinator/desk/print?page={HUGE}"):
        response = client.get(url)
        assert response.status_code in (200, 422), (url, response.status_code)
    now = datetime.now(UTC)
    with unit_of_work(runtime.db) as session:
        _, api_token = api_tokens.create_token(session, "coordinator@school.example.org",
                                               name="t", now=now, actor=TEST_ACTOR)
    for query in (f"page={HUGE}", f"per_page={HUGE}", f"page=-{HUGE}", "page=x"):
        response = client.get(f"/api/v1/placements?{query}",
                              headers={"Authorization": f"Bearer {api_token}"})
        assert response.status_code in (200, 422), (query, response.status_code)
        assert response.is_json


def test_thousands_of_digits_match_no_route(client):
    # int() refuses more than 4300 digits with a ValueError, which is not "no match".
    response = client.get("/api/v1/placements/" + "9" * 5000)
    assert response.status_code == 404 and response.is_json


def test_an_unknown_api_path_answers_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["error"] == "not_found"


def test_parse_int_bounds():
    assert parse_int("42") == 42
    assert parse_int(str(MAX_ID)) == MAX_ID
    for wrong in (None, "", "x", "4.2", str(MAX_ID + 1), str(HUGE), "-1", " 1", "１"):
        assert parse_int(wrong) is None, wrong
    assert parse_int("-1", low=-5) == -1
