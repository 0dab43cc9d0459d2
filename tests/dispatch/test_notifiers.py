"""The webhook notifier against a real local HTTP server, and the notifier registry."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from safecity.dispatch.notifiers import MqttNotifier, NotifyError, WebhookNotifier, build_notifier


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append(body)
        self.send_response(500 if self.path == "/broken" else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_the_webhook_posts_the_dispatch_and_a_failure_is_reported(server: str) -> None:
    notifier = build_notifier({"type": "webhook", "url": f"{server}/units"})
    assert isinstance(notifier, WebhookNotifier)
    asyncio.run(notifier.send(call_sign="PSW-MOB-07", message={"assignment_id": "a1", "lat": 34.0}))
    assert _Receiver.received == [{"call_sign": "PSW-MOB-07", "assignment_id": "a1", "lat": 34.0}]
    broken = build_notifier({"type": "webhook", "url": f"{server}/broken"})
    with pytest.raises(NotifyError):
        asyncio.run(broken.send(call_sign="PSW-MOB-07", message={"assignment_id": "a2"}))


def test_the_registry_builds_by_type_and_refuses_unknown_ones() -> None:
    assert isinstance(build_notifier({"type": "mqtt", "prefix": "x/units"}), MqttNotifier)
    with pytest.raises(ValueError, match="unknown notifier type"):
        build_notifier({"type": "pigeon"})
    with pytest.raises(ValueError):
        build_notifier({"type": "webhook"})  # no URL
