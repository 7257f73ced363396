"""Logging: one JSON object per line in production, readable text otherwise; a request id on each.

The request id lives in a context variable: the web face sets it for each request (from a sane
`X-Request-ID` header, else a new one), and every record logged while that request runs carries
it, whatever module logs it. Outside a request it is "-".
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar, Token
from datetime import UTC, datetime
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
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
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
        root.addHandler(handler)
    handler.setFormatter(formatter)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handler
