"""Analytics end to end, as a deployment runs them: a real RTSP camera of pedestrians, rules stored in a
real database, ingest, the detector, and each firing stored as an event with its snapshot, published on
the bus, and raised as an alert when severe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import RtspCamera
from safecity import seed
from safecity.analytics import service as analytics
from safecity.analytics.flows import AnalyticsRuntime, subject
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import AnalyticsSettings, Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.events.alerts.models import Alert
from safecity.events.models import Event
from safecity.org import service as org
from safecity.video.flows import VideoRuntime

pytestmark = pytest.mark.anyio

SUPERVISOR = Principal(
    user_id=None,
    username="test",
    permissions=frozenset({"cameras.read", "analytics.manage"}),
    district_ids=None,
    via="system",
)
# The square's people cross the middle within seconds; nobody walks into the top-left corner.
CROSSING = {"kind": "line_crossing", "name": "Crossing", "line": [[0.5, 0.3], [0.5, 0.98]], "severity": 3}
CORNER = {
    "kind": "zone_intrusion",
    "name": "Corner",
    "zone": [[0.0, 0.0], [0.08, 0.0], [0.08, 0.08], [0.0, 0.08]],
}
EVERYWHERE = {
    "kind": "zone_intrusion",
    "name": "Anywhere",
    "zone": [[0, 0], [1, 0], [1, 1], [0, 1]],
    "severity": 1,
}


async def _until(what: Callable[[], object], within: float, step: float = 0.2) -> None:
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(step)


async def test_people_crossing_a_drawn_line_become_events_with_snapshots_and_an_alert(
    rtsp_camera: Callable[..., RtspCamera], own_db: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    server = rtsp_camera(width=768, height=576, fps=10, seconds=40)
    url, factory_db = own_db
    settings = Settings(
        data_dir=tmp_path,
        database_url=SecretStr(url),
        video=VideoSettings(analytics_fps=5),
        analytics=AnalyticsSettings(alert_severity=3),
    )
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = Camera(
            name="Square", district_id=district.id, latitude=34.0, longitude=71.5, stream_url=server.url
        )
        session.add(camera)
        session.flush()
        for rule in (CROSSING, CORNER):
            analytics.create_rule(
                session=session,
                principal=SUPERVISOR,
                camera_id=camera.id,
                config=rule_adapter.validate_python(rule),
            )
        session.commit()
        camera_id = camera.id

    bus = MemoryBus()
    await bus.start()
    published = await bus.subscribe("events.analytics.>", durable="test")
    video = VideoRuntime(settings, factory_db, bus)
    runtime = AnalyticsRuntime(settings, factory_db, bus, video.supervisor)
    await video.start()
    await runtime.start()

    def events(kind: str | None = None) -> list[Event]:
        with factory_db() as session:
            query = select(Event).where(Event.camera_id == camera_id)
            if kind is not None:
                query = query.where(Event.kind == kind)
            return list(session.scalars(query))

    try:
        await _until(lambda: events("analytics.line_crossing"), 30)
        message = await published.next(timeout=5)
        assert message is not None
        assert message.subject == subject(camera_id)
        body = json.loads(message.data)
        await message.ack()

        # A rule drawn while the camera runs applies within seconds, without a restart.
        with factory_db() as session:
            analytics.create_rule(
                session=session,
                principal=SUPERVISOR,
                camera_id=camera_id,
                config=rule_adapter.validate_python(EVERYWHERE),
            )
            session.commit()
        await _until(lambda: events("analytics.zone_intrusion"), 20)
        stats = runtime.stats()
    finally:
        await runtime.stop()
        await video.stop()
        await bus.close()

    crossing = events("analytics.line_crossing")[0]
    # What was published is what was stored (the first event of the camera, whichever rule fired it).
    assert body["id"] in {str(e.id) for e in events()}
    assert body["camera_id"] == str(camera_id)
    assert crossing.district_id == district.id
    assert crossing.source == "analytics"
    assert crossing.severity == 3
    payload = crossing.payload
    assert payload["rule_name"] == "Crossing"
    assert payload["detail"]["direction"] in {"left_to_right", "right_to_left"}
    assert payload["objects"] and all(o["class"] == "person" for o in payload["objects"])
    # Each object says since when it was followed: before the moment it crossed.
    assert all(dt.datetime.fromisoformat(o["first_seen"]) <= crossing.occurred_at for o in payload["objects"])
    assert payload["frame_size"] == [768, 576]
    assert payload["recording"]["camera_id"] == str(camera_id)
    # The snapshot is a real JPEG of the frame, with the firing person boxed in red.
    picture = cv2.imread(str(settings.snapshots_dir / payload["snapshot"]))
    assert picture is not None and picture.shape == (576, 768, 3)
    x1, y1, x2, _ = payload["objects"][0]["box"]
    edge = picture[y1, max(0, x1) : x2].astype(int)
    assert ((edge[:, 2] > 150) & (edge[:, 1] < 100) & (edge[:, 0] < 100)).mean() > 0.5

    assert not [e for e in events() if e.payload["rule_name"] == "Corner"]  # nobody went there
    # High enough to alert the operators; the low-severity zone events did not.
    with factory_db() as session:
        raised = list(session.scalars(select(Alert).where(Alert.camera_id == camera_id)))
    assert [a.kind for a in raised if a.source == "analytics"] == ["analytics.line_crossing"]
    assert raised[0].detail["event_id"] in {str(e.id) for e in events("analytics.line_crossing")}

    # Frames flowed and were counted; how many per second depends on the machine, so no rate is asserted.
    (figures,) = stats.cameras
    assert figures.camera_id == camera_id and figures.fps > 0 and figures.events >= 2
    assert stats.detector == "ssd_mobilenet_v2" and stats.detector_ms_p50 is not None
    assert np.isfinite(stats.total_fps)
    assert len(runtime.event_latencies) >= 2
