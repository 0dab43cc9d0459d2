"""Units over MQTT against the real Mosquitto: positions, a malformed message, dispatch, ack and arrival."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from dispatch_world import CANTONMENT, HAYATABAD, SADDAR, dispatcher, incident, unit
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from conftest import (
    MQTT_HOST,
    MQTT_PORT,
    START,
    TEST_SECRET_KEY,
    answers,
    audit_info,
    missing_part,
    new_database,
    wait_until_async,
)
from safecity.config import Settings
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.dispatch import positions
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Assignment, Unit, UnitStatus
from safecity.dispatch.notifiers import MqttNotifierConfig, NotifyError, build_notifier
from safecity.incidents.models import Incident, Status
from safecity.org.models import District, Province

HOST, PORT = MQTT_HOST, MQTT_PORT
MARKER = "PAYLOAD-CONTENTS-7f3a"  # must never reach the logs


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database of each kind that the consumer's threads share (commits are real)."""
    if not answers(HOST, PORT):
        missing_part(f"Mosquitto at {HOST}:{PORT}", f"start it (as root: {START['mosquitto']})")
    directory = tmp_path_factory.mktemp("mqtt")
    with new_database(request.param, directory) as url:
        engine = create_db_engine(url)
        settings = Settings(data_dir=directory, secret_key=SecretStr(TEST_SECRET_KEY))
        session_factory = create_session_factory(engine, info=audit_info(settings))
        with transaction(session_factory) as session:
            province = Province(code="KP", name="Khyber Pakhtunkhwa")
            session.add(province)
            session.flush()
            session.add(
                District(province_id=province.id, code="PSW", name="Peshawar", latitude=34.0, longitude=71.5)
            )
        yield session_factory
        engine.dispose()


def _district_id(session: Session) -> uuid.UUID:
    return session.query(District).one().id


async def _until(check: Callable[[], bool]) -> None:
    """Wait until the consumer has applied a message (`check` reads the database, off the loop)."""
    await wait_until_async(lambda: asyncio.to_thread(check), message="the consumer did not apply the message")


