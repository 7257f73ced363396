"""docservice: internship documents generated, signed in order, verified and archived."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from docservice.config import Settings
from docservice.jobs.runtime import Runtime
from docservice.observability.logs import configure_logging


def create_app(test_config: dict[str, Any] | None = None, *,
               settings: Settings | None = None) -> Flask:
    """The one place that wires settings, database, stores and web together."""
    from docservice import web

    settings = settings or Settings.from_env()
    app = web.App(__name__, template_folder="web/templates", static_folder="web/static",
                  instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        # The idle timeout: the cookie is signed anew on each request and refused once it is
        # older than this; the absolute lifetime and revocation are checked in web/auth.py.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_idle_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        # Over https Flask-WTF also wants a same-site Referer, which browsers never send here
        # (Referrer-Policy: no-referrer keeps link tokens private): the token alone decides.
        WTF_CSRF_SSL_STRICT=False,
        DOCSERVICE_SETTINGS=settings,
    )
    if test_config:
        app.config.update(test_config)
    configure_logging(settings)
    app.extensions["docservice"] = Runtime(settings)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address (rate limits, the audit trail) and scheme from the last N hops
        # of X-Forwarded-For/-Proto; what a client put before them is ignored. The Host stays
        # the request's own: links never come from it (DOCSERVICE_BASE_URL).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    web.init_app(app)
    return app
