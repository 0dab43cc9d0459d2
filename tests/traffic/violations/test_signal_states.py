"""Traffic signals' states: reported by a controller through the API and over MQTT (a real Mosquitto), and
read from the lamps in a camera's picture; stored only when the light changes; `state_at` answers for any
moment with where the state came from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable

import aiomqtt
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from violation_world import LAMP_REGION, OFFICER, T0, camera, event, junction, vehicle, with_signal

from conftest import MQTT_HOST, MQTT_PORT, START, Factory, answers, missing_part, wait_until_async
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.traffic.violations import flows
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import SignalLight, SignalSource, SignalState
from safecity.traffic.violations.schemas import SignalIn
from safecity.traffic.violations.signals import LampTracker, read_lamp
from safecity.video.ingest import FrameSlot

MARKER = "PAYLOAD-7c1e"  # never in the logs


def test_a_signal_in_a_district_that_does_not_exist_is_not_found(
    login_as: Callable[..., TestClient], factory: Factory
) -> None:
    """Found by fuzzing: a province-wide officer naming an unknown district got a 500 (foreign key)."""
    admin = login_as(factory.user("admin"))
    body = {"name": "Nowhere junction", "source": "controller", "district_id": str(uuid.uuid4())}
    response = admin.post("/api/v1/traffic/signals", json=body)
    assert response.status_code == 404, response.text


def test_a_controller_reports_by_api_and_only_changes_are_stored(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    signal = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(name="Khyber Road north", source=SignalSource.CONTROLLER, district_id=a.id),
    )
    controller = login_as(factory.user("signal_controller", districts=[a]))
    url = f"/api/v1/traffic/signals/{signal.id}/state"
    sequence = [("green", 0), ("green", 20), ("amber", 30), ("red", 33), ("red", 40), ("green", 90)]
    changed = []
    for light, seconds in sequence:
        response = controller.post(
            url, json={"light": light, "at": (T0 + dt.timedelta(seconds=seconds)).isoformat()}
        )
        assert response.status_code == 200, response.text
        changed.append(response.json()["changed"])
    assert changed == [True, False, True, True, False, True]
    rows = session.scalars(
        select(SignalState).where(SignalState.signal_id == signal.id).order_by(SignalState.at)
    )
    assert [(r.light.value, r.source) for r in rows] == [
        ("green", "api"),
        ("amber", "api"),
        ("red", "api"),
        ("green", "api"),
    ]

    def at(seconds: float) -> tuple[SignalLight, str | None, dt.datetime | None]:
        return violations.state_at(
            session=session, signal_id=signal.id, at=T0 + dt.timedelta(seconds=seconds)
        )

    assert at(-1) == (SignalLight.UNKNOWN, None, None)
    assert at(35) == (SignalLight.RED, "api", T0 + dt.timedelta(seconds=33))
    assert at(89.9)[0] == SignalLight.RED and at(90)[0] == SignalLight.GREEN
    # A report that arrives late, between two of the same light, does not move the red's start.
    late = controller.post(url, json={"light": "amber", "at": (T0 + dt.timedelta(seconds=31)).isoformat()})
    assert late.json()["changed"] is False
    assert at(35)[2] == T0 + dt.timedelta(seconds=33)

    future = controller.post(url, json={"light": "red", "at": "2099-01-01T00:00:00Z"})
    assert future.status_code == 422 and future.json()["error"]["code"] == "future_state"
    assert controller.post(url, json={"light": "purple"}).status_code == 422
    now = controller.post(url, json={"light": "off"})  # no time: when it is received
    assert now.status_code == 200 and now.json()["light"] == "off" and now.json()["source"] == "api"
    # Another district's controller does not reach this signal; a lamp-read signal takes no reports.
    other = login_as(factory.user("signal_controller", districts=[b]))
    assert other.post(url, json={"light": "red"}).status_code == 404
    cam = camera(session, a.id)
    lamp = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(name="Lamp read", source=SignalSource.LAMP, camera_id=cam.id, lamp_region=LAMP_REGION),
    )
    session.commit()
    refused = controller.post(f"/api/v1/traffic/signals/{lamp.id}/state", json={"light": "red"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "lamp_signal"
    # Readers see the current state and the history.
    officer = login_as(factory.user("traffic_officer", districts=[a]))
    listed = {s["name"]: s for s in officer.get("/api/v1/traffic/signals").json()}
    assert listed["Khyber Road north"]["state"]["light"] == "off"
    history = officer.get(
        f"/api/v1/traffic/signals/{signal.id}/states",
        params={"since": T0.isoformat(), "until": (T0 + dt.timedelta(minutes=5)).isoformat()},
    )
    assert [s["light"] for s in history.json()] == ["green", "amber", "red", "green"]


# --- MQTT -----------------------------------------------------------------------------------------------


@pytest.fixture
def mosquitto() -> None:
    if not answers(MQTT_HOST, MQTT_PORT):
        missing_part(f"Mosquitto at {MQTT_HOST}:{MQTT_PORT}", f"start it (as root: {START['mosquitto']})")


@pytest.mark.anyio
async def test_controllers_report_over_mqtt_and_bad_messages_are_skipped(
    mosquitto: None,
    own_db: tuple[str, sessionmaker[Session]],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, factory_db = own_db
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id)
        signal_id = place.signal_id
    prefix = f"test/{uuid.uuid4().hex[:8]}/signals"
    stop, ready = asyncio.Event(), asyncio.Event()
    consumer = asyncio.create_task(
        flows.consume_signals(
            session_factory=factory_db, stop=stop, host=MQTT_HOST, port=MQTT_PORT, prefix=prefix, ready=ready
        )
    )
    caplog.set_level(logging.WARNING, logger="safecity.traffic.violations.flows")
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
            for payload in (
                b"not json " + MARKER.encode(),
                json.dumps({"light": "blue", "note": MARKER}).encode(),
                json.dumps({"light": "red", "at": "2026-11-22T10:00:00"}).encode(),  # no zone
                b"\xff\xfe",
            ):
                await client.publish(f"{prefix}/{signal_id}", payload, qos=1)
            await client.publish(f"{prefix}/not-a-signal", b'{"light": "red"}', qos=1)
            await client.publish(f"{prefix}/{uuid.uuid4()}", b'{"light": "red"}', qos=1)  # no such signal
            for light, seconds in (("green", 0), ("green", 5), ("amber", 30), ("red", 33)):
                at = (T0 + dt.timedelta(seconds=seconds)).isoformat()
                await client.publish(
                    f"{prefix}/{signal_id}", json.dumps({"light": light, "at": at}).encode(), qos=1
                )

        def stored() -> list[tuple[str, str]]:
            with factory_db() as session:
                query = select(SignalState).where(SignalState.signal_id == signal_id).order_by(SignalState.at)
                return [(r.light.value, r.source) for r in session.scalars(query)]

        await wait_until_async(lambda: asyncio.to_thread(lambda: len(stored()) >= 3))
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)
    assert stored() == [("green", "mqtt"), ("amber", "mqtt"), ("red", "mqtt")]
    with factory_db() as session:
        assert violations.state_at(
            session=session, signal_id=signal_id, at=T0 + dt.timedelta(seconds=40)
        ) == (
            SignalLight.RED,
            "mqtt",
            T0 + dt.timedelta(seconds=33),
        )
    # The stop line crossed while the controller said red is a violation; while it said amber, none.
    with transaction(factory_db) as session:
        on_amber, on_red = (
            event(place.camera, place.stop_line, "line_crossing", at, [vehicle(track, [1, 1, 60, 40])])
            for track, at in ((1, T0 + dt.timedelta(seconds=31)), (2, T0 + dt.timedelta(seconds=40)))
        )
        assert violations.from_event(session=session, event=on_amber, max_signal_age_s=300) == []
        (made,) = violations.from_event(session=session, event=on_red, max_signal_age_s=300)
        assert made.measured["source"] == "mqtt" and made.measured["seconds_into_red"] == 7.0
    messages = [r.getMessage() for r in caplog.records]
    skipped = [m for m in messages if "skipped a message of signal controllers" in m]
    assert len(skipped) == 6, skipped
    assert not any(MARKER in r.getMessage() for r in caplog.records)


# --- lamps in the picture ------------------------------------------------------------------------------


@pytest.mark.parametrize("light", ["red", "amber", "green", "off"])
def test_the_lit_lamp_is_read_from_a_real_picture(empty_square: np.ndarray, light: str) -> None:
    picture = with_signal(empty_square, light)
    reading = read_lamp(picture, LAMP_REGION)
    assert reading.light == SignalLight(light), reading.shares


def test_a_region_without_the_signal_reads_off_not_red(empty_square: np.ndarray) -> None:
    """The square's pavement where no lamp is: nothing lit, so never red."""
    assert read_lamp(empty_square, [(0.1, 0.6), (0.3, 0.6), (0.3, 0.9), (0.1, 0.9)]).light == SignalLight.OFF


