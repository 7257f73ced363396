"""The web face: one unit of work per request, security headers, blueprints."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from docservice.archive.audit import Actor
from docservice.db import commit, rollback
from docservice.runtime import Runtime

csrf = CSRFProtect()


def runtime() -> Runtime:
    """The running service's database, stores and converters."""
    return current_app.extensions["docservice"]  # type: ignore[no-any-return]


def db_session() -> Session:
    """This request's session; committed once, when the response is a success."""
    if "db_session" not in g:
        g.db_session = runtime().db.session()
    return g.db_session  # type: ignore[no-any-return]


def request_actor(name: str) -> Actor:
    """Who acts in this request, with address and browser, for the audit trail."""
    return Actor(name, ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def _end_unit_of_work(response: Response) -> Response:
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return response
    try:
        if response.status_code < 400:
            commit(session)
        else:
            rollback(session)
    finally:
        session.close()
    return response


def _close_on_error(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        rollback(session)
        session.close()


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
    from docservice.web import auth, coordinator, errors, sign, student

    csrf.init_app(app)
    app.after_request(_end_unit_of_work)
    app.after_request(_security_headers)
    app.teardown_request(_close_on_error)
    app.register_blueprint(auth.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(student.bp)
    app.register_blueprint(sign.bp)
    from docservice.web import verify

    app.register_blueprint(verify.bp)
    from docservice.web import api, desk

    app.register_blueprint(desk.bp)
    app.register_blueprint(api.bp)
    from docservice.web import archive

    app.register_blueprint(archive.bp)
    errors.init_app(app)
