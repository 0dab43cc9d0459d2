"""Events and plate reads reach their stores through the bus exactly once: through a database outage, a
message delivered twice, and a consumer killed between its commit and its acknowledgements.

Run on the memory bus and, when SAFECITY_TEST_NATS_URL is set, on NATS JetStream (a stream of the test's
own); on SQLite and, when SAFECITY_TEST_DATABASE_URL is set, PostgreSQL. The database "goes down" for
real: every new connection is refused (the engine keeps none in a pool) until it "comes back".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.js.errors
import pytest
from sqlalchemy import Engine, delete, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from conftest import MISSING, NATS_ENV, SHARED_NATS, START, wait_until_async
from safecity.analytics import flows as analytics_flows
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SightingIn
from safecity.core.bus import Bus, MemoryBus, NatsBus, StreamSpec
from safecity.core.db import create_db_engine, create_session_factory
from safecity.events import service as events
from safecity.events.models import Event

pytestmark = [pytest.mark.anyio, SHARED_NATS]

SOURCE = "through-bus-test"


@dataclass
class Harness:
    bus: Bus
    prefix: str  # the test's own stream keeps `<prefix>.>`
    durable: str = field(default_factory=lambda: f"store-{uuid.uuid4().hex[:10]}")

    def subject(self, rest: str) -> str:
        return f"{self.prefix}.{rest}"


@pytest.fixture(params=["memory", "nats"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A started bus of each kind with a stream of the test's own (deleted afterwards on NATS)."""
    prefix = f"sb{uuid.uuid4().hex[:10]}"
    spec = StreamSpec(f"T_{prefix}", (f"{prefix}.>",))
    if request.param == "memory":
        bus = MemoryBus(streams=(spec,))
        await bus.start()
        yield Harness(bus, prefix)
        await bus.close()
        return
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    nats_bus = NatsBus(url, streams=(spec,), connect_timeout=5.0)
    await nats_bus.start()  # fails loudly when the server named in the variable is down
    try:
        yield Harness(nats_bus, prefix)
    finally:
        await nats_bus.close()
        nc = await nats.connect(url)
        with suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(spec.name)
        await nc.close()


class Switchable:
    """A database that can be taken down and brought back: while down, every connection is refused."""

    def __init__(self, url: str) -> None:
        self.down = False
        self.connects = 0
        # No pool: each session connects anew, so "down" applies at once, as a stopped server would.
        self.engine: Engine = create_db_engine(url, poolclass=NullPool)

        @event.listens_for(self.engine, "do_connect")
        def refuse(*_: Any) -> None:
            self.connects += 1
            if self.down:
                raise OperationalError(
                    "connect", {}, ConnectionRefusedError("the test took the database down")
                )

        self.factory = create_session_factory(self.engine)


@pytest.fixture
def database(engine: Engine) -> Iterator[Switchable]:
    """The suite's database of each kind behind a switch; the test's rows are deleted afterwards."""
    switchable = Switchable(engine.url.render_as_string(hide_password=False))
    yield switchable
    switchable.down = False
    with switchable.factory() as session:
        session.execute(delete(Event).where(Event.source == SOURCE))
        session.execute(delete(Sighting).where(Sighting.layout == SOURCE))
        session.commit()
    switchable.engine.dispose()


def an_event(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": (dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n)).isoformat(),
        "kind": "analytics.line_crossing",
        "source": SOURCE,
        "severity": 1,
        "payload": {"n": n},
    }


def stored_counts(factory: sessionmaker[Session], ids: list[str]) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(Event.id, func.count()).where(Event.id.in_([uuid.UUID(i) for i in ids])).group_by(Event.id)
        )
        return {str(event_id): n for event_id, n in rows}


async def publish(harness: Harness, sent: list[dict[str, Any]]) -> None:
    await harness.bus.publish_many(
        (harness.subject(f"analytics.cam{e['payload']['n'] % 3}"), json.dumps(e).encode(), e["id"])
        for e in sent
    )


def start_store(
    harness: Harness, factory: sessionmaker[Session], **options: Any
) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        events.store_from_bus(
            bus=harness.bus,
            session_factory=factory,
            subject=harness.subject(">"),
            durable=harness.durable,
            stop=stop,
            **options,
        )
    )
    return task, stop


