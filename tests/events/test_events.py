"""The event store: idempotent batched writes, strict input, district scope, and the bus consumer."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.app import create_app
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core.bus.memory import MemoryBus
from safecity.core.db import create_session_factory
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.events import service as events
from safecity.events.models import Event, Severity
from safecity.events.schemas import MAX_PAYLOAD_BYTES, EventIn, EventOut
from safecity.org.models import District, Province
from safecity.runtime import build_services

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def event_fields(**overrides: Any) -> dict[str, Any]:
    """The fields of a plausible line-crossing event, as a producer would send them."""
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "occurred_at": T0.isoformat(),
        "kind": "analytics.line_crossing",
        "source": "cam-0001",
        "severity": int(Severity.MEDIUM),
        "payload": {"line": "gate-north", "direction": "in", "object": "car", "track_id": 17},
    }
    return {**fields, **overrides}


def make_event(**overrides: Any) -> EventIn:
    return EventIn.model_validate(event_fields(**overrides))


def principal(
    district_ids: frozenset[uuid.UUID] | None, *, permissions: frozenset[str] | None = None
) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="operator",
        permissions=frozenset({"alerts.read"}) if permissions is None else permissions,
        district_ids=district_ids,
    )


@pytest.fixture
def districts(session: Session) -> tuple[uuid.UUID, uuid.UUID]:
    """Two districts of one province (A, B)."""
    tag = uuid.uuid4().hex[:6]
    province = Province(code=f"P{tag}", name=f"Province {tag}")
    session.add(province)
    session.flush()
    a = District(province_id=province.id, code=f"A{tag}", name=f"A {tag}", latitude=31.5, longitude=74.3)
    b = District(province_id=province.id, code=f"B{tag}", name=f"B {tag}", latitude=33.6, longitude=73.0)
    session.add_all([a, b])
    session.flush()
    return a.id, b.id


def stored(session: Session, ids: list[uuid.UUID]) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.id.in_(ids))))


# --- record_many -----------------------------------------------------------------------------------


def test_record_many_stores_events_as_sent(session: Session, districts: tuple[uuid.UUID, uuid.UUID]) -> None:
    karachi = dt.timezone(dt.timedelta(hours=5))
    sent = [
        make_event(district_id=str(districts[0]), occurred_at="2026-03-01T14:00:00+05:00"),
        make_event(kind="camera.offline", source="cam-0002", severity=4, payload={}),
    ]
    assert events.record_many(session=session, events=sent) == 2
    session.expire_all()
    rows = {r.id: r for r in stored(session, [e.id for e in sent])}
    first, second = rows[sent[0].id], rows[sent[1].id]
    assert first.occurred_at == dt.datetime(2026, 3, 1, 14, 0, tzinfo=karachi)
    assert first.occurred_at.utcoffset() == dt.timedelta(0)
    assert first.district_id == districts[0]
    assert first.payload == sent[0].payload
    assert first.severity == Severity.MEDIUM
    assert (second.kind, second.source, second.district_id, second.severity) == (
        "camera.offline",
        "cam-0002",
        None,
        Severity.CRITICAL,
    )


def test_record_many_is_idempotent_on_replay(session: Session) -> None:
    batch = [make_event(payload={"track_id": i}) for i in range(50)]
    assert events.record_many(session=session, events=batch) == 50
    late = make_event()
    # A replay of the whole batch plus one new event, and one id twice within the same call.
    assert events.record_many(session=session, events=[*batch, late, late]) == 1
    assert events.record_many(session=session, events=[]) == 0
    ids = [e.id for e in [*batch, late]]
    assert session.scalar(select(func.count()).select_from(Event).where(Event.id.in_(ids))) == 51


def test_record_many_replay_keeps_the_first_version(session: Session) -> None:
    original = make_event(payload={"plate": "LEA-1234"})
    events.record_many(session=session, events=[original])
    replay = EventIn.model_validate({**original.model_dump(mode="json"), "payload": {"plate": "changed"}})
    assert events.record_many(session=session, events=[replay]) == 0
    session.expire_all()
    assert stored(session, [original.id])[0].payload == {"plate": "LEA-1234"}


# --- EventIn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"occurred_at": "2026-03-01T09:00:00"}, "timezone_aware"),
        ({"kind": "line_crossing"}, "string_pattern_mismatch"),
        ({"kind": "Analytics.Line"}, "string_pattern_mismatch"),
        ({"kind": "analytics..line"}, "string_pattern_mismatch"),
        ({"kind": "analytics.line crossing"}, "string_pattern_mismatch"),
        ({"camera": "cam-0001"}, "extra_forbidden"),
        ({"severity": 5}, "enum"),
        ({"severity": -1}, "enum"),
        ({"source": ""}, "string_too_short"),
        ({"source": "cam\n0001"}, "string_pattern_mismatch"),
        ({"id": "not-a-uuid"}, "uuid_parsing"),
        ({"payload": {"blob": "x" * MAX_PAYLOAD_BYTES}}, "value_error"),
        ({"payload": {"reading": float("inf")}}, "value_error"),
        ({"payload": {"plates": ["LEA\x001234"]}}, "value_error"),
    ],
)
def test_event_in_refuses_bad_input(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        EventIn.model_validate(event_fields(**overrides))
    assert [e["type"] for e in caught.value.errors()] == [problem]


def test_event_in_refuses_a_naive_datetime_object() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        EventIn.model_validate(event_fields(occurred_at=dt.datetime(2026, 3, 1, 9, 0)))  # noqa: DTZ001


def test_event_in_reads_json_and_keeps_utc() -> None:
    event = EventIn.model_validate_json(json.dumps(event_fields(occurred_at="2026-03-01T14:00:00+05:00")))
    assert event.occurred_at == T0
    assert event.occurred_at.tzinfo is dt.UTC
    assert event.severity is Severity.MEDIUM


# --- search ----------------------------------------------------------------------------------------


@pytest.fixture
def spread(session: Session, districts: tuple[uuid.UUID, uuid.UUID]) -> dict[str, EventIn]:
    """Events in district A, in district B, and of no district, an hour apart."""
    a, b = districts
    sent = {
        "a": make_event(district_id=str(a), occurred_at=T0.isoformat()),
        "b": make_event(district_id=str(b), occurred_at=(T0 + dt.timedelta(hours=1)).isoformat()),
        "none": make_event(kind="system.disk_low", occurred_at=(T0 + dt.timedelta(hours=2)).isoformat()),
    }
    events.record_many(session=session, events=list(sent.values()))
    return sent


def found_ids(session: Session, who: Principal, **filters: Any) -> set[uuid.UUID]:
    # Scoped to the window of `spread`, so events other tests committed on this database do not count.
    window: dict[str, Any] = {"since": T0, "until": T0 + dt.timedelta(hours=3), **filters}
    return {e.id for e in events.search(session=session, principal=who, **window)}


def test_search_never_shows_another_districts_events(
    session: Session, districts: tuple[uuid.UUID, uuid.UUID], spread: dict[str, EventIn]
) -> None:
    a, b = districts
    in_a = principal(frozenset({a}))
    assert found_ids(session, in_a) == {spread["a"].id}
    assert found_ids(session, in_a, district_id=b) == set()
    assert found_ids(session, principal(frozenset({a, b}))) == {spread["a"].id, spread["b"].id}
    assert found_ids(session, principal(None)) == {e.id for e in spread.values()}


def test_search_filters_and_orders(
    session: Session, districts: tuple[uuid.UUID, uuid.UUID], spread: dict[str, EventIn]
) -> None:
    everywhere = principal(None)
    assert found_ids(session, everywhere, kind="system.disk_low") == {spread["none"].id}
    assert found_ids(session, everywhere, district_id=districts[1]) == {spread["b"].id}
    hour = dt.timedelta(hours=1)
    assert found_ids(session, everywhere, since=T0 + hour, until=T0 + 2 * hour) == {spread["b"].id}
    newest = events.search(session=session, principal=everywhere, since=T0, until=T0 + 3 * hour, limit=2)
    assert [e.id for e in newest] == [spread["none"].id, spread["b"].id]
    shown = EventOut.model_validate(newest[1])
    assert shown.model_dump() == {**spread["b"].model_dump(), "district_id": districts[1]}


def test_search_needs_permission(session: Session, spread: dict[str, EventIn]) -> None:
    with pytest.raises(PermissionDenied):
        events.search(session=session, principal=principal(None, permissions=frozenset({"cameras.read"})))


@pytest.mark.parametrize(
    "filters",
    [{"since": dt.datetime(2026, 3, 1)}, {"limit": 0}, {"limit": events.MAX_SEARCH_LIMIT + 1}],  # noqa: DTZ001
)
def test_search_refuses_bad_filters(session: Session, filters: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        events.search(session=session, principal=principal(None), **filters)


# --- store_from_bus ---------------------------------------------------------------------------------
# The consumer commits for real (its own sessions, from the engine), as it does in production; the
# test's own rows are deleted at the end, and lie a day before the search tests' window meanwhile.


def bus_event(tag: str, **overrides: Any) -> dict[str, Any]:
    return event_fields(
        source=f"bus-test-{tag}", occurred_at=(T0 - dt.timedelta(days=1)).isoformat(), **overrides
    )


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    factory = create_session_factory(engine)
    yield factory
    with factory() as session:
        session.execute(delete(Event).where(Event.source.like("bus-test-%")))
        session.commit()


def count_stored(factory: sessionmaker[Session], ids: list[str]) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(Event.id, func.count()).where(Event.id.in_([uuid.UUID(i) for i in ids])).group_by(Event.id)
        )
        return {str(event_id): n for event_id, n in rows}


async def wait_until_stored(factory: sessionmaker[Session], ids: list[str]) -> dict[str, int]:
    with anyio.fail_after(15):
        while True:
            counts = await asyncio.to_thread(count_stored, factory, ids)
            if set(counts) == set(ids):
                return counts
            await asyncio.sleep(0.05)


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> None:
    with anyio.fail_after(10):
        while True:
            if text in caplog.text:
                return
            await asyncio.sleep(0.05)


async def assert_all_acked(bus: MemoryBus, *, ack_wait: float) -> None:
    """Nothing comes back to the durable consumer after its ack_wait: every message was acknowledged."""
    subscription = await bus.subscribe("events.>", durable="event-store", ack_wait=ack_wait)
    assert await subscription.next(timeout=ack_wait * 2) is None
    await subscription.close()


@pytest.mark.anyio
async def test_store_from_bus_stores_once_and_survives_bad_messages(
    committed: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus()
    await bus.start()
    good = [bus_event(str(i)) for i in range(3)]
    first = json.dumps(good[0]).encode()
    secret = "LEA-9876"  # a plate number: it must never reach the log
    await bus.publish("events.analytics", first)
    await bus.publish("events.analytics", b"{not json")
    await bus.publish("events.analytics", json.dumps(bus_event("x", colour=secret)).encode())
    await bus.publish("events.analytics", json.dumps(good[1]).encode())
    await bus.publish("events.analytics", first)  # the producer sent it again (no msg_id to dedupe on)
    # Refused by the database (no such district): it must not hold up the events batched with it.
    unknown = bus_event("y", district_id=str(uuid.uuid4()), payload={"plate": secret})
    await bus.publish("events.analytics", json.dumps(unknown).encode())
    await bus.publish("events.analytics", json.dumps(good[2]).encode())

    stop = asyncio.Event()
    ack_wait = 0.5
    with caplog.at_level(logging.WARNING, logger="safecity.events"):
        consumer = asyncio.create_task(
            events.store_from_bus(bus=bus, session_factory=committed, ack_wait=ack_wait, stop=stop)
        )
        await wait_until_stored(committed, [g["id"] for g in good])
        # A late replay, in a batch of its own; the event after it shows when it has been handled.
        after = bus_event("after")
        await bus.publish("events.analytics", first)
        await bus.publish("events.analytics", json.dumps(after).encode())
        await wait_until_stored(committed, [after["id"]])
        stop.set()
        await consumer  # returns, rather than raising: the consumer survived all of the above

    ids = [g["id"] for g in [*good, after]]
    assert await asyncio.to_thread(count_stored, committed, ids) == dict.fromkeys(ids, 1)
    assert await asyncio.to_thread(count_stored, committed, [unknown["id"]]) == {}
    await assert_all_acked(bus, ack_wait=ack_wait)
    assert caplog.text.count("malformed event") == 2
    assert unknown["id"] in caplog.text
    assert secret not in caplog.text


@pytest.mark.anyio
async def test_store_from_bus_leaves_events_for_redelivery_when_the_database_fails(
    committed: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus()
    await bus.start()
    sent = bus_event("outage")
    await bus.publish("events.analytics", json.dumps(sent).encode())
    # A database that cannot be opened stands for one that is down.
    down = create_session_factory(create_engine("sqlite:///file:/nonexistent/safecity.db?mode=ro&uri=true"))
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="safecity.events"):
        consumer = asyncio.create_task(events.store_from_bus(bus=bus, session_factory=down, stop=stop))
        await wait_for_log(caplog, "could not store")
        stop.set()
        await consumer

    stop = asyncio.Event()
    consumer = asyncio.create_task(events.store_from_bus(bus=bus, session_factory=committed, stop=stop))
    assert await wait_until_stored(committed, [sent["id"]]) == {sent["id"]: 1}
    stop.set()
    await consumer


def test_the_running_app_stores_what_a_worker_elsewhere_only_published(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    """The web process consumes `events.>`: an event a remote producer published lands in the store."""
    _, factory = own_db
    services = build_services(settings, session_factory=factory)
    event = bus_event("remote")
    with TestClient(create_app(services=services)) as client:
        client.portal.call(services.bus.publish, "events.analytics.cam-remote", json.dumps(event).encode())
        deadline = time.monotonic() + 15
        while not count_stored(factory, [event["id"]]) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert count_stored(factory, [event["id"]]) == {event["id"]: 1}
