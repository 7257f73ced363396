"""gunicorn serving an instance, and a client that knows its own port (to find its worker)."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from docservice.config import CHECKOUT
from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.models import Envelope, Placement
from docservice.services import envelopes, links
from docservice.services.documents import generate_missing
from tests.conftest import TEST_ACTOR
from tests.faults.procs import children

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PRELOAD_LIBRARIES = """
import docservice.web, docservice.web.sign, docservice.services.envelopes  # noqa
import docservice.signing.pades, docservice.signing.pki, docservice.jobs.tasks  # noqa
"""


class Gunicorn:
    """`gunicorn --workers N docservice.wsgi:app` on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2) -> None:
        from docservice.mail.devserver import free_port

        self.port = free_port()
        self.log = log
        # The master imports the libraries (not the app: each worker still builds its own
        # runtime), so that a worker that replaces a killed one starts in a fraction of a second.
        config = log.with_name("gunicorn.conf.py")
        config.write_text(PRELOAD_LIBRARIES)
        self.process = subprocess.Popen(
            [GUNICORN, "--config", str(config), "--workers", str(workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "120", "--graceful-timeout", "5",
             "docservice.wsgi:app"],
            cwd=CHECKOUT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self.workers = workers

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every worker runs and the service answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            if len(self.worker_pids()) == self.workers:
                try:
                    if Client(self.port).get("/healthz")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def stop(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class Client:
    """A browser-like client over one connection at a time, cookies kept."""

    def __init__(self, port: int, timeout: float = 120) -> None:
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def connect(self) -> int:
        """Open a new connection; the client's own port."""
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                     timeout=self.timeout)
        self.connection.connect()
        assert self.connection.sock is not None
        return int(self.connection.sock.getsockname()[1])

    def request(self, method: str, path: str, fields: dict[str, str] | None = None,
                *, connected: bool = False) -> tuple[int, str]:
        if not connected:
            self.connect()
        assert self.connection is not None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                   "Connection": "close"}
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name] = rest.split(";")[0]
            return response.status, response.read().decode(errors="replace")
        finally:
            self.connection.close()

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)

    def sign_form(self, path: str, name: str) -> dict[str, str]:
        """GET the signing page; the form fields to POST to sign it."""
        status, html = self.get(path)
        assert status == 200, (status, html[:500])
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, html[:500]
        return {"csrf_token": match.group(1), "full_name": name, "consent": "yes"}


def prepare_envelopes(runtime: Runtime, placement_ids: list[int], converter: object,
                      role: str = "student") -> dict[int, str]:
    """Documents generated, envelopes opened; placement id -> a fresh link for `role`."""
    runtime.use_converter(converter)
    now = datetime.now(UTC)
    with unit_of_work(runtime.db) as session:
        generate_missing(session, converter=converter, blobs=runtime.blobs,  # type: ignore[arg-type]
                         templates_root=runtime.settings.templates_path, pdfa=True,
                         converters=2, actor=TEST_ACTOR)
    tokens = {}
    for placement_id in placement_ids:
        with unit_of_work(runtime.db) as session:
            placement = session.get(Placement, placement_id)
            assert placement is not None
            envelopes.open_envelope(session, placement, now=now, actor=TEST_ACTOR,
                                    mailer=runtime.mail, settings=runtime.settings)
    for placement_id in placement_ids:
        with unit_of_work(runtime.db) as session:
            envelope = session.scalars(select(Envelope).where(
                Envelope.placement_id == placement_id)).one()
            request = envelope.request_for(role)
            _, tokens[placement_id] = links.issue_link(
                session, envelope.placement, purpose=envelopes.SIGN, now=now,
                valid_for=timedelta(days=30), actor=TEST_ACTOR,
                signature_request_id=request.id)
    return tokens
