"""Operations: health and readiness, Prometheus metrics, structured logs with a request id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from docservice import create_app
from docservice.config import Settings
from docservice.observability.logs import (
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    sane_request_id,
)
from tests.web.test_signing_flow import _open_envelope, _prepare, _sign, _sign_link

TOKEN = "metrics-token-0123456789abcdef"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_answers_without_the_database(app, client, runtime, monkeypatch):
    from docservice.db import Database

    monkeypatch.setattr(runtime, "db", Database("postgresql+psycopg://nobody@127.0.0.1:1/x"))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_blob_folder(app, client, runtime, tmp_path):
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["status"] == "ready"
    assert set(ready.get_json()["checks"]) == {"database", "blobs"}

    os.chmod(runtime.settings.blob_path, 0o500)
    try:
        if os.access(runtime.settings.blob_path, os.W_OK):
            pytest.skip("running as a user that writes anywhere (root): no read-only folder")
        blocked = client.get("/readyz")
    finally:
        os.chmod(runtime.settings.blob_path, 0o700)
    assert blocked.status_code == 503
    assert blocked.get_json()["checks"]["blobs"]["ok"] is False


def test_readyz_is_503_when_the_blob_folder_is_gone_or_the_database_is(app, client, runtime):
    blobs = runtime.settings.blob_path
    moved = blobs.with_name("blobs-away")
    blobs.rename(moved)
    try:
        response = client.get("/readyz")
    finally:
        moved.rename(blobs)
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "not ready"
    assert body["checks"]["blobs"]["ok"] is False and body["checks"]["database"]["ok"] is True

    from docservice.db import Database

    good = runtime.db
    runtime.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        response = client.get("/readyz")
    finally:
        runtime.db.dispose()
        runtime.db = good
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["ok"] is False


def test_readyz_checks_redis_when_the_queue_runs_on_it(app, client, runtime, monkeypatch):
    nobody = "redis://127.0.0.1:1/0"  # nobody listens there
    changes: dict[str, object] = {"jobs": "redis"}
    if hasattr(runtime.settings, "queue"):
        changes["queue"] = replace(runtime.settings.queue, redis_url=nobody)
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, **changes))
    monkeypatch.setenv("DOCSERVICE_REDIS_URL", nobody)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["ok"] is False


def test_metrics_count_documents_and_signatures(app, client, runtime, inbox, year):
    before = _samples(client.get("/metrics").get_data(as_text=True))
    placement_id = _prepare(client, runtime)
    _open_envelope(client, placement_id)
    assert _sign(client, _sign_link(inbox, "student0@student.example.org"),
                 "Zoë Vermeulen-D'Hondt").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = _samples(response.get_data(as_text=True))

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    # The factory's placement has an NDA and a waiver: three documents, each signed once.
    assert grew("docservice_documents_generated_total", kind="stageovereenkomst") == 1
    assert grew("docservice_signatures_total", role="student", method="one_shot") == 3
    families = {f.name for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"docservice_verification_failures", "docservice_mail_failures",
            "docservice_queue_depth"} <= families


def test_metrics_count_failed_verifications(app, client, runtime):
    from tests.web.helpers import csrf_token, login, make_user

    make_user(runtime)
    login(client)
    before = _samples(client.get("/metrics").get_data(as_text=True))
    token = csrf_token(client.get("/verify").get_data(as_text=True))
    import io

    response = client.post("/verify", data={"csrf_token": token,
                                            "file": (io.BytesIO(b"%PDF-1.7\nnot really"), "x.pdf")})
    assert response.status_code == 200
    after = _samples(client.get("/metrics").get_data(as_text=True))
    key = ("docservice_verification_failures_total", (("where", "upload"),))
    assert after.get(key, 0) - before.get(key, 0) == 1


def test_metrics_only_for_loopback_or_the_bearer_token(settings, converter):
    app = create_app({"TESTING": True}, settings=replace(settings, metrics_token=TOKEN))
    try:
        client = app.test_client()
        remote = {"REMOTE_ADDR": "203.0.113.9"}
        assert client.get("/metrics").status_code == 200  # 127.0.0.1
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
        assert client.get("/metrics", environ_base=remote).status_code == 403
        # A local reverse proxy forwarding an outsider: not a loopback client.
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
                          ).status_code == 403
        wrong = client.get("/metrics", environ_base=remote,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
        ok = client.get("/metrics", environ_base=remote,
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and b"docservice_signatures" in ok.data
    finally:
        app.extensions["docservice"].close()


def test_metrics_token_must_be_long_enough():
    from docservice.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="DOCSERVICE_METRICS_TOKEN"):
        Settings.from_env({"DOCSERVICE_METRICS_TOKEN": "short"})


def test_metrics_add_up_every_gunicorn_worker(client, tmp_path: Path, monkeypatch):
    """With PROMETHEUS_MULTIPROC_DIR, each process writes its counts; a scrape sums them."""
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    count = ("from docservice.observability.metrics import SIGNATURES; "
             "SIGNATURES.labels(role='student', method='one_shot').inc({n})")
    for n in (2, 3):  # two "workers", each its own process
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))  # this process scrapes
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert samples[("docservice_signatures_total",
                    (("method", "one_shot"), ("role", "student")))] == 5


def test_request_id_is_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "lb-4f2a.77"})
    assert given.headers["X-Request-ID"] == "lb-4f2a.77"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    for hostile in ("a b", "x" * 200, "evil\r\nSet-Cookie: a=b", '"><script>', "é"):
        assert sane_request_id(hostile) != hostile
    # The error pages carry it too.
    assert client.get("/nowhere", headers={"X-Request-ID": "r-404"}
                      ).headers["X-Request-ID"] == "r-404"


def test_json_logs_carry_the_request_id(app, client, capsys):
    record_lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_lines.append(self.format(record))

    keep = Keep()
    keep.addFilter(RequestIdFilter())
    keep.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(keep)

    @app.get("/_log_something")
    def _log_something() -> str:
        logging.getLogger("docservice.test").warning("hello \"world\"\nsecond line")
        return "ok"

    try:
        client.get("/_log_something", headers={"X-Request-ID": "req-42"})
    finally:
        logging.getLogger().removeHandler(keep)
    [line] = [x for x in record_lines if "hello" in x]
    entry = json.loads(line)
    assert "\n" not in line  # one object per line, even for a message with a line break
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "WARNING" and entry["logger"] == "docservice.test"
    assert entry["message"] == 'hello "world"\nsecond line'
    assert entry["time"].endswith("+00:00")


def test_log_format_follows_the_environment(tmp_path):
    def handler_format(**env: str) -> logging.Formatter:
        settings = Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path), **env})
        return configure_logging(settings).formatter  # type: ignore[return-value]

    try:
        assert isinstance(handler_format(DOCSERVICE_LOG_FORMAT="json"), JsonFormatter)
        assert not isinstance(handler_format(), JsonFormatter)  # development: text
        assert not isinstance(handler_format(DOCSERVICE_LOG_FORMAT="text"), JsonFormatter)
        production = replace(Settings(), env="production")  # log_format left to its default
        assert isinstance(configure_logging(production).formatter, JsonFormatter)
        from docservice.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="DOCSERVICE_LOG_FORMAT"):
            handler_format(DOCSERVICE_LOG_FORMAT="xml")
        installed = [h for h in logging.getLogger().handlers if getattr(h, "docservice", False)]
        assert len(installed) == 1  # configured four times, installed once
    finally:
        handler_format()


def test_queue_depth_is_left_out_when_the_queue_cannot_tell(client, runtime, monkeypatch):
    monkeypatch.setattr(runtime, "queue_depth", lambda: None, raising=False)
    assert b"docservice_queue_depth" not in client.get("/metrics").data
    monkeypatch.setattr(runtime, "queue_depth", lambda: 7, raising=False)
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert samples[("docservice_queue_depth", (("queue", "all"),))] == 7
