"""Violations from analytics events on the bus: a stop line crossed on red (and only on red), a wrong-way
driver, a vehicle stopped in a no-parking zone past its grace time; one violation per vehicle however many
times its event is delivered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

import nats
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from violation_world import OFFICER, T0, Junction, event, junction, vehicle

from conftest import MISSING, NATS_ENV, SHARED_NATS, START, Factory, wait_until_async
from safecity.config import Settings
from safecity.core.bus import Bus, MemoryBus, NatsBus
from safecity.core.bus.base import StreamSpec
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.events.schemas import EventOut
from safecity.traffic.violations import flows
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import (
    EnforcementRule,
    Offence,
    SignalLight,
    Violation,
    ViolationStatus,
)
from safecity.traffic.violations.schemas import EnforcementRuleUpdate

pytestmark = [pytest.mark.anyio, SHARED_NATS]
MAX_AGE = 300.0


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def world(factory_db: sessionmaker[Session], settings: Settings) -> Junction:
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
        for light, seconds in (("green", 0), ("amber", 30), ("red", 33), ("green", 90)):
            violations.record_state(
                session=session,
                signal_id=place.signal_id,
                light=SignalLight(light),
                at=at(seconds),
                source="api",
            )
        session.expunge_all()
    return place


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, str]]:
    """A started bus of each kind with a stream of the test's own: (bus, subject prefix)."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    spec = StreamSpec(f"T_{prefix}", (f"{prefix}.>",))
    if request.param == "memory":
        memory = MemoryBus(streams=(spec,))
        await memory.start()
        yield memory, prefix
        await memory.close()
        return
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    nats_bus = NatsBus(url, streams=(spec,), connect_timeout=5.0)
    await nats_bus.start()
    try:
        yield nats_bus, prefix
    finally:
        await nats_bus.close()
        connection = await nats.connect(url)
        with suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(spec.name)
        await connection.close()


async def publish(bus: Bus, prefix: str, out: EventOut, msg_id: str | None = None) -> None:
    await bus.publish(
        f"{prefix}.events.analytics.{out.camera_id}",
        out.model_dump_json().encode(),
        msg_id=msg_id or str(out.id),
    )


def stored(factory_db: sessionmaker[Session]) -> list[Violation]:
    with factory_db() as session:
        return list(session.scalars(select(Violation).order_by(Violation.occurred_at, Violation.track_id)))


async def test_a_stop_line_crossed_on_red_is_a_violation_and_on_amber_or_green_is_not(
    bus: tuple[Bus, str],
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, factory_db = own_db
    place = world(factory_db, settings)
    cam, line = place.camera, place.stop_line
    crossings = [
        event(cam, line, "line_crossing", at(-5), [vehicle(1, [10, 200, 90, 260])]),  # no state yet: unknown
        event(cam, line, "line_crossing", at(10), [vehicle(2, [10, 200, 90, 260])]),  # green
        event(cam, line, "line_crossing", at(31), [vehicle(3, [10, 200, 90, 260])]),  # amber
        event(cam, line, "line_crossing", at(32.9), [vehicle(4, [10, 200, 90, 260])]),  # amber still
        event(  # red: a car and a lorry cross together; a pedestrian is no vehicle
            cam,
            line,
            "line_crossing",
            at(35),
            [
                vehicle(5, [100, 180, 220, 270], colour="red"),
                vehicle(6, [300, 150, 480, 300], cls="truck"),
                vehicle(7, [500, 200, 520, 260], cls="person"),
            ],
            {"direction": "left_to_right"},
        ),
        event(cam, line, "line_crossing", at(95), [vehicle(8, [10, 200, 90, 260])]),  # green again
    ]
    # Published last: once it is a violation, the consumer has been through everything before it.
    sentinel = event(
        cam, place.wrong_way, "wrong_way", at(120), [vehicle(9, [10, 10, 50, 50])], {"angle_deg": 170}
    )
    bus_, prefix = bus
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="safecity.traffic.violations.service")
    consumer = asyncio.create_task(
        flows.violations_from_bus(
            bus=bus_,
            session_factory=factory_db,
            stop=stop,
            max_signal_age_s=MAX_AGE,
            subject=f"{prefix}.events.analytics.>",
            durable=f"v{uuid.uuid4().hex[:8]}",
        )
    )
    try:
        for out in [*crossings, sentinel]:
            await publish(bus_, prefix, out)
        await wait_until_async(
            lambda: asyncio.to_thread(
                lambda: any(v.offence == Offence.WRONG_WAY for v in stored(factory_db))
            ),
            within=20,
        )
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)
    found = [v for v in stored(factory_db) if v.offence == Offence.RED_LIGHT]
    assert [(v.track_id, v.vehicle_class, v.colour) for v in found] == [
        (5, "car", "red"),
        (6, "large", "white"),
    ]
    car = found[0]
    assert car.status == ViolationStatus.COLLECTING
    assert car.source_key == f"event:{crossings[4].id}:5" and car.event_id == crossings[4].id
    assert car.occurred_at == at(35) and car.box == [100, 180, 220, 270]
    assert (
        car.rule_id == place.red_light.id and car.camera_id == cam.id and car.district_id == cam.district_id
    )
    assert car.measured["light"] == "red" and car.measured["source"] == "api"
    assert car.measured["red_since"] == at(33).isoformat() and car.measured["seconds_into_red"] == 2.0
    assert car.measured["direction"] == "left_to_right" and car.measured["detected_class"] == "car"
    why = [r.getMessage() for r in caplog.records if "no red-light violation" in r.getMessage()]
    assert sum("amber" in m for m in why) == 2 and sum("green" in m for m in why) == 2
    assert sum("unknown" in m for m in why) == 1


