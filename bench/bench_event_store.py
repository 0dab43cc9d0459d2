"""Event store write throughput: `record_many` against the raw driver's fastest load, in the same run.

Run: `python -m bench.bench_event_store [--count 100000] [--rounds 3]`. SQLite is a temporary file set up
as the application sets it (WAL, synchronous=FULL, foreign keys); PostgreSQL is SAFECITY_TEST_DATABASE_URL
or postgresql://postgres@127.0.0.1:5432/test, in a throwaway schema dropped at the end. Every case loads
the same events into an emptied table; cases are interleaved round by round and each keeps its best
round, since these machines are noisy. `record_many` commits after every batch, as the bus consumer
does; the baselines load everything in one transaction, the most favourable case for them. The
`store_from_bus` rows time the event store's consumer draining a backlog already on the bus (in-process,
and NATS JetStream at SAFECITY_TEST_NATS_URL or 127.0.0.1:4222 when it answers): commit, then ack.
Targets: SQLite >= 20,000 events/s; PostgreSQL >= 50,000 events/s and >= 0.3x COPY.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nats
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.common import postgres_reachable, postgres_url, scratch_schema
from safecity import migrations
from safecity.core.bus import Bus, MemoryBus, NatsBus, StreamSpec
from safecity.core.db import create_db_engine, create_session_factory
from safecity.events import service
from safecity.events.models import Event
from safecity.events.schemas import EventIn, EventOut
from safecity.org.models import District, Province

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
SQLITE_GOAL = 20_000
PG_GOAL = 50_000
PG_GOAL_RATIO = 0.3
BATCH_SIZES = (1000, 5000)
COLUMNS = "id, occurred_at, kind, source, district_id, severity, payload"

KINDS = (
    "analytics.line_crossing",
    "analytics.loitering",
    "analytics.crowd",
    "anpr.plate_read",
    "traffic.red_light",
    "camera.offline",
)


@dataclass(frozen=True)
class Case:
    """One way of loading the events, run once per round (after `prepare`, which is not timed)."""

    method: str
    load: Callable[[], None]
    role: Literal["baseline", "ours", "reference"]  # only "ours" is held to the goals
    prepare: Callable[[], None] | None = None


@dataclass(frozen=True)
class Result:
    """One row of the printed table."""

    backend: str
    method: str
    rate: float  # events/s, best round
    baseline: float | None  # the same run's baseline rate, None for the baseline itself
    goal: str  # what this row must reach, for the table
    met: bool | None


def make_events(count: int, district_ids: list[uuid.UUID]) -> list[EventIn]:
    """`count` events as analytics would send them: ~700 cameras, a few districts, a ~5-field payload."""
    rng = random.Random(7)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    events = []
    for i in range(count):
        camera = rng.randrange(710)
        events.append(
            EventIn(
                id=uuid.uuid4(),
                occurred_at=start + dt.timedelta(milliseconds=i * 30 + rng.randrange(30)),
                kind=rng.choice(KINDS),
                source=f"cam-{camera:04d}",
                # One camera in ten belongs to no district yet (a commercial camera being onboarded).
                district_id=None if camera % 10 == 0 else district_ids[camera % len(district_ids)],
                severity=rng.choice((0, 1, 1, 2, 2, 3, 4)),
                payload={
                    "track_id": rng.randrange(1_000_000),
                    "object": rng.choice(("person", "car", "motorcycle", "rickshaw", "bus")),
                    "zone": f"zone-{rng.randrange(8)}",
                    "confidence": round(rng.uniform(0.4, 0.99), 3),
                    "bbox": [
                        rng.randrange(1920),
                        rng.randrange(1080),
                        rng.randrange(200),
                        rng.randrange(200),
                    ],
                },
            )
        )
    return events


def add_districts(engine: Engine) -> list[uuid.UUID]:
    """Four districts for the events to belong to (the table's foreign key is checked on every row)."""
    with Session(engine) as session:
        province = Province(code="BP", name="Bench Province")
        session.add(province)
        session.flush()
        districts = [
            District(province_id=province.id, code=f"BD{i}", name=f"Bench {i}", latitude=31.5, longitude=74.3)
            for i in range(4)
        ]
        session.add_all(districts)
        session.commit()
        return [d.id for d in districts]


def timed(load: Callable[[], None]) -> float:
    """Seconds `load` took."""
    started = time.perf_counter()
    load()
    return time.perf_counter() - started


def record_many_case(engine: Engine, events: list[EventIn], batch: int) -> Callable[[], None]:
    """Load the events through record_many, `batch` at a time, committing each batch."""

    def load() -> None:
        with Session(engine) as session:
            for start in range(0, len(events), batch):
                service.record_many(session=session, events=events[start : start + batch])
                session.commit()

    return load


class ThroughBus:
    """The events as the analytics publish them on a bus (`prepare`, untimed), then stored by the event
    store's consumer (`load`): how fast the store drains a backlog, e.g. after a database outage.
    """

    def __init__(self, engine: Engine, events: list[EventIn], bus_url: str, batch: int) -> None:
        self._factory = create_session_factory(engine)
        self._bus_url = bus_url
        self._batch = batch
        self._loop = asyncio.new_event_loop()  # the bus lives on one loop from prepare to load
        self._bus: Bus | None = None
        self._prefix = ""
        self._items = [
            (
                f"analytics.cam{e.source}",
                EventOut.model_validate(e.model_dump()).model_dump_json().encode(),
                str(e.id),
            )
            for e in events
        ]

    def prepare(self) -> None:
        """A new stream of the round's own, holding every event."""
        self._loop.run_until_complete(self._prepare())

    async def _prepare(self) -> None:
        self._prefix = f"bench{uuid.uuid4().hex[:10]}"
        spec = StreamSpec(f"B_{self._prefix}", (f"{self._prefix}.>",))
        bus: Bus = (
            MemoryBus(streams=(spec,), max_msgs=10_000_000)
            if self._bus_url == "memory://"
            else NatsBus(self._bus_url, streams=(spec,))
        )
        await bus.start()
        await bus.publish_many(
            (f"{self._prefix}.{subject}", data, msg_id) for subject, data, msg_id in self._items
        )
        self._bus = bus

    def load(self) -> None:
        """Run the store's consumer until every event is stored."""
        self._loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        assert self._bus is not None
        stop = asyncio.Event()
        task = asyncio.create_task(
            service.store_from_bus(
                bus=self._bus,
                session_factory=self._factory,
                subject=f"{self._prefix}.>",
                durable="bench-store",
                batch_size=self._batch,
                stop=stop,
            )
        )
        while True:  # the consumer runs until stopped: stop it once the last event is in
            if await asyncio.to_thread(self._stored) >= len(self._items):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await self._bus.close()
        if isinstance(self._bus, NatsBus):
            nc = await nats.connect(self._bus_url)
            await nc.jetstream().delete_stream(f"B_{self._prefix}")
            await nc.close()

    def _stored(self) -> int:
        with self._factory() as session:
            return session.scalar(select(func.count()).select_from(Event)) or 0

    def close(self) -> None:
        """Close the loop."""
        self._loop.close()


def bus_cases(engine: Engine, events: list[EventIn], nats_url: str | None) -> list[tuple[Case, ThroughBus]]:
    """The event store's consumer draining the in-process bus and, if reachable, NATS JetStream."""
    urls = ["memory://"] + ([nats_url] if nats_url else [])
    cases = []
    for url in urls:
        through = ThroughBus(engine, events, url, 500)
        name = "in-process bus" if url == "memory://" else "NATS JetStream"
        cases.append(
            (
                Case(f"store_from_bus from {name}, batches of 500", through.load, "ours", through.prepare),
                through,
            )
        )
    return cases


def core_executemany_case(engine: Engine, events: list[EventIn]) -> Callable[[], None]:
    """A plain Core executemany, the path record_many does not take on PostgreSQL: measured, not guessed."""
    statement = postgresql.insert(Event).on_conflict_do_nothing(index_elements=[Event.id])
    params: list[dict[str, Any]] = [
        {
            "id": e.id,
            "occurred_at": e.occurred_at,
            "kind": e.kind,
            "source": e.source,
            "district_id": e.district_id,
            "severity": int(e.severity),
            "payload": e.payload,
        }
        for e in events
    ]

    def load() -> None:
        with Session(engine) as session:
            for start in range(0, len(params), 1000):
                session.connection().execute(statement, params[start : start + 1000])
                session.commit()

    return load


def best_rates(cases: list[Case], clear: Callable[[], None], count: int, rounds: int) -> dict[str, float]:
    """Best events/s of each case over interleaved rounds, each starting from an empty table."""
    best: dict[str, float] = {case.method: 0.0 for case in cases}
    for _ in range(rounds):
        for case in cases:
            clear()
            if case.prepare is not None:
                case.prepare()
            best[case.method] = max(best[case.method], count / timed(case.load))
    return best


def summarise(
    backend: str, cases: list[Case], best: dict[str, float], goal: str, meets: Callable[[float, float], bool]
) -> list[Result]:
    """One result per case, each compared with the baseline measured in the same run."""
    baseline = next(best[c.method] for c in cases if c.role == "baseline")
    results = []
    for case in cases:
        rate = best[case.method]
        if case.role == "baseline":
            results.append(Result(backend, case.method, rate, None, "", None))
        elif case.role == "reference":
            results.append(Result(backend, case.method, rate, baseline, "", None))
        else:
            results.append(Result(backend, case.method, rate, baseline, goal, meets(rate, baseline)))
    return results


def bench_sqlite(count: int, rounds: int, nats_url: str | None) -> list[Result]:
    """record_many against sqlite3's executemany, on a temporary database file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        engine = create_db_engine(f"sqlite:///{path}")
        migrations.upgrade(engine)
        events = make_events(count, add_districts(engine))
        # The same rows in the form SQLAlchemy stores them on SQLite (hex UUIDs, naive UTC text).
        rows = [
            (
                e.id.hex,
                e.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                e.kind,
                e.source,
                e.district_id.hex if e.district_id else None,
                int(e.severity),
                json.dumps(e.payload),
            )
            for e in events
        ]
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")

        def raw_executemany() -> None:
            raw.execute("BEGIN")
            raw.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)  # noqa: S608
            raw.execute("COMMIT")

        def clear() -> None:
            raw.execute("DELETE FROM events")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        cases = [Case("sqlite3 executemany (baseline)", raw_executemany, "baseline")]
        cases += [
            Case(f"record_many, batches of {b:,}", record_many_case(engine, events, b), "ours")
            for b in BATCH_SIZES
        ]
        through = bus_cases(engine, events, nats_url)
        cases += [case for case, _ in through]
        best = best_rates(cases, clear, count, rounds)
        for _, bus in through:
            bus.close()
        raw.close()
        engine.dispose()
    return summarise("SQLite", cases, best, f">= {SQLITE_GOAL:,}/s", lambda rate, _: rate >= SQLITE_GOAL)


def bench_postgres(base_url: str, count: int, rounds: int, nats_url: str | None) -> list[Result]:
    """record_many against psycopg's COPY, in a throwaway schema."""
    with scratch_schema(base_url) as scratch:
        engine = create_db_engine(scratch.url)
        migrations.upgrade(engine)
        events = make_events(count, add_districts(engine))
        rows = [
            (e.id, e.occurred_at, e.kind, e.source, e.district_id, int(e.severity), json.dumps(e.payload))
            for e in events
        ]
        with psycopg.connect(scratch.conninfo, options=scratch.options) as raw:

            def raw_copy() -> None:
                with raw.cursor() as cur, cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()

            def clear() -> None:
                raw.execute("TRUNCATE events")
                raw.commit()

            cases = [Case("psycopg COPY (baseline)", raw_copy, "baseline")]
            cases += [
                Case(f"record_many, batches of {b:,}", record_many_case(engine, events, b), "ours")
                for b in BATCH_SIZES
            ]
            cases.append(
                Case(
                    "Core executemany, batches of 1,000 (not taken)",
                    core_executemany_case(engine, events),
                    "reference",
                )
            )
            through = bus_cases(engine, events, nats_url)
            cases += [case for case, _ in through]
            best = best_rates(cases, clear, count, rounds)
            for _, bus in through:
                bus.close()
        engine.dispose()
    return summarise(
        "PostgreSQL",
        cases,
        best,
        f">= {PG_GOAL:,}/s and >= {PG_GOAL_RATIO}x",
        lambda rate, baseline: rate >= PG_GOAL and rate >= PG_GOAL_RATIO * baseline,
    )


def nats_reachable(url: str) -> bool:
    """Whether a NATS server answers at `url`."""

    async def probe() -> bool:
        try:
            nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        except Exception:  # any failure to connect means: no NATS cases
            return False
        await nc.close()
        return True

    return asyncio.run(probe())


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="events per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each case keeps its best")
    args = parser.parse_args()
    console = Console(width=110)  # the table stays whole when printed to a file or a pipe
    nats_url = os.environ.get("SAFECITY_TEST_NATS_URL", DEFAULT_NATS_URL)
    if not nats_reachable(nats_url):
        console.print(f"[yellow]NATS cases skipped: nothing answers at {nats_url}[/]")
        nats_url = ""
    results = bench_sqlite(args.count, args.rounds, nats_url or None)
    pg_url = postgres_url()
    unreachable = postgres_reachable(pg_url)
    if unreachable is None:
        results += bench_postgres(pg_url, args.count, args.rounds, nats_url or None)
    else:
        console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({unreachable})[/]")

    table = Table(
        title=f"Event store writes: {args.count:,} events per case, best of {args.rounds} rounds "
        "(each batch committed)"
    )
    for heading in ("backend", "method", "events/s", "vs baseline", "goal", "met"):
        table.add_column(heading, justify="right" if heading in ("events/s", "vs baseline") else "left")
    for r in results:
        ratio = "1.00x" if r.baseline is None else f"{r.rate / r.baseline:.2f}x"
        met = "" if r.met is None else ("yes" if r.met else "no")
        table.add_row(r.backend, r.method, f"{r.rate:,.0f}", ratio, r.goal, met)
    console.print(table)


if __name__ == "__main__":
    main()