def test_the_tracker_never_makes_red_last_longer_than_it_was_seen() -> None:
    tracker = LampTracker(confirm=2)
    seen = [
        ("green", 0.0),
        ("green", 0.5),
        ("amber", 1.0),
        ("amber", 1.5),
        ("red", 4.0),  # first seen red
        ("red", 4.5),
        ("off", 5.0),  # a lorry hides the head for one reading: no change
        ("red", 5.5),
        ("red", 9.0),  # last seen red
        ("green", 9.5),
        ("green", 10.0),
    ]
    changes = [
        change
        for light, s in seen
        if (change := tracker.observe(SignalLight(light), T0 + dt.timedelta(seconds=s))) is not None
    ]
    assert [(light.value, round((at - T0).total_seconds(), 3)) for light, at in changes] == [
        ("green", 0.0),
        ("amber", 1.0),
        ("red", 4.0),  # the latest moment red can have begun
        ("green", 9.001),  # the earliest moment red can have ended
    ]


class _Slots:
    """Frame slots by camera, as the ingest supervisor hands them out."""

    def __init__(self, slots: dict[uuid.UUID, FrameSlot]) -> None:
        self._slots = slots

    def slot(self, camera_id: uuid.UUID) -> FrameSlot | None:
        return self._slots.get(camera_id)


