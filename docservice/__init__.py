"""docservice: internship documents generated, signed in order, verified and archived."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from docservice.config import Settings
from docservice.logs import configure_logging
from docservice.runtime import Runtime


def create_app(test_config: dict[str, Any] | None = None, *,
               settings: Settings | None = None) -> Flask:
    """The one place that wires settings, database, stores and web together."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static",
                instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        DOCSERVICE_SETTINGS=settings,
    )
    if test_config:
        app.config.update(test_config)
    configure_logging(settings)
    app.extensions["docservice"] = Runtime(settings)

    from docservice import web

    web.init_app(app)
    return app