def test_wrong_way_and_no_parking_events_are_violations_with_what_was_measured(
    factory: Factory, session: Session
) -> None:
    place = junction(session, factory.district().id)
    wrong = event(
        place.camera,
        place.wrong_way,
        "wrong_way",
        at(0),
        [vehicle(11, [5, 5, 60, 40], cls="motorcycle")],
        {"angle_deg": 172},
    )
    parked = event(
        place.camera,
        place.no_parking,
        "stopped_vehicle",
        at(10),
        [vehicle(12, [5, 300, 90, 350])],
        {"stopped_s": 94.5},
    )
    (w,) = violations.from_event(session=session, event=wrong, max_signal_age_s=MAX_AGE)
    (p,) = violations.from_event(session=session, event=parked, max_signal_age_s=MAX_AGE)
    assert (
        w.offence == Offence.WRONG_WAY and w.vehicle_class == "motorcycle" and w.measured["angle_deg"] == 172
    )
    assert w.measured["direction"] == [[0.5, 0.4], [0.5, 0.1]]
    assert p.offence == Offence.NO_PARKING and p.measured["grace_s"] == 90 and p.measured["stopped_s"] == 94.5
    # A rule switched off makes no more violations; an event of a rule nobody enforces makes none.
    violations.update_rule(
        session=session,
        principal=OFFICER,
        rule_id=place.no_parking_rule.id,
        data=EnforcementRuleUpdate(enabled=False),
    )
    again = event(place.camera, place.no_parking, "stopped_vehicle", at(20), [vehicle(13, [5, 300, 90, 350])])
    assert violations.from_event(session=session, event=again, max_signal_age_s=MAX_AGE) == []
    loiter = event(place.camera, uuid.uuid4(), "loitering", at(30), [vehicle(14, [5, 300, 90, 350])])
    assert violations.from_event(session=session, event=loiter, max_signal_age_s=MAX_AGE) == []


def test_a_stale_red_and_the_first_moments_of_red_give_no_violation(
    factory: Factory, session: Session
) -> None:
    place = junction(session, factory.district().id)
    violations.record_state(
        session=session, signal_id=place.signal_id, light=SignalLight.RED, at=at(0), source="api"
    )
    rule = session.get_one(EnforcementRule, place.red_light.id)
    violations.update_rule(
        session=session,
        principal=OFFICER,
        rule_id=rule.id,
        data=EnforcementRuleUpdate(params={"min_red_s": 1.0}),
    )

    def crossing(seconds: float, track: int) -> list[Violation]:
        out = event(
            place.camera, place.stop_line, "line_crossing", at(seconds), [vehicle(track, [1, 1, 50, 50])]
        )
        return violations.from_event(session=session, event=out, max_signal_age_s=MAX_AGE)

    assert crossing(0.5, 1) == []  # within the red margin
    assert len(crossing(1.5, 2)) == 1
    assert crossing(MAX_AGE + 10, 3) == []  # "red" for longer than any signal's cycle: a dead controller


