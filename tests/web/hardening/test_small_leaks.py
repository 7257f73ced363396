"""Small leaks: the server's name and version, readiness errors for anyone who asks."""

from __future__ import annotations

import http.client
import threading
from dataclasses import replace
from typing import Any

from werkzeug.serving import BaseWSGIServer

from docservice import create_app
from docservice.cli import main

TOKEN = "metrics-token-0123456789abcdef"


def test_the_development_server_does_not_name_itself(runner, monkeypatch):
    """`docservice serve` answers without `Server: Werkzeug/x Python/y`."""
    seen: dict[str, Any] = {}
    serve_forever = BaseWSGIServer.serve_forever

    def one_request(server: BaseWSGIServer, poll_interval: float = 0.5) -> None:
        thread = threading.Thread(target=serve_forever, args=(server, 0.05), daemon=True)
        thread.start()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            seen["status"], seen["headers"] = response.status, dict(response.getheaders())
            connection.close()
        finally:
            server.shutdown()
            thread.join(10)

    monkeypatch.setattr(BaseWSGIServer, "serve_forever", one_request)
    result = runner.invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen["status"] == 200
    server = {k.lower(): v for k, v in seen["headers"].items()}.get("server", "")
    assert "werkzeug" not in server.lower() and "python" not in server.lower(), server


def _broken_readyz(client, runtime, **request: Any) -> Any:
    blobs = runtime.settings.blob_path
    moved = blobs.with_name("blobs-away")
    blobs.rename(moved)
    try:
        return client.get("/readyz", **request)
    finally:
        moved.rename(blobs)


def test_readyz_tells_errors_only_to_loopback_or_the_metrics_token(app, settings, converter):
    served = create_app({"TESTING": True}, settings=replace(settings, metrics_token=TOKEN))
    runtime = served.extensions["docservice"]
    try:
        client = served.test_client()
        remote = {"REMOTE_ADDR": "203.0.113.9"}
        for request in ({"environ_base": remote},
                        {"headers": {"X-Forwarded-For": "203.0.113.9"}},  # proxied: not local
                        {"environ_base": remote, "headers": {"Authorization": "Bearer wrong"}}):
            response = _broken_readyz(client, runtime, **request)
            assert response.status_code == 503
            body = response.get_json()
            assert body["status"] == "not ready" and body["checks"]["blobs"]["ok"] is False
            assert "error" not in response.get_data(as_text=True), (request, body)
            assert str(runtime.settings.blob_path) not in response.get_data(as_text=True)
        for request in ({}, {"environ_base": remote,
                             "headers": {"Authorization": f"Bearer {TOKEN}"}}):
            body = _broken_readyz(client, runtime, **request).get_json()
            assert body["checks"]["blobs"]["error"], request
    finally:
        runtime.close()


def test_readyz_without_details_still_says_which_check_failed(client, runtime):
    response = _broken_readyz(client, runtime, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert response.get_json()["checks"]["database"]["ok"] is True
