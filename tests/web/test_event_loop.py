"""Nothing blocks the event loop: under concurrent writes, health checks, reads and live feeds, no
callback holds the server's loop for more than 100 ms, and every call-taker's write goes through."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest

from conftest import PASSWORD, Factory, serve
from safecity.config import Settings

WRITERS = 4
CALLS_EACH = 40
STALL_S = 0.1


def _logged_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def test_the_loop_never_stalls_under_writes_health_checks_and_reads(
    settings: Settings, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="asyncio"),
        serve(settings, db_url, tmp_path, slow_callback=STALL_S) as app,
    ):
        caplog.clear()  # start-up is over: from here on the server serves
        with app.services.session_factory() as session:
            factory = Factory(session, app.services.mfa_box)
            district = factory.district()
            names = [
                factory.user("operator", districts=[district], mfa=False).username for _ in range(WRITERS)
            ]
            session.commit()
            district_id = str(district.id)
        clients = [_logged_in(app.base, name) for name in names]
        created: list[int] = []
        health: list[int] = []
        done = threading.Event()

        def write(client: httpx.Client) -> None:
            for i in range(CALLS_EACH):
                call = {"district_id": district_id, "category": "fire", "title": f"Call {i}"}
                response = client.post("/api/v1/incidents", json=call)
                assert response.status_code == 201, response.text
                created.append(1)

        def probe() -> None:  # the load balancer and a reader, all along
            with httpx.Client(base_url=app.base, timeout=30) as anonymous:
                while not done.is_set():
                    health.append(anonymous.get("/readyz").status_code)
                    health.append(anonymous.get("/healthz").status_code)
                    health.append(clients[0].get("/api/v1/incidents").status_code)

        writers = [threading.Thread(target=write, args=(c,)) for c in clients]
        prober = threading.Thread(target=probe)
        for thread in [*writers, prober]:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        prober.join()
        for client in clients:
            client.close()
        # Before shutdown: stopping may take its time, serving may not.
        stalls = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]

    assert len(created) == WRITERS * CALLS_EACH
    assert health and set(health) == {200}
    assert stalls == [], "the event loop was held:\n" + "\n".join(stalls)
