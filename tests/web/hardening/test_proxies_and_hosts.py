"""Behind a reverse proxy: the real client's address and scheme; links only from the base URL.

DOCSERVICE_TRUSTED_PROXIES hops of X-Forwarded-For / X-Forwarded-Proto are believed (werkzeug's
ProxyFix), no more: a forged X-Forwarded-For from the client itself changes nothing. Every link
in a mail is built on DOCSERVICE_BASE_URL, never on the request's Host, and a request for
another host is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask, request
from sqlalchemy import select

from docservice import create_app
from docservice.config import Settings
from docservice.db import unit_of_work
from docservice.errors import ConfigurationError
from docservice.models import AuditEvent
from docservice.web.auth import AttemptLimiter
from tests.web.helpers import PASSWORD, csrf_token, login, make_user
from tests.web.test_signing_flow import _prepare

PROXY = "127.0.0.1"  # the reverse proxy on the same machine, as gunicorn sees it


def _app(settings: Settings, converter, **changes) -> Flask:
    app = create_app({"TESTING": True}, settings=replace(settings, **changes))
    app.extensions["docservice"].use_converter(converter)

    @app.get("/_whoami")
    def _whoami() -> dict[str, str | None]:
        return {"addr": request.remote_addr, "scheme": request.scheme}

    return app


@pytest.fixture
def proxied(app, settings, converter) -> Iterator[Flask]:
    """The service behind one reverse proxy (rows are removed by the `app` fixture)."""
    behind = _app(settings, converter, trusted_proxies=1)
    yield behind
    behind.extensions["docservice"].use_converter(None)
    behind.extensions["docservice"].close()


def _via_proxy(client_address: str, forged: str | None = None) -> dict[str, object]:
    """What a proxy that appends the peer's address (nginx, Traefik) hands on."""
    chain = f"{forged}, {client_address}" if forged else client_address
    return {"environ_base": {"REMOTE_ADDR": PROXY},
            "headers": {"X-Forwarded-For": chain, "X-Forwarded-Proto": "https"}}


def _wrong_password(client, token: str, email: str, **via: object) -> int:
    # A new account name each time: what stops the guesser here is the limit per address.
    return client.post("/login", data={"email": email, "password": "wrong",
                                       "csrf_token": token}, **via).status_code


def test_trusted_proxies_setting():
    assert Settings.from_env({}, serving=False).trusted_proxies == 0
    assert Settings.from_env({"DOCSERVICE_TRUSTED_PROXIES": "2"},
                             serving=False).trusted_proxies == 2
    for wrong in ("-1", "x", "11"):
        with pytest.raises(ConfigurationError, match="DOCSERVICE_TRUSTED_PROXIES"):
            Settings.from_env({"DOCSERVICE_TRUSTED_PROXIES": wrong}, serving=False)


def test_behind_a_proxy_address_and_scheme_are_the_clients(proxied):
    client = proxied.test_client()
    seen = client.get("/_whoami", **_via_proxy("203.0.113.5")).get_json()
    assert seen == {"addr": "203.0.113.5", "scheme": "https"}
    # The client's own X-Forwarded-For comes before what the proxy appended: ignored.
    seen = client.get("/_whoami", **_via_proxy("203.0.113.5", forged="10.0.0.1")).get_json()
    assert seen["addr"] == "203.0.113.5"


def test_without_trusted_proxies_forwarded_headers_are_ignored(app, settings, converter):
    direct = _app(settings, converter)  # DOCSERVICE_TRUSTED_PROXIES=0, the default
    try:
        seen = direct.test_client().get("/_whoami", environ_base={"REMOTE_ADDR": "198.51.100.3"},
                                        headers={"X-Forwarded-For": "10.0.0.1",
                                                 "X-Forwarded-Proto": "https"}).get_json()
        assert seen == {"addr": "198.51.100.3", "scheme": "http"}
    finally:
        direct.extensions["docservice"].use_converter(None)
        direct.extensions["docservice"].close()


def test_behind_a_proxy_one_guesser_does_not_lock_everyone_out_of_login(proxied):
    make_user(proxied.extensions["docservice"])
    client = proxied.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    statuses = [_wrong_password(client, token, f"guess{i}@school.example.org",
                                **_via_proxy("203.0.113.7")) for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # Forging another address in X-Forwarded-For does not help the guesser...
    assert _wrong_password(client, token, "guess-forged@school.example.org",
                           **_via_proxy("203.0.113.7", forged="10.1.1.1")) == 429
    # ...and a colleague behind the same proxy still logs in.
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token},
                           **_via_proxy("203.0.113.8"))
    assert response.status_code == 302
    with unit_of_work(proxied.extensions["docservice"].db) as session:
        [ip] = session.scalars(select(AuditEvent.ip).where(AuditEvent.action == "user.login"))
    assert ip == "203.0.113.8"  # the history shows the person, not the proxy