async def _publish(topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(HOST, PORT) as client:
        await client.publish(topic, payload, qos=1)


async def _with_consumer(factory: sessionmaker[Session], prefix: str, body: Any, **kwargs: Any) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    consumer = asyncio.create_task(
        positions.consume_positions(
            session_factory=factory, stop=stop, host=HOST, port=PORT, prefix=prefix, ready=ready, **kwargs
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)


def test_a_position_moves_the_unit_and_a_malformed_message_is_skipped(
    factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"test/{uuid.uuid4().hex[:8]}/units"
    with transaction(factory) as session:
        mobile = unit(session, dispatcher(), _district_id(session), at=HAYATABAD)
        unit_id, call_sign = mobile.id, mobile.call_sign
    topic = f"{prefix}/{call_sign}/position"

    def where() -> tuple[float | None, float | None]:
        with factory() as session:
            found = session.get_one(Unit, unit_id)
            return found.latitude, found.longitude

    async def body() -> None:
        for bad in (
            b"not json " + MARKER.encode(),
            json.dumps({"lat": 123, "lon": 71.5, "at": "2026-11-22T10:00:00Z", "x": MARKER}).encode(),
            json.dumps({"lat": 34.0, "lon": 71.5, "at": "2026-11-22T10:00:00"}).encode(),  # no zone
            b"\xff\xfe",
        ):
            await _publish(topic, bad)
        await _publish(
            f"{prefix}/NOBODY/position",
            json.dumps({"lat": 34, "lon": 71, "at": "2026-11-22T10:00:00Z"}).encode(),
        )
        good = {"lat": SADDAR[0], "lon": SADDAR[1], "at": "2026-11-22T10:00:00Z"}
        await _publish(topic, json.dumps(good).encode())
        await _until(lambda: where() == SADDAR)
        # An older report arriving late changes nothing.
        await _publish(
            topic, json.dumps({**good, "lat": CANTONMENT[0], "at": "2026-11-22T09:59:00Z"}).encode()
        )
        newer = {"lat": CANTONMENT[0], "lon": CANTONMENT[1], "at": "2026-11-22T10:01:00Z"}
        await _publish(topic, json.dumps(newer).encode())
        await _until(lambda: where() == CANTONMENT)

    with caplog.at_level(logging.INFO, logger="safecity.dispatch"):
        asyncio.run(_with_consumer(factory, prefix, body))
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 5
    assert MARKER not in caplog.text


def test_a_dispatch_reaches_the_unit_and_its_ack_and_arrival_are_recorded(
    factory: sessionmaker[Session],
) -> None:
    prefix = f"test/{uuid.uuid4().hex[:8]}/units"
    with transaction(factory) as session:
        district_id = _district_id(session)
        mobile = unit(session, dispatcher(), district_id, at=CANTONMENT)
        crime = incident(session, dispatcher(), district_id, SADDAR)
        assignment = dispatch.assign(
            session=session, principal=dispatcher(), incident_id=crime.id, unit_id=mobile.id
        )
        call_sign, message = dispatch.dispatch_message(session=session, assignment=assignment)
        assignment_id, incident_id = assignment.id, crime.id
    notifier = build_notifier({"type": "mqtt", "host": HOST, "port": PORT, "prefix": prefix})

    def read() -> tuple[Assignment, Incident, Unit]:
        with factory() as session:
            found = session.get_one(Assignment, assignment_id)
            return found, session.get_one(Incident, incident_id), session.get_one(Unit, found.unit_id)

    async def body() -> None:
        async with aiomqtt.Client(HOST, PORT) as device:
            await device.subscribe(f"{prefix}/{call_sign}/dispatch", qos=1)
            await notifier.send(call_sign=call_sign, message=message)
            received = await asyncio.wait_for(anext(aiter(device.messages)), 5)
            assert isinstance(received.payload, bytes)
            got = json.loads(received.payload)
            assert (got["assignment_id"], got["lat"], got["lon"]) == (str(assignment_id), *SADDAR)
            await device.publish(
                f"{prefix}/{call_sign}/ack", json.dumps({"assignment_id": got["assignment_id"]})
            )
            await _until(lambda: read()[0].acknowledged_at is not None)
            assert read()[2].status == UnitStatus.EN_ROUTE
            await device.publish(f"{prefix}/{call_sign}/status", json.dumps({"status": "on_scene"}))
            await _until(lambda: read()[0].arrived_at is not None)
            assert read()[1].status == Status.ON_SCENE

    asyncio.run(_with_consumer(factory, prefix, body))


def test_the_consumer_keeps_trying_until_the_broker_answers(factory: sessionmaker[Session]) -> None:
    prefix = f"test/{uuid.uuid4().hex[:8]}/units"
    with transaction(factory) as session:
        mobile = unit(session, dispatcher(), _district_id(session))
        unit_id, call_sign = mobile.id, mobile.call_sign
    with socket.socket() as s:  # a port nobody listens on: the first connection fails
        s.bind((HOST, 0))
        dead_port = s.getsockname()[1]
    ports = iter([dead_port, dead_port])

    def client() -> aiomqtt.Client:
        return aiomqtt.Client(HOST, next(ports, PORT))

    def moved() -> bool:
        with factory() as session:
            return session.get_one(Unit, unit_id).position_at is not None

    async def body() -> None:
        payload = {"lat": SADDAR[0], "lon": SADDAR[1], "at": "2026-11-22T10:00:00Z"}
        await _publish(f"{prefix}/{call_sign}/position", json.dumps(payload).encode())
        await _until(moved)

    asyncio.run(_with_consumer(factory, prefix, body, client_factory=client, reconnect_s=0.1))


def test_a_broker_that_cannot_be_reached_is_a_notify_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        dead_port = s.getsockname()[1]
    notifier = build_notifier(MqttNotifierConfig(port=dead_port).model_dump())
    with pytest.raises(NotifyError):
        asyncio.run(notifier.send(call_sign="PSW-1", message={"assignment_id": "x"}))
