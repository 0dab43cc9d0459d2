"""Plate reading on live cameras: a real pickup (dog.jpg) with a Pakistani plate rendered on its bumper
driven across a real empty square, through H.264, the SSD detector, ByteTrack and the plate reader:
one sighting per pass, the right plate, its pictures on disk, published on the bus.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from footage import moving, through_h264, write_h264
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import RtspCamera
from safecity import seed
from safecity.analytics.detectors import Detector, build_detector
from safecity.analytics.flows import AnalyticsRuntime, store_sighting
from safecity.analytics.pipeline import CameraAnalytics, CameraInfo, InferenceQueue, InferenceWorker
from safecity.analytics.plates import PlateReader, build_reader
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.live import (
    CameraPlates,
    CameraRef,
    Ended,
    Finished,
    PlateQueue,
    PlateWorker,
    VehicleCrop,
)
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import PlateSettings, SightingOut
from safecity.analytics.plates.types import UNKNOWN, PlateRead
from safecity.analytics.plates.voting import combine
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import AnalyticsSettings, Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.org import service as org
from safecity.video.demo import with_plate
from safecity.video.flows import VideoRuntime
from safecity.video.ingest import Frame, FrameSlot

FPS = 5
T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
PLATE = ["LEA-1234"]
SUPERVISOR = Principal(
    user_id=None,
    username="test",
    permissions=frozenset({"cameras.read", "analytics.manage"}),
    district_ids=None,
    via="system",
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector({"type": "ssd_mobilenet_v2"})


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return build_reader({"type": "rapidocr"})


@pytest.fixture(scope="module")
def plated_pickup(pickup: np.ndarray) -> np.ndarray:
    """The pickup enlarged to a near camera's view (405x167) with a Punjab plate (125x35) on its bumper."""
    return with_plate(pickup, PLATE, zoom=1.8, scale=20)


def drive_past(empty_square: np.ndarray, vehicle: np.ndarray, n: int) -> list[np.ndarray]:
    """The vehicle driven left to right along the square's near edge in n frames."""
    return moving(empty_square, vehicle, (0.3, 0.95), (0.7, 0.95), n)


class Lane:
    """One camera's analytics and plate reading run in step, frame by frame, on the real models."""

    def __init__(self, detector: Detector, reader: PlateReader, settings: PlateSettings) -> None:
        self.finished: list[Finished] = []
        self.queue = InferenceQueue()
        self.plate_queue = PlateQueue()
        ref = CameraRef(uuid.uuid4(), "Lane", None)
        self.plates = CameraPlates(ref, settings, self.plate_queue, sink=self.finished.append)
        self.camera = CameraAnalytics(
            CameraInfo(ref.camera_id, ref.name, None),
            FrameSlot(),
            self.queue,
            [],
            sink=lambda hit: None,
            timezone="Asia/Karachi",
            fps=FPS,
            keepalive_s=2.0,
            motion_threshold=0.002,
            plates=self.plates,
        )
        self.worker = InferenceWorker(detector, self.queue)
        self.reader = PlateWorker(reader, self.plate_queue)
        self.detected = 0
        self.moment = 0.0

    def feed(self, frames: list[np.ndarray]) -> None:
        for image in frames:
            self.moment += 1 / FPS
            seq = round(self.moment * FPS)
            frame = Frame(
                image,
                seq=seq,
                captured_at=T0 + dt.timedelta(seconds=self.moment),
                monotonic=1000 + self.moment,
            )
            if self.camera.offer(frame):
                job = self.queue.get(timeout=0)
                if job is not None:
                    self.detected += 1
                    self.worker.run_one(job)
            self.drain()

    def drain(self) -> None:
        while (job := self.plate_queue.get(timeout=0)) is not None:
            self.reader.run_one(job)


