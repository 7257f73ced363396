"""An RFC 3161 timestamp authority over HTTP on 127.0.0.1, answering with the dev TSA."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import tsp

from docservice.signing.timestamps import DevTimeStamper


@contextmanager
def serve_tsa(timestamper: DevTimeStamper) -> Iterator[tuple[str, list[str]]]:
    """Serve `timestamper` at a loopback URL; yields (url, paths of requests served)."""
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415, "expected application/timestamp-query")
                return
            try:
                request = tsp.TimeStampReq.load(body)
                answer = timestamper.request_tsa_response(request).dump()
            except ValueError:
                self.send_error(400, "not an RFC 3161 request")
                return
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