async def test_events_published_while_the_database_is_down_land_once_when_it_is_back(
    harness: Harness, database: Switchable, caplog: pytest.LogCaptureFixture
) -> None:
    database.down = True
    sent = [an_event(n) for n in range(300)]
    with caplog.at_level(logging.ERROR, logger="safecity.core.bus.store"):
        store, stop = start_store(harness, database.factory, batch_size=100)
        await publish(harness, sent)
        # The same events again, one by one with their ids, as a producer retrying after a lost ack would;
        # then one more time with no id, as a second producer might: the bus cannot suppress these.
        await publish(harness, sent[:50])
        for e in sent[50:60]:
            await harness.bus.publish(harness.subject("analytics.again"), json.dumps(e).encode())
        await wait_until_async(lambda: "could not store" in caplog.text, within=15)
        refused = database.connects
        await asyncio.sleep(1.5)  # the consumer keeps trying, backing off, while the database stays down
        assert database.connects > refused
        assert "delivered again in 2 s" in caplog.text  # the pause grows: 1 s, then 2 s …
    database.down = False
    ids = [e["id"] for e in sent]
    await wait_until_async(lambda: len(stored_counts(database.factory, ids)) == len(ids), within=60)
    stop.set()
    await store
    assert stored_counts(database.factory, ids) == dict.fromkeys(ids, 1)


async def test_a_consumer_killed_between_commit_and_ack_loses_and_duplicates_nothing(
    harness: Harness, database: Switchable
) -> None:
    sent = [an_event(n) for n in range(120)]
    await publish(harness, sent)
    loop = asyncio.get_running_loop()
    killed = asyncio.Event()
    store: asyncio.Task[None] | None = None

    def kill() -> None:
        if store is not None and not killed.is_set():
            store.cancel()
            killed.set()

    # Killed the moment its first batch is committed: the cancellation is queued before the commit's
    # thread returns, so the consumer dies awaiting it, its batch stored and nothing acknowledged.
    @event.listens_for(database.factory, "after_commit")
    def committed(_session: Session) -> None:
        loop.call_soon_threadsafe(kill)

    store, _ = start_store(harness, database.factory, batch_size=50, ack_wait=1.0)
    await killed.wait()
    with suppress(asyncio.CancelledError):
        await store
    event.remove(database.factory, "after_commit", committed)
    ids = [e["id"] for e in sent]
    assert 0 < len(stored_counts(database.factory, ids)) < len(ids)  # killed mid-way

    # Its successor, under the same durable name, gets the unacknowledged batch again and the rest.
    store, stop = start_store(harness, database.factory, batch_size=50, ack_wait=1.0)
    await wait_until_async(lambda: len(stored_counts(database.factory, ids)) == len(ids), within=30)
    stop.set()
    await store
    assert stored_counts(database.factory, ids) == dict.fromkeys(ids, 1)


def a_sighting(n: int) -> SightingIn:
    at = dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n)
    return SightingIn(
        camera_id=None,
        district_id=None,
        seen_at=at,
        first_seen=at,
        last_seen=at,
        plate=f"LEA{n:04d}",
        confidence=0.9,
        layout=SOURCE,
        jurisdiction="Punjab",
        direction="right",
    )


async def test_plate_sightings_published_twice_through_an_outage_are_stored_once(
    harness: Harness, database: Switchable
) -> None:
    sightings = [a_sighting(n) for n in range(40)]
    database.down = True
    stop = asyncio.Event()
    store = asyncio.create_task(
        analytics_flows.sightings_from_bus(
            bus=harness.bus,
            session_factory=database.factory,
            stop=stop,
            subject=harness.subject(">"),
            durable=harness.durable,
        )
    )
    for _ in range(2):  # each published twice, the second time without an id the bus could dedupe on
        for s in sightings:
            data = analytics_flows.as_published(s).model_dump_json().encode()
            await harness.bus.publish(harness.subject(f"sighting.{s.id}"), data, msg_id=None)
    await asyncio.sleep(1.0)
    database.down = False

    def counts() -> dict[uuid.UUID, int]:
        with database.factory() as session:
            rows = session.execute(
                select(Sighting.id, func.count()).where(Sighting.layout == SOURCE).group_by(Sighting.id)
            )
            return {row[0]: row[1] for row in rows}

    await wait_until_async(lambda: len(counts()) == len(sightings), within=30)
    stop.set()
    await store
    assert counts() == {s.id: 1 for s in sightings}
    with database.factory() as session:
        row = session.get(Sighting, sightings[7].id)
        assert row is not None and row.folded == "LEA0007" and row.folded_rev == "7000AEL"
        assert row.direction == "right"