def test_the_plate_queue_keeps_each_tracks_newest_crop_and_every_ended_track(pickup: np.ndarray) -> None:
    queue = PlateQueue()
    ref = CameraRef(uuid.uuid4(), "Lane", None)
    old = CameraPlates(ref, PlateSettings(mode="vehicles"), queue, sink=lambda done: None)

    def crop(track_id: int, second: int) -> VehicleCrop:
        return VehicleCrop(track_id, pickup, (0, 0), 1.0, T0 + dt.timedelta(seconds=second), (225, 93))

    old.hand_over(crops=[crop(1, 0), crop(2, 0)])
    old.hand_over(crops=[crop(1, 1)], ended=[Ended(3, "car", "red", "right")])
    old.hand_over(ended=[Ended(4, "bus", None, None)])
    # The camera's settings change: the new reading's work is kept apart from the old one's last job.
    old.close()
    new = CameraPlates(ref, PlateSettings(mode="dedicated"), queue, sink=lambda done: None)
    new.hand_over(frame=(Frame(pickup, seq=1, captured_at=T0, monotonic=1.0), pickup))
    assert queue.drops == 1  # track 1's first crop, replaced before it was read
    first = queue.get(timeout=0)
    assert first is not None and first.camera is old and first.flush
    assert {k: c.wall.second for k, c in first.crops.items()} == {1: 1, 2: 0}
    assert [e.track_id for e in first.ended] == [3, 4]
    second = queue.get(timeout=0)
    assert second is not None and second.camera is new and second.frame is not None
    assert queue.get(timeout=0) is None
    assert queue.members() == [new]


def test_a_vehicle_driven_past_is_read_over_several_frames_into_one_sighting(
    detector: Detector, reader: PlateReader, empty_square: np.ndarray, plated_pickup: np.ndarray
) -> None:
    lane = Lane(detector, reader, PlateSettings(mode="vehicles"))
    lane.feed(through_h264(drive_past(empty_square, plated_pickup, 20)))
    assert lane.finished == []  # still in view: the pass is open
    lane.feed([empty_square] * 40)  # gone: the tracker drops it, and its pass is voted on
    (done,) = lane.finished
    assert done.vote.text == "LEA1234"
    assert done.vote.jurisdiction == "Punjab"
    assert done.vote.frames >= 3  # several frames combined, not one
    assert done.vote.frames <= 10  # and not every frame of the track
    assert done.vehicle_class in {"car", "truck"}
    assert done.direction == "right"
    assert done.first_seen <= done.seen_at <= done.last_seen
    # The pass spans the time the vehicle was followed (20 frames at 5 fps), not only the frames read.
    assert done.last_seen - done.first_seen >= dt.timedelta(seconds=2)
    x, y, w, h = done.box  # the plate in the frame: on the bumper, at the vehicle's bottom left
    assert 30 <= x <= 600 and 400 <= y <= 560 and w > 2.5 * h
    assert done.plate_crop.shape[1] > done.plate_crop.shape[0] > 20
    # Where its pictures were cut out of the frame (for the camera's privacy masks): around the plate.
    x1, y1, x2, y2 = done.plate_cut
    assert x1 <= x and y1 <= y and x + w <= x2 and y + h <= y2
    assert (x2 - x1, y2 - y1) == (done.plate_crop.shape[1], done.plate_crop.shape[0])
    vx1, vy1, vx2, vy2 = done.vehicle_cut
    assert vx1 <= x1 and vy1 <= y1 and x2 <= vx2 and y2 <= vy2
    assert (vx2 - vx1, vy2 - vy1) == (done.vehicle.shape[1], done.vehicle.shape[0])
    assert done.frame_size == (empty_square.shape[1], empty_square.shape[0])
    assert lane.plates.failures == 0


def test_plates_narrower_than_the_cameras_minimum_are_not_read(
    detector: Detector, reader: PlateReader, empty_square: np.ndarray, plated_pickup: np.ndarray
) -> None:
    lane = Lane(detector, reader, PlateSettings(mode="vehicles", min_plate_px=300))
    lane.feed(through_h264(drive_past(empty_square, plated_pickup, 12)) + [empty_square] * 40)
    assert lane.finished == []
    assert lane.plates.reads >= 1  # it was looked at, and the plate found too small


