"""A loopback webhook receiver for the tests: an http.server on 127.0.0.1 that answers 200 and keeps every POST."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    def __init__(self) -> None:
        # each: {"headers": dict, "raw": the body's bytes (what the signature covers), "body": the body parsed}
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "raw": raw, "body": json.loads(raw)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, event_type: str) -> list[dict]:
        return [r for r in self.requests if r["headers"].get("X-Openpeek-Event") == event_type]


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
