"""Speeds between two counting lines a measured distance apart: paired from counting-line firings, summed per
bucket with the 85th percentile, and measured end to end by the live analytics on a clip of a real truck.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.footage import moving, through_h264
from conftest import Factory, wait_until_async
from safecity.analytics import service as analytics
from safecity.analytics.detectors import Detector, build_detector
from safecity.analytics.flows import AnalyticsRuntime
from safecity.analytics.models import LineCount
from safecity.analytics.pipeline import CameraAnalytics, CameraInfo, InferenceQueue, InferenceWorker
from safecity.analytics.rules import Firing
from safecity.analytics.schemas import RuleConfig, rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.bus import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.events.alerts.models import Alert
from safecity.traffic import service as traffic
from safecity.traffic.flows import flush_speeds
from safecity.traffic.models import SpeedBucket
from safecity.traffic.schemas import CalibrationIn
from safecity.traffic.speeds import Calibration, SpeedBook, SpeedSum, buckets, percentile
from safecity.video.ingest import Frame, FrameSlot, IngestSupervisor

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
FPS = 5
SYSTEM = Principal(
    None, "test", frozenset({"cameras.read", "analytics.manage", "traffic.manage"}), None, via="system"
)
LINE_A = {"kind": "counting_line", "name": "Entry", "line": [[0.35, 0.3], [0.35, 0.98]]}
LINE_B = {"kind": "counting_line", "name": "Exit", "line": [[0.65, 0.3], [0.65, 0.98]]}


def firing(rule_id: uuid.UUID, *crossings: tuple[int, str]) -> Firing:
    """A counting line's firing, as the rule engine reports it."""
    config = rule_adapter.validate_python({**LINE_A, "name": str(rule_id)})
    detail = {"crossings": [{"track_id": t, "class": c, "direction": "right_to_left"} for t, c in crossings]}
    return Firing(rule_id, config, tuple(t for t, _ in crossings), detail)


def test_a_track_crossing_both_lines_gets_distance_over_time_in_either_order() -> None:
    camera, a, b, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    calibration = Calibration(uuid.uuid4(), camera, a, b, distance_m=25.0, speed_limit_kmh=50)
    book = SpeedBook()
    book.set_calibrations([calibration])
    book.add(camera, firing(a, (1, "car"), (2, "bus")), T0)
    book.add(camera, firing(other, (3, "car")), T0)  # a line in no calibration: ignored
    book.add(camera, firing(b, (4, "motorcycle")), T0 + dt.timedelta(seconds=1))  # seen at B first …
    assert book.measure() == []  # nothing paired yet: the tracks wait for their second line
    book.add(camera, firing(b, (1, "car")), T0 + dt.timedelta(seconds=1.5))  # 25 m in 1.5 s = 60 km/h
    book.add(camera, firing(b, (2, "bus")), T0 + dt.timedelta(seconds=3))  # 30 km/h
    book.add(camera, firing(a, (4, "motorcycle")), T0 + dt.timedelta(seconds=2))  # … then A: 90 km/h
    book.add(uuid.uuid4(), firing(b, (3, "car")), T0 + dt.timedelta(seconds=2))  # another camera's track 3
    speeds = {(s.track_id, s.class_name, s.direction): round(s.kmh, 3) for s in book.measure()}
    assert speeds == {
        (1, "car", "a_to_b"): 60.0,
        (2, "bus", "a_to_b"): 30.0,
        (4, "motorcycle", "b_to_a"): 90.0,
    }
    # A track seen at A and again at B long after (a reused id) is not a speed; a pair is measured once.
    book.add(camera, firing(a, (5, "car")), T0 + dt.timedelta(seconds=10))
    book.add(camera, firing(b, (5, "car")), T0 + dt.timedelta(seconds=200))
    book.add(camera, firing(b, (1, "car")), T0 + dt.timedelta(seconds=201))
    assert book.measure() == []


def test_speeds_are_summed_per_bucket_with_mean_max_and_85th_percentile() -> None:
    calibration = Calibration(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 20.0)
    book = SpeedBook()
    book.set_calibrations([calibration])
    # 20 cars at 40..78 km/h through the lines within one minute.
    for i in range(20):
        kmh = 40 + 2 * i
        start = T0 + dt.timedelta(seconds=i)
        book.add(calibration.camera_id, firing(calibration.line_a, (i, "car")), start)
        book.add(
            calibration.camera_id,
            firing(calibration.line_b, (i, "car")),
            start + dt.timedelta(seconds=72 / kmh),
        )
    rows = buckets(book.measure())
    assert {k.interval_min for k in rows} == {1, 5, 15, 60}
    minute = next(v for k, v in rows.items() if k.interval_min == 1)
    assert minute.count == 20 and round(minute.sum_kmh / 20, 3) == 59.0 and round(minute.max_kmh, 3) == 78.0
    p85 = percentile(dict(minute.bins), 0.85)
    assert p85 is not None and abs(p85 - 72.0) <= 2.0  # 17 of the 20 drove at 72 km/h or less
    assert percentile({}, 0.85) is None
    merged = SpeedSum()
    for kmh in (10.0, 10.5, 99.0):
        merged.add(kmh)
    assert merged.bins == {5: 2, 49: 1}


