"""How the web app is served: the development server, and gunicorn's logger.

Both say as little as they can about themselves and keep link tokens out of their logs: the
development server sends no `Server: Werkzeug/x Python/y` header, and gunicorn's access and
error logs go through the same redaction as the app's own (`logs.RedactLinkTokens`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.glogging import Logger as _GunicornLogger
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from docservice.observability.logs import RedactLinkTokens


class RequestHandler(WSGIRequestHandler):
    """werkzeug's request handler without the Server header (its name, its and Python's
    version: nothing a visitor needs)."""

    def send_response(self, code: int, message: str | None = None) -> None:
        # BaseHTTPRequestHandler.send_response, minus `Server`.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())


def make_dev_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """The development server (`docservice serve`): threaded, one process, no reloader."""
    return make_server(host, port, app, threaded=True, request_handler=RequestHandler)


class GunicornLogger(_GunicornLogger):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's logger (`--logger-class docservice.cli.serving.GunicornLogger`, which
    `docservice serve --workers N` passes): access and error lines with link tokens cut short."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
                logger.addFilter(RedactLinkTokens())
