"""Web security: CSRF on every form route, cookie flags, CSP, link rate limits, no open redirects."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from docservice import create_app
from docservice.config import CHECKOUT
from docservice.web.auth import AttemptLimiter, MemoryAttempts, is_local_path
from tests.web.desk.test_authorisation import _url
from tests.web.hardening.conftest import FUZZ
from tests.web.helpers import PASSWORD, csrf_token, make_user
from tests.web.test_signing_flow import _open_envelope, _prepare, _sign_link

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
TEMPLATES = CHECKOUT / "docservice" / "web" / "templates"


def _form_rules(app: Flask) -> list[tuple[str, str]]:
    """(method, endpoint) of every route that changes something and uses the session cookie."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            continue  # bearer tokens, no cookies: nothing for another site to ride on
        found += [(m, rule.endpoint) for m in UNSAFE if m in (rule.methods or ())]
    return sorted(found)


def test_every_form_route_refuses_a_post_without_csrf_token(app, client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")  # logged in
    _open_envelope(client, placement_id)
    sign_token = _sign_link(inbox, "student0@student.example.org").rsplit("/", 1)[1]
    routes = _form_rules(app)
    assert len(routes) >= 15, routes
    rules = {r.endpoint: r for r in app.url_map.iter_rules()}
    refused = []
    for method, endpoint in routes:
        from tests.web.desk.test_authorisation import Visitor

        url = _url(rules[endpoint], Visitor("x", sign_token=sign_token), placement_id, 1)
        for data in (None, {"csrf_token": "forged"}):
            response = client.open(url, method=method, data=data)
            body = response.get_data(as_text=True)
            if response.status_code != 400 or "CSRF" not in body or "vernieuw de pagina" not in body:
                refused.append(f"{method} {url} {data} -> {response.status_code}")
    assert not refused, "\n".join(refused)


def test_csrf_refusal_is_json_for_json_clients(client):
    response = client.post("/login", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Form expired"


def _cookie(response, name: str = "session") -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_session_cookie_flags(client, runtime, settings, converter):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token})
    cookie = _cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http://localhost: a Secure cookie would never come back

    secure_app = create_app({"TESTING": True},
                            settings=replace(settings, base_url="https://stages.example.be"))
    try:
        secure = secure_app.test_client()
        page = secure.get("/login", base_url="https://localhost")
        assert "Secure" in _cookie(page) and "HttpOnly" in _cookie(page)
    finally:
        secure_app.extensions["docservice"].close()


def test_templates_need_no_inline_script_or_style():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b", text):
            offenders.append(f"{template.name}: inline <script> or <style>")
        if re.search(r"\sstyle\s*=", text) or re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{template.name}: style= or on...= attribute")
        if "javascript:" in text:
            offenders.append(f"{template.name}: javascript: URL")
    assert not offenders, offenders


def test_every_html_response_has_the_strict_policy(app, client, runtime, inbox, year):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    link = _sign_link(inbox, "student0@student.example.org")
    pages = ["/login", "/coordinator/",
             f"/coordinator/desk/placements/{placement_id}", "/coordinator/import", "/verify",
             "/archive/", link, "/sign/" + "B" * 43, "/nowhere", "/coordinator/desk/print"]
    for page in pages:
        response = client.get(page)
        assert response.mimetype == "text/html", page
        policy = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, page
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, page
        assert "frame-ancestors 'none'" in policy, page
        body = response.get_data(as_text=True)
        # What the policy would block must not be there: no inline script or style.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), page
        assert not re.search(r"\sstyle\s*=|<style\b", body), page


def test_guessing_link_tokens_is_stopped(app, client):
    app.extensions["docservice.link_limiter"] = AttemptLimiter(limit=5, window_seconds=900)
    guesser = {"REMOTE_ADDR": "198.51.100.7"}
    statuses = [client.get(f"/sign/{'C' * 42}{i}", environ_base=guesser).status_code
                for i in range(5)]
    assert statuses == [404] * 5
    blocked = client.get("/s/" + "D" * 43, environ_base=guesser)
    assert blocked.status_code == 429
    assert "Te veel pogingen" in blocked.get_data(as_text=True)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    post = client.post("/sign/" + "E" * 43, data={"csrf_token": token}, environ_base=guesser)
    assert post.status_code == 429
    # Someone else, elsewhere, is not affected.
    assert client.get("/sign/" + "F" * 43,
                      environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 404


def test_posts_with_unknown_tokens_count_too(app, client):
    app.extensions["docservice.link_limiter"] = AttemptLimiter(limit=3, window_seconds=900)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    guesser = {"REMOTE_ADDR": "198.51.100.9"}
    statuses = [client.post(f"/sign/{'G' * 42}{i}{suffix}", data={"csrf_token": token},
                            environ_base=guesser).status_code
                for i, suffix in enumerate(("", "/decline", "/upload", ""))]
    assert statuses == [404, 404, 404, 429]


def test_limiter_forgets_old_attempts_and_bounds_its_memory(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("docservice.web.auth.time.monotonic", lambda: now[0])
    limiter = AttemptLimiter(limit=2, window_seconds=60)
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.blocked("a")
    now[0] += 61
    assert not limiter.blocked("a")
    monkeypatch.setattr(MemoryAttempts, "MAX_KEYS", 50)
    for i in range(500):
        limiter.failed(f"2001:db8::{i:x}")
    assert isinstance(limiter.store, MemoryAttempts)
    assert len(limiter.store._failures) <= 50


@pytest.mark.parametrize("target", [
    "//evil.example.com/x", "https://evil.example.com", "/\\evil.example.com", "\\\\evil",
    "/\t/evil.example.com", "/\n/evil.example.com", "/\r//evil.example.com", " //evil.com",
    "javascript:alert(1)", "http:/evil.example.com", "//", "", "evil.example.com",
    "/%0a/evil", "\x00/x"])
def test_login_never_redirects_off_site(client, runtime, target):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token,
                                           "next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    from urllib.parse import urljoin

    browser_reads = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    assert urljoin("https://stages.example.be/login", browser_reads).startswith(
        "https://stages.example.be/"), location


def test_local_next_is_kept(client, runtime):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token,
                                           "next": "/coordinator/desk/print?year=2023-2024"})
    assert response.headers["Location"] == "/coordinator/desk/print?year=2023-2024"


def test_language_switch_never_redirects_off_site(client):
    for target in ("//evil.example.com", "https://evil.example.com", "/\\evil.example.com"):
        response = client.get("/coordinator/desk/lang/en", query_string={"next": target})
        assert response.status_code == 302
        assert "evil" not in response.headers["Location"]


@FUZZ
@given(st.text(max_size=40))
def test_is_local_path_never_lets_a_browser_leave_the_site(target):
    from urllib.parse import urljoin

    if is_local_path(target):
        # Resolve as a browser would, after dropping tabs and line breaks and reading "\" as "/".
        cleaned = re.sub(r"[\t\n\r]", "", target).replace("\\", "/")
        assert urljoin("https://stages.example.be/here", cleaned).startswith(
            "https://stages.example.be/")


def test_login_required_redirect_keeps_only_the_local_path(client):
    response = client.get("/coordinator/placements/1?x=//evil.example.com")
    location = response.headers["Location"]
    assert location.startswith("/login?next=")
    from urllib.parse import parse_qs, urlsplit

    [nxt] = parse_qs(urlsplit(location).query)["next"]
    assert is_local_path(nxt)
