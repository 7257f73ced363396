"""Secrets in logs and files: no full link token in any log line; files owner-only.

A link token in a log line, or an outbox .eml readable by every account on the machine, is a
working link for whoever reads it: logs keep a six-character prefix for support, and everything
a run creates (instance folder, SQLite database, blobs, outbox, archive, log files) has no group
or other permission bits.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import stat
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from docservice import create_app, migrate
from docservice.cli.serving import GunicornLogger, make_dev_server
from docservice.config import CHECKOUT, MailSettings
from docservice.db import unit_of_work
from docservice.observability.logs import configure_logging, logging_to_file
from docservice.services.years import load_year_file
from tests.conftest import make_settings
from tests.web.test_signing_flow import _open_envelope, _prepare, _sign_link


@pytest.fixture
def log_output(settings) -> io.StringIO:
    """Everything the service's own log handler writes during the test."""
    handler = configure_logging(settings)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    handler.setStream(previous)  # type: ignore[attr-defined]


def test_a_signing_link_request_logs_no_full_token(app, client, runtime, inbox, year,
                                                   log_output, monkeypatch):
    placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
    _open_envelope(client, placement_id)
    path = _sign_link(inbox, "student0@student.example.org")
    token = path.rsplit("/", 1)[1]

    # The development server's access log, through werkzeug's logger.
    server = make_dev_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        for url in (path, f"/s/{token}", f"{path}/documents/1.pdf"):
            connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
            connection.request("GET", url)
            connection.getresponse().read()
            connection.close()
    finally:
        server.shutdown()
        thread.join(10)

    # An error on a link page: its path and traceback go to the log.
    import docservice.web.sign as sign

    def broken(_pdf: bytes) -> int:
        raise RuntimeError(f"cannot count the pages of /sign/{token}")

    monkeypatch.setattr(sign.previews, "page_count", broken)
    assert client.get(path).status_code == 500
    logging.getLogger("docservice.test").warning("a mail with %s", f"http://x/sign/{token}")

    output = log_output.getvalue()
    assert f"GET {path}" not in output
    assert f"/sign/{token[:6]}…" in output  # the prefix is there, for support
    assert "unexpected error on GET" in output and "RuntimeError" in output
    assert token not in output and token[6:] not in output, output


def test_json_log_lines_are_redacted_too(app, client, settings, log_output):
    configure_logging(replace(settings, log_format="json"))
    token = "Q" * 43
    client.get(f"/sign/{token}")
    logging.getLogger("docservice.test").error("boom at /s/%s", token, exc_info=RuntimeError(
        f"in /s/{token}"))
    configure_logging(settings)
    output = log_output.getvalue()
    assert "/s/QQQQQQ…" in output and token not in output, output


def test_gunicorns_access_log_is_redacted(tmp_path: Path):
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = GunicornLogger(config)
    token = "R" * 43
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/sign/{token}?x=1",
               "PATH_INFO": f"/sign/{token}", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://stages/s/{token}"}
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    logger.error("Error handling request /sign/%s", token)
    for handler in logger.access_log.handlers + logger.error_log.handlers:
        handler.flush()
    written = (tmp_path / "access.log").read_text() + (tmp_path / "error.log").read_text()
    assert "/sign/RRRRRR…" in written and token not in written, written


def _loose(root: Path) -> list[str]:
    """Files and folders below `root` (and itself) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077 and not path.is_symlink():
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


def test_files_a_run_creates_are_owner_only(tmp_path: Path, pki_path: Path, converter):
    previous = os.umask(0o022)  # as a fresh login shell has it
    try:
        root = tmp_path / "instance"
        archive = root / "archive"
        archive.mkdir(parents=True, mode=0o755)  # made by an older version, readable by all
        root.chmod(0o755)
        settings = make_settings(root, f"sqlite:///{root / 'docservice.sqlite3'}",
                                 pki_path=pki_path, mail=MailSettings())  # mail to the outbox
        app = create_app({"TESTING": True}, settings=settings)
        runtime = app.extensions["docservice"]
        runtime.use_converter(converter)
        try:
            migrate.upgrade(runtime.db)
            with unit_of_work(runtime.db) as session:
                load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")
            client = app.test_client()
            placement_id = _prepare(client, runtime, nda="nee", copyright_waiver="nee")
            _open_envelope(client, placement_id)
            with logging_to_file(root / "logs" / "verify.log"):
                logging.getLogger("docservice.test").warning("written to a file")
        finally:
            runtime.use_converter(None)
            runtime.close()
        assert list((root / "outbox").glob("*.eml")), "the invitation went to the outbox"
        assert list((root / "blobs").rglob("*")), "the documents are in the blob store"
        assert (root / "docservice.sqlite3").exists() and (root / "logs" / "verify.log").exists()
        assert not _loose(root), "\n".join(_loose(root))
    finally:
        os.umask(previous)