def camera_with_lines(session: Session, district_id: uuid.UUID) -> tuple[Camera, uuid.UUID, uuid.UUID]:
    """A camera over a road with two counting lines across it, 0.3 of the picture apart."""
    camera = Camera(
        name="GT Road", district_id=district_id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(camera)
    session.flush()
    a, b = (
        analytics.create_rule(
            session=session, principal=SYSTEM, camera_id=camera.id, config=rule_adapter.validate_python(c)
        )
        for c in (LINE_A, LINE_B)
    )
    return camera, a.id, b.id


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector({"type": "ssd_mobilenet_v2"})


def drive(
    runtime: AnalyticsRuntime,
    info: CameraInfo,
    rules: list[tuple[uuid.UUID, RuleConfig]],
    frames: Sequence[np.ndarray],
    detector: Detector,
) -> None:
    """Feed the frames at FPS through a camera's live analytics, whose hits go to the runtime's sink."""
    queue = InferenceQueue()
    camera = CameraAnalytics(info, FrameSlot(), queue, rules, sink=runtime._on_hit, timezone="Asia/Karachi",
                             fps=FPS, keepalive_s=2.0, motion_threshold=0.002)  # fmt: skip
    worker = InferenceWorker(detector, queue)
    for i, image in enumerate(frames):
        frame = Frame(
            image, seq=i + 1, captured_at=T0 + dt.timedelta(seconds=i / FPS), monotonic=1000 + i / FPS
        )
        if camera.offer(frame) and (job := queue.get(timeout=0)) is not None:
            worker.run_one(job)


def test_a_truck_driving_across_two_calibrated_lines_gets_its_speed_stored(
    detector: Detector,
    empty_square: np.ndarray,
    pickup: np.ndarray,
    factory: Factory,
    session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    camera, a, b = camera_with_lines(session, factory.district().id)
    traffic.calibrate(
        session=session,
        principal=SYSTEM,
        camera_id=camera.id,
        data=CalibrationIn(line_a_id=a, line_b_id=b, distance_m=20.0),
    )
    session.commit()
    rules = analytics.rules_for_camera(session=session, camera_id=camera.id)
    info = CameraInfo(camera.id, camera.name, camera.district_id)
    bus = MemoryBus()
    runtime = AnalyticsRuntime(settings, session_factory, bus, IngestSupervisor(settings.video))
    # The truck's bottom centre moves 0.7 of the width in 29 frames (5.8 s): the lines, 0.3 apart, in 2.49 s.
    clip = through_h264(moving(empty_square, pickup, (0.15, 0.75), (0.85, 0.75), 30))
    drive(runtime, info, rules, clip, detector)
    runtime.flush_counts()  # what the analytics' flush thread does every few seconds
    expected = 20.0 / (0.3 / (0.7 / 29) / FPS) * 3.6  # 28.97 km/h
    with session_factory() as session:
        counted = session.scalars(
            select(LineCount).where(LineCount.camera_id == camera.id, LineCount.interval_min == 1)
        )
        assert {(c.rule_id, c.count) for c in counted} == {(a, 1), (b, 1)}
        stored = list(
            session.scalars(
                select(SpeedBucket).where(SpeedBucket.interval_min == 1, SpeedBucket.camera_id == camera.id)
            )
        )
        assert len(stored) == 1 and stored[0].count == 1, stored
        out = traffic.speed_out(stored[0])
        assert out.class_name in {"car", "truck", "bus"}
        # The frames are 0.2 s apart: a crossing is known to one frame, so the speed to about 10 %.
        assert abs(out.mean_kmh - expected) < 0.15 * expected, (out.mean_kmh, expected)
        assert out.max_kmh == out.mean_kmh


def test_speeds_that_cannot_be_written_are_kept_for_the_next_flush() -> None:
    calibration = Calibration(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 10.0)

    class Broken:
        def __call__(self) -> Session:
            raise RuntimeError("database away")

    book = SpeedBook()
    book.set_calibrations([calibration])
    book.add(calibration.camera_id, firing(calibration.line_a, (1, "car")), T0)
    book.add(calibration.camera_id, firing(calibration.line_b, (1, "car")), T0 + dt.timedelta(seconds=1))
    assert flush_speeds(book, Broken()) == []  # type: ignore[arg-type]
    kept = book.measure()
    assert [round(s.kmh) for s in kept] == [36]


@pytest.mark.anyio
async def test_a_vehicle_over_the_calibrations_limit_raises_a_speeding_alert(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _, factory_db = own_db
    with factory_db() as session:
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district()
        camera, a, b = camera_with_lines(session, district.id)
        traffic.calibrate(
            session=session,
            principal=SYSTEM,
            camera_id=camera.id,
            data=CalibrationIn(line_a_id=a, line_b_id=b, distance_m=20.0, speed_limit_kmh=50),
        )
        session.commit()
        camera_id = camera.id
    bus = MemoryBus()
    await bus.start()
    book = SpeedBook()
    for track, seconds in ((1, 1.0), (2, 2.0)):  # 72 km/h, over the limit; 36 km/h, within it
        book.add(camera_id, firing(a, (track, "car")), T0)
        book.add(camera_id, firing(b, (track, "car")), T0 + dt.timedelta(seconds=seconds))
    loop = asyncio.get_running_loop()
    try:
        # On a worker thread, as the analytics flush it; the alert is raised on the loop.
        written = await asyncio.to_thread(flush_speeds, book, factory_db, bus=bus, loop=loop)
        assert sorted(round(s.kmh) for s in written) == [36, 72]

        def alerts() -> list[Alert]:
            with factory_db() as session:
                return list(session.scalars(select(Alert).where(Alert.kind == "traffic.speeding")))

        await wait_until_async(alerts, within=10)
    finally:
        await bus.close()
    [alert] = alerts()
    assert alert.camera_id == camera_id and alert.detail["kmh"] == 72.0 and "72 km/h" in alert.title
