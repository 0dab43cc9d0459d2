"""Alert feed latency: alert stored → shown on open operator consoles, against one console in the same run.

Run: `python -m bench.bench_alert_feed [--consoles 20] [--rate 50] [--seconds 10]`. The real application
(a temporary SQLite database, the configured bus, memory by default) is served by uvicorn on a loopback
port in a background thread. An external system raises alerts through `POST /api/v1/alerts` on a fixed
schedule, whether or not earlier requests have answered; an alert counts as stored when its 201 arrives
(the request has committed by then), and as shown when a logged-in console's `GET /api/v1/alerts/stream`
delivers it. After a short warm-up the same workload runs with one console (the baseline, since these
machines are noisy) and then with all of them. Goal: p99 <= 2 s, every alert reaching every console.
A latency a little below zero means the event overtook its 201 in the clients' own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from bench.common import audited_sessions
from safecity import migrations
from safecity.app import create_app
from safecity.auth import tokens
from safecity.auth.principal import SYSTEM, Principal
from safecity.auth.service import create_user
from safecity.config import Settings, VideoSettings
from safecity.core.db import create_db_engine, transaction
from safecity.core.logging import configure_logging
from safecity.org.service import district_by_code
from safecity.runtime import build_services
from safecity.seed import reference_data

GOAL_MS = 2000.0
RATE_TOLERANCE = 0.95  # the goal holds only if alerts were stored at (nearly) the target rate
CONNECT_SECONDS = 15.0  # for every console to log in and open its stream
DRAIN_SECONDS = 10.0  # after the last alert is stored, for the stragglers to arrive
START_SECONDS = 15.0  # for uvicorn to start
WARMUP_SECONDS = 1.0
# Raises in flight at once: a bursty external system with a large connection pool (httpx's default).
PRODUCER_CONNECTIONS = 100


@dataclass(frozen=True)
class Accounts:
    """What the clients need: an operator to log in as, a token to raise alerts with, the district."""

    operator: str
    password: str
    token: str
    district_id: uuid.UUID


@dataclass(frozen=True)
class Phase:
    """The figures of one workload."""

    consoles: int
    sent: int
    stored: int  # raises answered 201; the others failed or timed out
    stored_rate: float  # alerts/s, first request sent to last 201
    latencies_ms: list[float]  # one per delivery of a stored alert

    @property
    def expected(self) -> int:
        """Deliveries if every stored alert reached every console."""
        return self.consoles * self.stored

    @property
    def complete(self) -> bool:
        """Whether every alert was stored and reached every console."""
        return self.stored == self.sent and len(self.latencies_ms) == self.expected

    def percentile(self, q: int) -> float:
        """The q-th percentile of the delivery latencies in ms (NaN with fewer than two)."""
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


def prepare(settings: Settings) -> Accounts:
    """Migrate and seed a fresh database; add a Peshawar operator and an admin's token to raise alerts."""
    engine = create_db_engine(settings.effective_database_url)
    migrations.upgrade(engine)
    operator_password = secrets.token_urlsafe(18)
    with audited_sessions(engine, settings) as audited, transaction(audited) as session:
        reference_data(session=session)
        district = district_by_code(session=session, code="PSW")
        assert district is not None, "the reference data has no Peshawar district"
        create_user(
            session=session,
            actor=SYSTEM,
            username="bench-operator",
            password=operator_password,
            roles=["operator"],
            district_ids=frozenset({district.id}),
        )
        admin = create_user(
            session=session,
            actor=SYSTEM,
            username="bench-admin",
            password=secrets.token_urlsafe(18),
            roles=["admin"],
            district_ids=None,
        )
        actor = Principal(
            user_id=admin.id,
            username=admin.username,
            permissions=frozenset({"alerts.raise", "tokens.manage"}),
            district_ids=None,
            via="session",
        )
        _, secret = tokens.create(session=session, actor=actor, name="bench", permissions=["alerts.raise"])
        accounts = Accounts("bench-operator", operator_password, secret, district.id)
    engine.dispose()
    return accounts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn in a background thread while the block runs; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_SECONDS)