def test_a_burst_is_checked_together_as_each_event_would_be_alone(factory: Factory, session: Session) -> None:
    place = junction(session, factory.district().id)
    for light, seconds in (("green", 0), ("amber", 30), ("red", 33), ("green", 90)):
        violations.record_state(
            session=session, signal_id=place.signal_id, light=SignalLight(light), at=at(seconds), source="api"
        )

    def crossing(seconds: float, track: int) -> EventOut:
        return event(
            place.camera, place.stop_line, "line_crossing", at(seconds), [vehicle(track, [1, 1, 50, 50])]
        )

    red = crossing(35, 1)
    burst = [
        crossing(12, 2),
        crossing(31, 3),
        *[red] * 100,
        crossing(40, 4),
        crossing(50, 5),
        crossing(95, 6),
    ]
    nested = session.begin_nested()  # each alone first, then undone
    alone = [v for e in burst for v in violations.from_event(session=session, event=e, max_signal_age_s=10)]
    one_by_one = sorted((v.track_id, v.measured["seconds_into_red"]) for v in alone)
    nested.rollback()
    made = violations.from_events(session=session, events=burst, max_signal_age_s=10)
    # Green at 12 s (a light older than the 10 s read back for the burst, asked of the database), amber at
    # 31 s, red for 17 s at 50 s (over the 10 s allowed: stale), green at 95 s: none. The event delivered
    # a hundred times in the burst: one violation.
    assert (
        sorted((v.track_id, v.measured["seconds_into_red"]) for v in made)
        == one_by_one
        == [(1, 2.0), (4, 7.0)]
    )
    assert {v.measured["red_since"] for v in made} == {at(33).isoformat()}
    assert violations.from_events(session=session, events=burst, max_signal_age_s=10) == []  # replayed
    assert session.scalar(select(func.count()).select_from(Violation)) == 2


async def test_one_event_delivered_a_hundred_times_is_one_violation(
    bus: tuple[Bus, str], own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    place = world(factory_db, settings)
    crossing = event(
        place.camera,
        place.stop_line,
        "line_crossing",
        at(40),
        [vehicle(21, [1, 1, 50, 50]), vehicle(22, [60, 1, 120, 50])],
    )
    bus_, prefix = bus
    stop = asyncio.Event()
    consumer = asyncio.create_task(
        flows.violations_from_bus(
            bus=bus_,
            session_factory=factory_db,
            stop=stop,
            max_signal_age_s=MAX_AGE,
            subject=f"{prefix}.events.analytics.>",
            durable=f"v{uuid.uuid4().hex[:8]}",
        )
    )
    try:
        # A publisher retrying with new message ids: the bus cannot suppress these duplicates.
        for i in range(100):
            await publish(bus_, prefix, crossing, msg_id=f"{crossing.id}-{i}")
        sentinel = event(place.camera, place.wrong_way, "wrong_way", at(120), [vehicle(9, [10, 10, 50, 50])])
        await publish(bus_, prefix, sentinel)
        await wait_until_async(
            lambda: asyncio.to_thread(
                lambda: any(v.offence == Offence.WRONG_WAY for v in stored(factory_db))
            ),
            within=60,
        )
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)
    red = [v for v in stored(factory_db) if v.offence == Offence.RED_LIGHT]
    assert sorted(v.track_id for v in red) == [21, 22]

    # And deliveries racing each other in different processes' transactions: still one per vehicle.
    racing = event(place.camera, place.stop_line, "line_crossing", at(50), [vehicle(31, [1, 1, 50, 50])])
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            with transaction(factory_db) as session:
                violations.from_event(session=session, event=racing, max_signal_age_s=MAX_AGE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with factory_db() as session:
        count = session.scalar(select(func.count()).select_from(Violation).where(Violation.track_id == 31))
    assert count == 1


async def test_the_runtime_turns_an_event_into_a_queued_violation(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    """As the worker runs it: the consumer makes the violation, the evidence loop queues it (long past its
    recording's bound, with no recording: incomplete, for the reviewer to refuse).
    """
    _, factory_db = own_db
    place = world(factory_db, settings)
    bus = MemoryBus()
    await bus.start()
    runtime = flows.ViolationsRuntime(settings, factory_db, bus)
    await runtime.start()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.challans.evidence_wait_s + 60)
    crossing = event(place.camera, place.wrong_way, "wrong_way", long_ago, [vehicle(41, [1, 1, 50, 50])])
    try:
        await bus.publish(
            f"events.analytics.{place.camera.id}",
            crossing.model_dump_json().encode(),
            msg_id=str(crossing.id),
        )

        def queued() -> bool:
            return any(v.status == ViolationStatus.PENDING for v in stored(factory_db))

        await wait_until_async(lambda: asyncio.to_thread(queued), within=20)
    finally:
        await runtime.stop()
        await bus.close()
    (row,) = stored(factory_db)
    assert row.evidence["complete"] is False and "clip" in row.evidence["missing"] and row.evidence_sha256
