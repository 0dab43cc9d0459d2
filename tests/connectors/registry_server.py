"""A real vehicle registry over HTTP on 127.0.0.1 for the connector tests: each plate answers as told
(a registration, slowly, garbage, HTML, an error status), and every request is counted with its headers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "s3cret-registry-token-7f2a"


def registration(plate: str, **overrides: Any) -> dict[str, Any]:
    """A registration as the registry's JSON gives it (the extract's columns as fields)."""
    return {
        "plate": plate,
        "province": "KP",
        "owner_name": "Ayesha Khan",
        "owner_cnic": "1730112345672",
        "owner_phone": "0300 1234567",
        "owner_email": "ayesha@example.pk",
        "owner_address": "House 12, Street 4, Hayatabad, Peshawar",
        "make": "Toyota",
        "model": "Corolla",
        "colour": "White",
        "class": "Motor Car",
        "status": "registered",
        "registered_on": "2019-03-14",
        **overrides,
    }


@dataclass
class Answer:
    """How the registry answers one plate: a status and body, after a delay."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class RegistryServer:
    """The registry at `url` (GET <url>/<plate>); `answers` by plate, 404 for any other."""

    url: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    authorisations: list[str] = field(default_factory=list)

    def answer(self, plate: str, data: Any = None, *, status: int = 200, delay_s: float = 0.0) -> None:
        """Answer `plate` with `data` as JSON (bytes or str: sent as they are)."""
        if isinstance(data, bytes):
            body = data
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = json.dumps(data).encode() if data is not None else b""
        ctype = "text/html" if body.lstrip().startswith(b"<") else "application/json"
        self.answers[plate] = Answer(status, body, delay_s, ctype)

    def register(self, plate: str, **overrides: Any) -> None:
        self.answer(plate, registration(plate, **overrides))


def _handler(server: RegistryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            plate = self.path.rsplit("/", 1)[-1]
            server.hits[plate] += 1
            server.authorisations.append(self.headers.get("Authorization", ""))
            answer = server.answers.get(plate, Answer(404, b'{"error": "not found"}'))
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

    return Handler


@contextmanager
def registry_server() -> Iterator[RegistryServer]:
    """A registry served from a thread on a free loopback port, stopped after the block."""
    server = RegistryServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/registry/v1/vehicles"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
