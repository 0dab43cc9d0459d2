"""Road segments: congestion levels from flow and speed, and the alerts of a jam and of a stopped lane, raised
once when they begin; the segments API.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_speeds import SYSTEM, camera_with_lines

from conftest import Factory
from safecity.analytics import service as analytics
from safecity.analytics.counting import CountKey, bucket_start
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core.bus import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.events.alerts.models import Alert
from safecity.traffic import flows
from safecity.traffic import service as traffic
from safecity.traffic.models import Segment
from safecity.traffic.schemas import CalibrationIn, Level, SegmentIn
from safecity.traffic.speeds import SpeedKey, SpeedSum

READER = Principal(None, "reader", frozenset({"traffic.read"}), None, via="system")


@pytest.mark.parametrize(
    ("flow", "ratio", "level"),
    [
        (300, None, Level.FREE),  # v/c 0.17, no speed measured
        (1300, None, Level.MODERATE),  # v/c 0.72
        (1700, None, Level.HEAVY),  # v/c 0.94: near capacity
        (0, None, Level.FREE),  # flow alone never says jam
        (300, 0.9, Level.FREE),
        (300, 0.6, Level.MODERATE),
        (300, 0.4, Level.HEAVY),
        (300, 0.2, Level.JAM),
        (1700, 0.9, Level.HEAVY),  # the worse of the two
        (1300, 0.25, Level.JAM),
    ],
)
def test_congestion_level_is_the_worse_of_flow_over_capacity_and_speed_over_free_flow(
    flow: float, ratio: float | None, level: Level
) -> None:
    assert (
        traffic.congestion_level(flow_vph=flow, capacity_vph=1800, speed_ratio=ratio, jam_ratio=0.3) == level
    )


def traffic_history(
    session: Session,
    camera_id: uuid.UUID,
    a: uuid.UUID,
    b: uuid.UUID,
    calibration: uuid.UUID,
    now: dt.datetime,
) -> None:
    """An hour of two lanes at 2 vehicles a minute at 50 km/h; then, for the last 5 minutes, lane A crawls
    (1 a minute at 10 km/h) and lane B carries nothing.
    """
    end = bucket_start(now, 1)
    counts: Counter[CountKey] = Counter()
    speeds: dict[SpeedKey, SpeedSum] = {}
    for i in range(1, 66):
        minute = end - dt.timedelta(minutes=i)
        recent = i <= 5
        counts[CountKey(camera_id, a, 1, minute, "left_to_right", "car")] = 1 if recent else 2
        if not recent:
            counts[CountKey(camera_id, b, 1, minute, "left_to_right", "car")] = 2
        measured = SpeedSum()
        for _ in range(1 if recent else 2):
            measured.add(10.0 if recent else 50.0)
        speeds[SpeedKey(calibration, camera_id, 1, minute, "car")] = measured
    analytics.add_counts(session=session, rows=counts)
    traffic.add_speeds(session=session, rows=speeds)


def a_segment(session: Session, district_id: uuid.UUID) -> tuple[Segment, uuid.UUID, uuid.UUID, uuid.UUID]:
    camera, a, b = camera_with_lines(session, district_id)
    calibration = traffic.calibrate(
        session=session,
        principal=SYSTEM,
        camera_id=camera.id,
        data=CalibrationIn(line_a_id=a, line_b_id=b, distance_m=20),
    )
    out = traffic.create_segment(
        session=session,
        principal=SYSTEM,
        data=SegmentIn(
            name=f"University Road {uuid.uuid4().hex[:4]}",
            camera_id=camera.id,
            line_ids=[a, b],
            path=[(34.0, 71.50), (34.001, 71.51)],
            free_flow_kmh=50,
            capacity_vph=900,
            lanes=2,
            jam_ratio=0.3,
            jam_minutes=3,
            stopped_minutes=5,
        ),
    )
    segment = session.get(Segment, out.id)
    assert segment is not None
    return segment, a, b, calibration.id


@pytest.mark.anyio
async def test_a_jam_and_a_stopped_lane_each_raise_one_alert_when_they_begin(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    now = utcnow()
    with factory_db() as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        segment, a, b, calibration = a_segment(session, district.id)
        traffic_history(session, segment.camera_id, a, b, calibration, now)
        session.commit()
        segment_id = segment.id
    bus = MemoryBus()
    await bus.start()
    published = await bus.subscribe("alerts.>", durable="test")
    try:
        wanted = await flows.evaluate_congestion(session_factory=factory_db, bus=bus, now=now)
        assert sorted(w.kind for w in wanted) == ["traffic.jam", "traffic.stopped_lane"]
        kinds = []
        while (message := await published.next(timeout=1)) is not None:
            kinds.append(json.loads(message.data)["kind"])
            await message.ack()
        assert sorted(kinds) == ["traffic.jam", "traffic.stopped_lane"]
        # Evaluated again while it lasts: no new alert.
        assert await flows.evaluate_congestion(session_factory=factory_db, bus=bus, now=now) == []
    finally:
        await bus.close()
    with factory_db() as session:
        alerts = {a.kind: a for a in session.scalars(select(Alert))}
        assert set(alerts) == {"traffic.jam", "traffic.stopped_lane"}
        assert alerts["traffic.stopped_lane"].detail["rule_id"] == str(b)
        assert "Exit" in alerts["traffic.stopped_lane"].title
        assert (
            alerts["traffic.jam"].camera_id == segment.camera_id and alerts["traffic.jam"].repeat_count == 1
        )
        [out] = [s for s in traffic.list_segments(session=session, principal=READER) if s.id == segment_id]
        assert out.state is not None
        # Last 5 minutes: 5 vehicles (lane A) = 60 veh/h; 10 km/h over 50 free-flow = 0.2: a jam.
        assert (out.state.level, out.state.flow_vph, out.state.speed_kmh) == (Level.JAM, 60.0, 10.0)
        assert out.state.jammed and out.state.stopped_lanes == [b]


def test_a_flowing_road_is_free_and_raises_nothing(factory: Factory, session: Session) -> None:
    segment, a, b, calibration = a_segment(session, factory.district().id)
    now = utcnow()
    end = bucket_start(now, 1)
    counts: Counter[CountKey] = Counter()
    speeds: dict[SpeedKey, SpeedSum] = {}
    for i in range(1, 66):
        minute = end - dt.timedelta(minutes=i)
        for lane in (a, b):
            counts[CountKey(segment.camera_id, lane, 1, minute, "right_to_left", "car")] = 3
        speeds[SpeedKey(calibration, segment.camera_id, 1, minute, "car")] = SpeedSum(
            3, 135.0, 47.0, Counter({22: 3})
        )
    analytics.add_counts(session=session, rows=counts)
    traffic.add_speeds(session=session, rows=speeds)
    state, alerts = traffic.evaluate_segment(session=session, segment=segment, now=now)
    assert alerts == []
    # 6 vehicles a minute = 360 veh/h over 1800 = 0.2; 45 km/h over 50 = 0.9.
    assert (state.level, state.flow_vph, state.speed_kmh, state.jammed) == ("free", 360.0, 45.0, False)


def test_segments_api_validates_lanes_and_is_scoped(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera, a, b = camera_with_lines(session, district.id)
    _, foreign, _ = camera_with_lines(session, district.id)
    session.commit()
    body = {
        "name": "Saddar Road",
        "camera_id": str(camera.id),
        "line_ids": [str(a), str(b)],
        "path": [[34.0, 71.5], [34.002, 71.503]],
        "free_flow_kmh": 40,
        "lanes": 2,
    }
    officer = login_as(factory.user("traffic_officer", districts=[district]))
    created = officer.post("/api/v1/traffic/segments", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] is None and created.json()["capacity_vph"] == 1800
    bad = officer.post("/api/v1/traffic/segments", json={**body, "name": "X", "line_ids": [str(foreign)]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "not_a_counting_line"
    off_earth = officer.post(
        "/api/v1/traffic/segments", json={**body, "name": "Y", "path": [[95, 71], [34, 71]]}
    )
    assert off_earth.status_code == 422
    operator = login_as(factory.user("operator", districts=[district]))
    assert [s["name"] for s in operator.get("/api/v1/traffic/segments").json()] == ["Saddar Road"]
    assert operator.post("/api/v1/traffic/segments", json={**body, "name": "Z"}).status_code == 403
    outsider = login_as(factory.user("operator", districts=[factory.district()]))
    assert outsider.get("/api/v1/traffic/segments").json() == []
    assert outsider.delete(f"/api/v1/traffic/segments/{created.json()['id']}").status_code == 403
    assert officer.delete(f"/api/v1/traffic/segments/{created.json()['id']}").status_code == 204