async def login(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """Log the console in as the operator (the session cookie stays on the client)."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": accounts.operator, "password": accounts.password}
    )
    response.raise_for_status()
    if response.json()["mfa_step"] is not None:
        raise RuntimeError(f"the operator's login asks for a second step: {response.json()['mfa_step']}")


async def watch(
    client: httpx.AsyncClient, received: dict[str, float], connected: asyncio.Event, arrived: asyncio.Event
) -> None:
    """Hold the alert stream open, noting when each alert first arrives (and setting `arrived`)."""
    event = ""
    async with client.stream("GET", "/api/v1/alerts/stream") as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            now = time.perf_counter()
            if line == ": connected":
                connected.set()
            elif line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event == "alert":
                received.setdefault(json.loads(line.removeprefix("data:"))["id"], now)
                arrived.set()
            elif not line:
                event = ""


async def produce(
    client: httpx.AsyncClient, accounts: Accounts, count: int, rate: float, stored: dict[str, float]
) -> float:
    """Raise `count` alerts on a schedule of `rate` per second, noting each 201; returns alerts stored/s.

    A raise that fails (an error status, a timeout) is left out of `stored`: the table counts it.
    """

    async def raise_one(number: int) -> None:
        try:
            response = await client.post(
                "/api/v1/alerts",
                json={
                    "kind": "camera.offline",
                    "severity": 3,
                    "title": f"Bench camera {number} offline",
                    "district_id": str(accounts.district_id),
                },
            )
        except httpx.HTTPError:
            return
        arrived = time.perf_counter()
        if response.status_code == 201:
            stored[response.json()["id"]] = arrived

    started = time.perf_counter()
    requests = []
    for number in range(count):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        requests.append(asyncio.create_task(raise_one(number)))
    await asyncio.gather(*requests)
    return len(stored) / (max(stored.values()) - started) if stored else 0.0


async def run_phase(base_url: str, accounts: Accounts, consoles: int, rate: float, count: int) -> Phase:
    """Open `consoles` logged-in streams, raise `count` alerts at `rate`/s, and time every delivery."""
    timeout = httpx.Timeout(10.0, read=60.0)  # the stream's heartbeat comes every 15 s
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=timeout))
            for _ in range(consoles)
        ]
        producer = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=base_url,
                timeout=httpx.Timeout(10.0, pool=None),  # a raise may queue for a connection, as scheduled
                limits=httpx.Limits(max_connections=PRODUCER_CONNECTIONS),
                headers={"Authorization": f"Bearer {accounts.token}"},
            )
        )
        await asyncio.wait_for(asyncio.gather(*(login(c, accounts) for c in clients)), CONNECT_SECONDS)
        received: list[dict[str, float]] = [{} for _ in clients]
        connected = [asyncio.Event() for _ in clients]
        arrived = asyncio.Event()
        watchers = [
            asyncio.create_task(watch(c, r, e, arrived))
            for c, r, e in zip(clients, received, connected, strict=True)
        ]
        stored: dict[str, float] = {}

        async def drained() -> None:
            while not all(stored.keys() <= r.keys() for r in received):
                arrived.clear()
                await arrived.wait()

        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in connected)), CONNECT_SECONDS)
            stored_rate = await produce(producer, accounts, count, rate, stored)
            with suppress(TimeoutError):  # what has not arrived by then counts as missing
                await asyncio.wait_for(drained(), DRAIN_SECONDS)
        finally:
            for watcher in watchers:
                watcher.cancel()
            outcomes = await asyncio.gather(*watchers, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, Exception)]
        if failures:
            raise failures[0]
    latencies = [
        (times[alert_id] - stored_at) * 1000
        for times in received
        for alert_id, stored_at in stored.items()
        if alert_id in times
    ]
    return Phase(consoles, count, len(stored), stored_rate, latencies)


async def measure(
    base_url: str, accounts: Accounts, consoles: int, rate: float, seconds: float
) -> list[Phase]:
    """A discarded warm-up, then the baseline with one console, then the load with `consoles`."""
    count = max(2, round(rate * seconds))
    await run_phase(base_url, accounts, 1, rate, max(2, round(rate * WARMUP_SECONDS)))
    baseline = await run_phase(base_url, accounts, 1, rate, count)
    return [baseline, await run_phase(base_url, accounts, consoles, rate, count)]


def bench(consoles: int, rate: float, seconds: float) -> list[Phase]:
    """Set up the application on a temporary database, serve it, measure, and tear everything down."""
    with tempfile.TemporaryDirectory(prefix="bench-alert-feed-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'safecity.db'}"
        settings = Settings(
            data_dir=Path(tmp),
            database_url=SecretStr(url),
            secret_key=SecretStr("x" * 40),
            video=VideoSettings(run_in_web=False),
        )
        accounts = prepare(settings)
        services = build_services(settings)
        with serve(create_app(services=services)) as base_url:
            return asyncio.run(measure(base_url, accounts, consoles, rate, seconds))


def _table(phases: list[Phase], rate: float) -> Table:
    """The baseline and the load, side by side."""
    baseline, load = phases
    table = Table(
        title=f"Alert feed: stored (201 to the raising system) → shown on an open console, "
        f"{load.sent:,} alerts at {rate:g}/s; goal p99 <= {GOAL_MS:,.0f} ms at the rate, every delivery"
    )
    for heading in ("consoles", "alerts/s (stored)", "stored / sent", "deliveries"):
        table.add_column(heading, justify="right")
    for heading in ("p50 ms", "p95 ms", "p99 ms", "max ms", "p99 vs baseline", "goal met"):
        table.add_column(heading, justify="right")
    for phase in phases:
        p99 = phase.percentile(99)
        reached = phase.stored_rate >= RATE_TOLERANCE * rate
        met = "" if phase is baseline else ("yes" if reached and phase.complete and p99 <= GOAL_MS else "no")
        table.add_row(
            f"{phase.consoles}" + (" (baseline)" if phase is baseline else ""),
            f"{rate:g} ({phase.stored_rate:.1f})",
            f"{phase.stored:,} / {phase.sent:,}",
            f"{len(phase.latencies_ms):,} / {phase.expected:,}",
            f"{phase.percentile(50):,.1f}",
            f"{phase.percentile(95):,.1f}",
            f"{p99:,.1f}",
            f"{max(phase.latencies_ms, default=float('nan')):,.1f}",
            f"{p99 / baseline.percentile(99):.2f}x",
            met,
        )
    return table


def main() -> None:
    """Parse options, run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--consoles", type=int, default=20, help="operator consoles holding the stream open")
    parser.add_argument("--rate", type=float, default=50.0, help="alerts raised per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each workload raises alerts")
    args = parser.parse_args()
    if args.consoles < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--consoles, --rate and --seconds must be positive")
    # Warnings only: an access log line per request would bury the table (and cost the server time).
    configure_logging("WARNING", json_format=False)
    phases = bench(args.consoles, args.rate, args.seconds)
    Console(width=150).print(_table(phases, args.rate))


if __name__ == "__main__":
    main()
