"""A real HTTP service on 127.0.0.1 for the connector tests (identity, prisons, CT list, Rescue 1122): each
(method, path) answers as told (JSON, slowly, HTML, garbage, an error status), and every request is kept
with its query, headers and body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "s3cret-connector-token-41c9"


@dataclass
class Answer:
    """How the service answers one path: a status and body, after a delay."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Request:
    """A request the service received."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorisation: str
    body: bytes


@dataclass
class Service:
    """The service under `url`; `answers` by (method, path below the base), else 404."""

    url: str = ""
    base: str = ""
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(
        self, path: str, data: Any = None, *, method: str = "GET", status: int = 200, delay_s: float = 0.0
    ) -> None:
        """Answer `method path` with `data` as JSON (bytes or str: sent as they are)."""
        if isinstance(data, bytes):
            body = data
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = json.dumps(data).encode() if data is not None else b""
        ctype = "text/html" if body.lstrip().startswith(b"<") else "application/json"
        self.answers[(method, path)] = Answer(status, body, delay_s, ctype)

    def hits(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests if (r.method, r.path) == (method, path))


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.removeprefix(service.base).lstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            service.requests.append(
                Request(
                    self.command, path, parse_qs(parts.query), self.headers.get("Authorization", ""), body
                )
            )
            answer = service.answers.get((self.command, path), Answer(404, b'{"error": "not found"}'))
            if answer.delay_s:
                time.sleep(answer.delay_s)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:  # the client gave up waiting (a timeout test): nothing to tell it
                pass

        do_GET = _serve
        do_POST = _serve

    return Handler


@contextmanager
def http_service(base: str = "/api/v1") -> Iterator[Service]:
    """A service served from a thread on a free loopback port, stopped after the block."""
    service = Service(base=base)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    httpd.daemon_threads = True
    service.url = f"http://127.0.0.1:{httpd.server_address[1]}{base}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
