"""Logging: one JSON object per line in production, readable text otherwise; a request id on each.

The request id lives in a context variable: the web face sets it for each request (from a sane
`X-Request-ID` header, else a new one), and every record logged while that request runs carries
it, whatever module logs it. Outside a request it is "-".
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docservice.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

_request_id: ContextVar[str] = ContextVar("docservice_request_id", default="-")
# What a caller may hand us as an id: short, printable, no spaces or quotes (it is logged and
# echoed in a header, so nothing that could forge a log line or split a header).
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def request_id() -> str:
    """The id of the request being served, or "-" outside one."""
    return _request_id.get()


def sane_request_id(header: str | None) -> str:
    """`header` when it is a sane id, else a new random one."""
    if header and _SANE_ID.match(header):
        return header
    return uuid.uuid4().hex


def bind_request_id(value: str) -> Token[str]:
    """Make `value` the current request id until `unbind_request_id(token)`."""
    return _request_id.set(value)


def unbind_request_id(token: Token[str]) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as `record.request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


#: A personal or signing link's token in a path (/s/<token>, /sign/<token>): the first six
#: characters stay, so that support can tell links apart; the rest, the secret, is cut.
_LINK_TOKEN = re.compile(r"(/(?:s|sign)/[A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")


def redact_link_tokens(text: str) -> str:
    """`text` with every link token cut to its first six characters and an ellipsis."""
    return _LINK_TOKEN.sub(r"\1…", text)


class RedactLinkTokens(logging.Filter):
    """Cuts link tokens out of a record's message and exception (whoever logs it: the app,
    werkzeug's access log, gunicorn's): a full token in a log file is a working link."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's to report, not ours
            return True
        redacted = redact_link_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_link_tokens(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", _request_id.get()),
        }
        if record.exc_text:  # formatted (and redacted) already
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(settings: Settings, *, level: int = logging.INFO) -> logging.Handler:
    """Install (or re-dress) the one handler docservice puts on the root logger.

    The format is `settings.log_format` (DOCSERVICE_LOG_FORMAT): json in production unless
    told otherwise, text elsewhere. Idempotent: an app built twice in one process (tests, the
    CLI) does not log each line twice.
    """
    fmt = settings.log_format or ("json" if settings.env == "production" else "text")
    formatter: logging.Formatter = (JsonFormatter() if fmt == "json"
                                    else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "docservice", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.docservice = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactLinkTokens())
        root.addHandler(handler)
    # The development server's access log, should it get a handler of its own.
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactLinkTokens) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactLinkTokens())
    handler.setFormatter(formatter)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handler


@contextmanager
def logging_to_file(path: Path, *, level: int = logging.DEBUG) -> Iterator[Path | None]:
    """While inside: log records from `level` up, and Python warnings, go to `path` (text,
    appended; its folder made), and none to the terminal (a command whose output is its
    answer: `docservice verify`). Yields `path`, or None when it cannot be written: then
    the records are dropped, still never printed.
    """
    root = logging.getLogger()
    handler: logging.Handler
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Owner-only, like every file the service writes: a log can name people and documents.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactLinkTokens())
        written: Path | None = path
    except OSError:
        handler, written = logging.NullHandler(), None
    terminal = [h for h in root.handlers if getattr(h, "docservice", False)]
    previous_level = root.level
    for h in terminal:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        yield written
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous_level)
        for h in terminal:
            root.addHandler(h)
