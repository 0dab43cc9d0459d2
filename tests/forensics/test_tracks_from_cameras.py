"""The story of forensic search from real cameras: two RTSP cameras see a red pickup drive past, one of
them a white one too; the analytics keep every object they followed, through the bus as a deployment runs
it, and an investigator finds the red vehicle at both cameras by its colour and the area, not the white one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import RtspCamera
from safecity import seed
from safecity.analytics import service as analytics
from safecity.analytics.flows import AnalyticsRuntime
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.core.schemas import Area
from safecity.forensics import service as forensics
from safecity.forensics.flows import tracks_from_bus
from safecity.forensics.models import ObjectTrack
from safecity.forensics.schemas import SearchIn
from safecity.org import service as org
from safecity.video.demo import PHOTO, PICKUP, VTEST, scene
from safecity.video.flows import VideoRuntime

pytestmark = pytest.mark.anyio

FPS = 10
SECONDS = 12
SYSTEM = Principal(
    user_id=None,
    username="test",
    permissions=frozenset({"analytics.manage", "cameras.read"}),
    district_ids=None,
    via="system",
)
# A rule on each camera makes its analytics run; nothing about the search depends on it.
WATCH = {"kind": "zone_intrusion", "name": "Road", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]], "severity": 0}


def _painted_red(vehicle: np.ndarray) -> np.ndarray:
    """The white pickup resprayed red: its pale body paint turned red, glass, tyres and shade kept."""
    hsv = cv2.cvtColor(vehicle, cv2.COLOR_BGR2HSV)
    paint = (hsv[..., 1] < 70) & (hsv[..., 2] > 110)
    hsv[..., 0][paint], hsv[..., 1][paint] = 0, 210
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), dtype=np.uint8)


def _clip(path: Path, drives: list[tuple[np.ndarray, float, float, float, float]]) -> Path:
    """An H.264 clip of the square (vtest's first frame) with each (vehicle, from x, to x, start s, end s)
    driven across the road at the bottom of the picture.
    """
    with av.open(str(VTEST)) as source:
        square = next(source.decode(video=0)).to_ndarray(format="bgr24")
    background = np.asarray(cv2.resize(square, (640, 480)), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "g": str(FPS)}
        for n in range(FPS * SECONDS):
            t = n / FPS
            objects = [
                (vehicle, (x0 + (x1 - x0) * (t - t0) / (t1 - t0), 0.97))
                for vehicle, x0, x1, t0, t1 in drives
                if t0 <= t <= t1
            ]
            frame = av.VideoFrame.from_ndarray(scene(background, *objects), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


async def _until(what: Callable[[], object], within: float) -> None:
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.5)


async def test_a_red_pickup_is_found_at_both_cameras_by_colour_and_area(
    rtsp_camera: Callable[..., RtspCamera],
    own_db: tuple[str, sessionmaker[Session]],
    tmp_path: Path,
) -> None:
    photo = cv2.imread(str(PHOTO))
    assert photo is not None
    white = np.asarray(cv2.resize(photo[PICKUP], None, fx=1.3, fy=1.3), dtype=np.uint8)
    red = _painted_red(white)
    gate_clip = _clip(tmp_path / "gate.mp4", [(red, 0.25, 0.75, 1.0, 5.0), (white, 0.25, 0.75, 7.0, 11.0)])
    market_clip = _clip(tmp_path / "market.mp4", [(red, 0.75, 0.25, 2.0, 6.0)])
    gate_server, market_server = rtsp_camera(clip=gate_clip), rtsp_camera(clip=market_clip)
    url, factory_db = own_db
    settings = Settings(data_dir=tmp_path, database_url=SecretStr(url), video=VideoSettings(analytics_fps=5))
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        gate = Camera(
            name="Bank gate",
            district_id=district.id,
            latitude=34.010,
            longitude=71.510,
            stream_url=gate_server.url,
        )
        market = Camera(
            name="Market",
            district_id=district.id,
            latitude=34.012,
            longitude=71.514,
            stream_url=market_server.url,
        )
        session.add_all([gate, market])
        session.flush()
        for camera in (gate, market):
            analytics.create_rule(
                session=session,
                principal=SYSTEM,
                camera_id=camera.id,
                config=rule_adapter.validate_python(WATCH),
            )
        session.commit()
        cameras = {gate.id: "gate", market.id: "market"}
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    def kept() -> list[ObjectTrack]:
        with factory_db() as session:
            return list(session.scalars(select(ObjectTrack)))

    def seen_red_at_both() -> bool:
        vehicles = {cameras[t.camera_id] for t in kept() if t.colour == "red" and t.class_name != "person"}
        return vehicles == {"gate", "market"}

    # The deployment's way: the cameras' finished tracks go onto the bus, the store's consumer stores them.
    bus = MemoryBus()
    await bus.start()
    stop = asyncio.Event()
    store = asyncio.create_task(tracks_from_bus(bus=bus, session_factory=factory_db, stop=stop))
    video = VideoRuntime(settings, factory_db, bus)
    runtime = AnalyticsRuntime(settings, factory_db, bus, video.supervisor)
    await video.start()
    await runtime.start()
    try:
        await _until(seen_red_at_both, 60)
    except AssertionError:
        seen = sorted((cameras[t.camera_id], t.class_name, t.colour, t.direction) for t in kept())
        raise AssertionError(f"red vehicles not kept at both cameras; kept {seen}") from None
    finally:
        await runtime.stop()
        await video.stop()
        stop.set()
        await store
        await bus.close()

    tracks = kept()
    red = [t for t in tracks if t.colour == "red" and t.class_name in {"car", "truck"}]
    assert {cameras[t.camera_id] for t in red} == {"gate", "market"}
    at_gate = next(t for t in red if cameras[t.camera_id] == "gate")
    at_market = next(t for t in red if cameras[t.camera_id] == "market")
    assert at_gate.direction in {"right", "up-right", "down-right"}  # it drove left to right at the gate
    assert at_market.direction in {"left", "up-left", "down-left"}  # and right to left at the market
    assert at_gate.snapshot is not None
    view = cv2.imread(str(settings.snapshots_dir / at_gate.snapshot))
    assert view is not None and view.shape[1] > 100  # the pickup's best view, a real picture
    assert len(at_gate.path) >= 3 and all(0 <= v <= 1 for step in at_gate.path for v in step[1:])
    # The white pickup was followed too, and named white (not red).
    assert any(t.colour == "white" and cameras[t.camera_id] == "gate" for t in tracks)

    with factory_db() as session:
        investigator = Principal(
            user_id=None,
            username="investigator",
            permissions=frozenset({"forensics.investigate", "video.playback"}),
            district_ids=frozenset({district.id}),
            via="session",
        )
        found = forensics.search(
            session=session,
            principal=investigator,
            query=SearchIn(
                purpose="FIR 77/2026: the red pickup seen leaving the bank",
                since=since,
                until=dt.datetime.now(dt.UTC),
                area=Area(south=34.0, west=71.5, north=34.02, east=71.52),
                colours=["red"],
                classes=["car", "truck"],
            ),
        )
        session.commit()
    assert {h.camera_name for h in found.hits} == {"Bank gate", "Market"}
    assert all(h.colour == "red" for h in found.hits)
    assert all(isinstance(h.id, uuid.UUID) and h.playback_url.startswith("/cameras/") for h in found.hits)