def test_the_watcher_reads_the_lamps_from_the_newest_frames_and_stores_the_changes(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, empty_square: np.ndarray
) -> None:
    _, factory_db = own_db
    with transaction(factory_db) as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        place = junction(session, district.id, signal_source=SignalSource.LAMP, lamp_region=LAMP_REGION)
        signal_id, camera_id = place.signal_id, place.camera.id
    slot = FrameSlot()
    watcher = flows.LampWatcher(factory_db, _Slots({camera_id: slot}))
    watcher.refresh()
    pictures = {light: with_signal(empty_square, light) for light in ("red", "amber", "green")}
    stored: list[tuple[SignalLight, dt.datetime]] = []
    for light in ["green"] * 3 + ["amber"] * 3 + ["red"] * 4 + ["green"] * 2:
        frame = slot.publish(pictures[light])
        for _, seen, since in watcher.sample(now=frame.captured_at):
            stored.append((seen, since))
        assert watcher.sample(now=frame.captured_at) == []  # the same frame is not read twice
    assert [light for light, _ in stored] == [
        SignalLight.GREEN,
        SignalLight.AMBER,
        SignalLight.RED,
        SignalLight.GREEN,
    ]
    # The camera stops sending frames: its signal is unknown, not red for ever.
    later = stored[-1][1] + dt.timedelta(seconds=10)
    watcher.sample(now=later)
    assert watcher.sample(now=later + dt.timedelta(seconds=0.5))[0][1] == SignalLight.UNKNOWN
    with factory_db() as session:
        rows = list(
            session.scalars(
                select(SignalState).where(SignalState.signal_id == signal_id).order_by(SignalState.at)
            )
        )
        assert [(r.light.value, r.source) for r in rows] == [
            ("green", "lamp"),
            ("amber", "lamp"),
            ("red", "lamp"),
            ("green", "lamp"),
            ("unknown", "lamp"),
        ]
        amber, red, green = rows[1], rows[2], rows[3]
        light, source, since = violations.state_at(session=session, signal_id=signal_id, at=red.at)
        assert (light, source, since) == (SignalLight.RED, "lamp", red.at)
        # A crossing while the lamps showed amber is no violation; one while they showed red is.
        on_amber, on_red = (
            event(place.camera, place.stop_line, "line_crossing", moment, [vehicle(track, [1, 1, 60, 40])])
            for track, moment in (
                (1, amber.at + dt.timedelta(milliseconds=1)),
                (2, red.at + (green.at - red.at) / 2),
            )
        )
        assert violations.from_event(session=session, event=on_amber, max_signal_age_s=300) == []
        (made,) = violations.from_event(session=session, event=on_red, max_signal_age_s=300)
        assert made.measured["source"] == "lamp" and made.measured["light"] == "red"
        assert made.measured["red_since"] == red.at.isoformat()