def test_a_dedicated_anpr_camera_reads_passes_without_the_vehicle_detector(
    detector: Detector, reader: PlateReader, empty_square: np.ndarray, pickup: np.ndarray
) -> None:
    close_up = with_plate(pickup, PLATE, zoom=1.8, scale=24)
    lane = Lane(detector, reader, PlateSettings(mode="dedicated"))
    lane.feed(through_h264(drive_past(empty_square, close_up, 10)))
    lane.feed([empty_square] * 3)
    lane.plates.tick(1000 + lane.moment + 2)  # the lane went quiet: the worker ends the pass
    (done,) = lane.finished
    assert done.vote.text == "LEA1234"
    assert done.vote.frames >= 3
    assert done.track_id is None and done.vehicle_class is None
    assert done.direction == "right"
    assert lane.detected == 0  # the detector never ran

    # A second vehicle is a second pass.
    lane.feed(through_h264(drive_past(empty_square, close_up, 10)))
    lane.plates.tick(1000 + lane.moment + 2)
    assert [d.vote.text for d in lane.finished] == ["LEA1234", "LEA1234"]


def test_a_bad_crop_or_a_failing_reader_costs_that_read_only(
    detector: Detector, reader: PlateReader, empty_square: np.ndarray, plated_pickup: np.ndarray
) -> None:
    lane = Lane(detector, reader, PlateSettings(mode="dedicated"))
    bad = np.frombuffer(b"corrupt!" * 100, np.uint8).reshape(20, 40)  # bytes, not a colour picture
    broken = Frame(bad, seq=1, captured_at=T0, monotonic=1000.0)
    lane.plates.hand_over(frame=(broken, bad))
    lane.drain()
    assert lane.plates.failures == 1
    assert "plate reader failed" in (lane.plates.last_error or "")
    lane.feed(through_h264(drive_past(empty_square, plated_pickup, 10)))
    lane.plates.tick(1000 + lane.moment + 2)
    assert [d.vote.text for d in lane.finished] == ["LEA1234"]


# --- end to end: a real RTSP camera, the runtime, the database and the bus ------------------------------


async def _until(what: Callable[[], object], within: float, step: float = 0.3) -> None:
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(step)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["vehicles", "dedicated"])
async def test_a_vehicle_passing_a_live_camera_is_stored_once_with_its_crop_and_published(
    mode: str,
    rtsp_camera: Callable[..., RtspCamera],
    own_db: tuple[str, sessionmaker[Session]],
    tmp_path: Path,
    empty_square: np.ndarray,
    plated_pickup: np.ndarray,
) -> None:
    fps = 10
    clip = tmp_path / "lane.mp4"
    # A quiet second, the pickup driving past for four, then the empty square (the clip plays once).
    frames = (
        [empty_square] * fps + drive_past(empty_square, plated_pickup, 4 * fps) + [empty_square] * 25 * fps
    )
    write_h264(clip, frames, fps)
    server = rtsp_camera(clip=clip)
    url, factory_db = own_db
    settings = Settings(
        data_dir=tmp_path,
        database_url=SecretStr(url),
        video=VideoSettings(analytics_fps=5),
        analytics=AnalyticsSettings(),
    )
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = Camera(
            name="Ring Road", district_id=district.id, latitude=34.0, longitude=71.5, stream_url=server.url
        )
        session.add(camera)
        session.flush()
        # No rules at all: reading plates alone makes the camera analysed.
        plates.set_settings(
            session=session,
            principal=SUPERVISOR,
            camera_id=camera.id,
            settings=PlateSettings(mode=mode),
        )
        session.commit()
        camera_id = camera.id

    bus = MemoryBus()
    await bus.start()
    published = await bus.subscribe("plates.sighting.>", durable="test")
    video = VideoRuntime(settings, factory_db, bus)
    runtime = AnalyticsRuntime(settings, factory_db, bus, video.supervisor)
    await video.start()
    await runtime.start()

    def sightings() -> list[Sighting]:
        with factory_db() as session:
            return list(session.scalars(select(Sighting).where(Sighting.camera_id == camera_id)))

    try:
        await _until(sightings, 40)
        message = await published.next(timeout=5)
        assert message is not None
        await message.ack()
        await asyncio.sleep(4)  # nothing more comes of the same pass
        stored = sightings()
        again = await published.next(timeout=0.5)
        detector_loaded = runtime.worker is not None

        # A change of settings applies without a restart; off, and without rules, the camera is not analysed.
        for change in ("dedicated", "off"):
            with factory_db() as session:
                plates.set_settings(
                    session=session,
                    principal=SUPERVISOR,
                    camera_id=camera_id,
                    settings=PlateSettings(mode=change),
                )
                session.commit()
            await runtime.refresh()
            if change == "dedicated":
                running = runtime.cameras[camera_id].plates
                assert running is not None and running.dedicated
        assert camera_id not in runtime.cameras
    finally:
        await runtime.stop()
        await video.stop()
        await bus.close()

    assert len(stored) == 1, [(s.plate, s.frames, s.first_seen, s.last_seen, s.box) for s in stored]
    sighting = stored[0]
    assert again is None
    assert sighting.plate == "LEA1234" and sighting.folded == plates.fold("LEA1234")
    assert sighting.jurisdiction == "Punjab"
    assert sighting.confidence >= 0.6 and len(sighting.char_confidences) == 7
    assert sighting.district_id == district.id
    assert sighting.direction == "right" and sighting.frames >= 2
    if mode == "vehicles":
        assert sighting.vehicle_class in {"car", "truck"} and sighting.track_id is not None
        assert detector_loaded
    else:  # an ANPR camera: plates read on what moved, the vehicle detector never loaded
        assert sighting.vehicle_class is None and sighting.track_id is None
        assert not detector_loaded
    assert sighting.first_seen <= sighting.seen_at <= sighting.last_seen
    crop = cv2.imread(str(settings.snapshots_dir / (sighting.crop or "")))
    assert crop is not None and crop.shape[1] > 2 * crop.shape[0]
    # The crop shows the plate: black characters on white.
    assert (crop > 180).mean() > 0.4 and (crop < 80).mean() > 0.05
    vehicle = cv2.imread(str(settings.snapshots_dir / (sighting.snapshot or "")))
    assert vehicle is not None and vehicle.shape[1] > 300  # the vehicle (dedicated: the frame)
    assert sighting.crop == plates.crop_path(camera_id, sighting.id, sighting.seen_at, part="crop")
    # What was published is exactly what was stored, on the camera's subject.
    assert message.subject == plates.subject(camera_id)
    assert json.loads(message.data) == json.loads(SightingOut.model_validate(sighting).model_dump_json())