def test_behind_a_proxy_link_guessing_is_counted_per_client(proxied):
    proxied.extensions["docservice.link_limiter"] = AttemptLimiter(limit=3, window_seconds=900)
    client = proxied.test_client()
    statuses = [client.get(f"/sign/{'C' * 42}{i}", **_via_proxy("203.0.113.9")).status_code
                for i in range(4)]
    assert statuses == [404, 404, 404, 429]
    assert client.get("/sign/" + "D" * 43, **_via_proxy("203.0.113.10")).status_code == 404


def test_without_trusted_proxies_a_forged_address_does_not_escape_the_limit(app, client):
    app.extensions["docservice.link_limiter"] = AttemptLimiter(limit=3, window_seconds=900)
    peer = {"REMOTE_ADDR": "198.51.100.30"}
    statuses = [client.get(f"/sign/{'E' * 42}{i}", environ_base=peer,
                           headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                for i in range(4)]
    assert statuses == [404, 404, 404, 429]


# --- item 2: links from the base URL, other hosts refused ------------------------------------


def test_the_emailed_student_link_is_built_on_the_base_url(app, client, runtime, inbox, year,
                                                           settings, converter):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    public = _app(settings, converter, base_url="https://stages.example.be")
    try:
        browser = public.test_client()  # https: the session cookie is Secure
        page = browser.get("/login", base_url="https://localhost")
        browser.post("/login", base_url="https://localhost", data={
            "email": "coordinator@school.example.org", "password": PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True))})
        desk = browser.get(f"/coordinator/desk/placements/{placement_id}",
                           base_url="https://localhost").get_data(as_text=True)
        response = browser.post(
            f"/coordinator/placements/{placement_id}/student-link", base_url="https://localhost",
            data={"csrf_token": csrf_token(desk), "send": "email", "confirm": "1"})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "https://stages.example.be/s/" in response.get_data(as_text=True)
        [mail] = inbox.to("student0@student.example.org")
        links = re.findall(r"https?://[^\s/]+/s/", mail.get_content())
        assert links == ["https://stages.example.be/s/"], mail.get_content()
        spec = browser.get("/api/v1/openapi.json", base_url="https://localhost").get_json()
        assert spec["servers"] == [{"url": "https://stages.example.be/api/v1"}]
    finally:
        public.extensions["docservice"].use_converter(None)
        public.extensions["docservice"].close()


def test_a_request_for_another_host_is_refused(client, runtime):
    make_user(runtime)
    login(client)
    for host in ("attacker.example", "localhost.attacker.example", "evil:80@localhost"):
        response = client.get("/coordinator/", headers={"Host": host})
        assert response.status_code == 400, host
        assert "DOCSERVICE_BASE_URL" in response.get_data(as_text=True)
    response = client.get("/coordinator/", headers={"Host": "attacker.example",
                                                    "Accept": "application/json"})
    assert response.status_code == 400 and response.is_json
    # Development and tests: the base URL's host, localhost and 127.0.0.1, any port.
    for host in ("localhost", "localhost:5000", "127.0.0.1:8000", "[::1]:5000"):
        assert client.get("/login", headers={"Host": host}).status_code == 200, host


def test_in_production_only_the_base_urls_host_is_served(app, settings, converter):
    production = _app(settings, converter, env="production",
                      base_url="https://stages.example.be")
    try:
        client = production.test_client()
        assert client.get("/login", base_url="https://stages.example.be").status_code == 200
        assert client.get("/login", base_url="https://stages.example.be:443").status_code == 200
        for host in ("localhost", "127.0.0.1", "attacker.example"):
            response = client.get("/login", base_url=f"https://{host}")
            assert response.status_code == 400, host
            assert "stages.example.be" in response.get_data(as_text=True)
        # A load balancer's probe names the machine, not the site: health checks still answer.
        assert client.get("/healthz", base_url="http://10.0.0.5:8000").status_code == 200
    finally:
        production.extensions["docservice"].use_converter(None)
        production.extensions["docservice"].close()
