"""The web face: one unit of work per request, security headers, blueprints.

The request's unit of work commits unless an exception escaped the view or a request hook
(`App.handle_user_exception`), whatever the status code: a refusal a view handles itself (a
failed login, a refused upload) is written with the rest. When an exception escaped, it rolls
back, and only what must outlive that is written (`db.keep_on_rollback`: the audit trail's
record of the refusal).
"""

from __future__ import annotations

import logging
import re
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, HTTPException

from docservice.archive.audit import Actor
from docservice.config import Settings
from docservice.db import commit, rollback
from docservice.jobs.runtime import Runtime
from docservice.observability import logs

csrf = CSRFProtect()
log = logging.getLogger(__name__)

#: Hosts a development or test server answers to besides the base URL's (never in production).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Endpoints that answer whatever the Host: probes and scrapers name the machine, not the site.
ANY_HOST_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})
_HOST = re.compile(r"(?:\[(?P<ip6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")


class App(Flask):
    """Flask, noting when a request's handling raised: its unit of work then rolls back."""

    def handle_user_exception(self, e: Exception) -> HTTPException | ResponseReturnValue:
        g.request_failed = True
        return super().handle_user_exception(e)


def runtime() -> Runtime:
    """The running service's database, stores and converters."""
    return current_app.extensions["docservice"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """This request's session; committed once, unless an exception escaped the view."""
    if "db_session" not in g:
        g.db_session = runtime().db.session()
    return g.db_session  # type: ignore[no-any-return]


def request_actor(name: str) -> Actor:
    """Who acts in this request, with address and browser, for the audit trail."""
    return Actor(name, ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def public_url_for(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` on DOCSERVICE_BASE_URL (`Settings.public_url`): for every
    link that leaves the request (mail, the API's own links), never built on its Host."""
    path = current_app.url_map.bind("", script_name="/").build(endpoint, values)
    return runtime().settings.public_url(path)


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The host names this service answers to: the base URL's, and outside production also
    localhost and 127.0.0.1 (the development server, tests)."""
    hosts = {(urlsplit(settings.base_url).hostname or "").lower()}
    if settings.env != "production":
        hosts |= LOCAL_HOSTS
    return frozenset(hosts)


def _host_name(host: str) -> str | None:
    match = _HOST.fullmatch(host.strip().lower())
    if match is None:
        return None
    return match["ip6"] or match["name"].removesuffix(".")


def _refuse_other_hosts() -> None:
    # Nothing is built on the Host any more, but a request for another site is a mistake or an
    # attack (cache poisoning, a forged password-reset style link): say so instead of serving.
    if request.endpoint in ANY_HOST_ENDPOINTS:
        return
    settings = runtime().settings
    if _host_name(request.host) in allowed_hosts(settings):
        return
    expected = urlsplit(settings.base_url).netloc
    log.info("refused a request for host %r (DOCSERVICE_BASE_URL is %s)", request.host[:100],
             settings.base_url)
    raise BadRequest(f"This service answers at {expected} only (DOCSERVICE_BASE_URL), not at "
                     f"the host this request named ({request.host[:100]!r}). Open the address "
                     "from your e-mail, or ask the site's administrator.")


def _end_unit_of_work(response: Response) -> Response:
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return response
    try:
        if g.pop("request_failed", False):
            rollback(session)
        else:
            commit(session)
    finally:
        session.close()
    return response


def _close_on_error(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        rollback(session)
        session.close()


def _bind_request_id() -> None:
    # The caller's id when it is sane (a proxy's, a load balancer's), else a new one; every
    # log line of this request carries it, and the response echoes it.
    g.request_id = logs.sane_request_id(request.headers.get("X-Request-ID"))
    g.request_id_token = logs.bind_request_id(g.request_id)


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def _unbind_request_id(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        # ValueError: bound in another context (a copied one): nothing of ours to undo.
        with suppress(ValueError):
            logs.unbind_request_id(token)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Personal links carry their secret in the path: never leak it to another site.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.endpoint and not request.endpoint.startswith("static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register everything the web face needs on `app`."""
    from docservice.web import auth, coordinator, errors, ops, sign, student
    from docservice.web.params import IdConverter

    # Before any route is added: every <int:...> is bounded to the database's integer range.
    app.url_map.converters["int"] = IdConverter
    # First of all hooks: the request id is bound before any other hook can log.
    app.before_request_funcs.setdefault(None, []).insert(0, _bind_request_id)
    app.before_request_funcs[None].insert(1, _refuse_other_hosts)
    csrf.init_app(app)
    app.after_request(_end_unit_of_work)
    app.after_request(_security_headers)
    app.after_request(_echo_request_id)
    app.teardown_request(_close_on_error)
    # Teardown runs last-registered first: put the unbinding at the end of the line.
    app.teardown_request_funcs.setdefault(None, []).insert(0, _unbind_request_id)
    app.register_blueprint(ops.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(student.bp)
    app.register_blueprint(sign.bp)
    from docservice.web import verify

    app.register_blueprint(verify.bp)
    from docservice.web import api, desk

    app.register_blueprint(desk.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.docs_bp)
    from docservice.web import archive

    app.register_blueprint(archive.bp)
    from docservice.web import jobs

    app.register_blueprint(jobs.bp)
    from docservice.web import copies

    app.register_blueprint(copies.bp)
    errors.init_app(app)