def test_an_unreadable_pass_is_stored_without_a_plate_but_with_its_crop(
    own_db: tuple[str, sessionmaker[Session]], tmp_path: Path, plated_pickup: np.ndarray
) -> None:
    _, factory_db = own_db
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = Camera(name="Lane", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
        session.add(camera)
        session.commit()
        camera_id, district_id = camera.id, district.id
    # Three frames, each below the floor: the pass is unreadable, and no guess is made of it.
    doubtful = PlateRead(None, 0.42, (0.42,) * 7, (14, 103, 125, 35), UNKNOWN, UNKNOWN, "LFA-I2?4")
    vote = combine([doubtful] * 3, region="PK", floor=0.6)
    done = Finished(
        camera=CameraRef(camera_id, "Lane", district_id),
        vote=vote,
        region="PK",
        plate_crop=plated_pickup[98:143, 9:144].copy(),
        vehicle=plated_pickup,
        box=(214, 480, 125, 35),
        plate_cut=(209, 475, 344, 520),
        vehicle_cut=(200, 377, 605, 544),
        frame_size=(768, 576),
        seen_at=T0,
        first_seen=T0,
        last_seen=T0 + dt.timedelta(seconds=2),
        track_id=7,
        vehicle_class="truck",
        colour="red",
        direction="right",
    )
    out = store_sighting(done, session_factory=factory_db, snapshots_dir=tmp_path)
    assert out is not None
    with factory_db() as session:
        row = session.get(Sighting, out.id)
        assert row is not None
        assert row.plate is None and row.folded is None and row.folded_rev is None
        assert row.layout == UNKNOWN and row.alternatives == [] and row.frames == 3
        assert row.confidence == pytest.approx(0.42)
    crop = cv2.imread(str(tmp_path / (out.crop or "")))
    assert crop is not None and crop.shape[:2] == (45, 135)
    assert (tmp_path / (out.snapshot or "")).is_file()
