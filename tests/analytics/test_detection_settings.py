"""Each camera's own detector settings: stored through the API and the rule editor's panel (scoped, checked,
audited), and used by the live analytics, the replay and `detect` while the one shared model stays loaded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import CCTV_FOOTAGE, audit_info, encode_cctv_clip
from safecity import seed
from safecity.analytics import service as analytics
from safecity.analytics.detectors import DetectorConfig
from safecity.analytics.flows import AnalyticsRuntime
from safecity.analytics.models import CameraDetection
from safecity.analytics.pipeline import Hit, Job
from safecity.analytics.schemas import PIPELINE_NAMES, DetectionSettings, rule_adapter
from safecity.analytics.types import PERSON
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.cli import app
from safecity.config import AnalyticsSettings, Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.core.db import create_db_engine, create_session_factory
from safecity.org import service as org
from safecity.org.models import District
from safecity.video.ingest import FrameSlot

if TYPE_CHECKING:
    from conftest import Factory

runner = CliRunner()
DRAWER = Principal(None, "test", frozenset({"cameras.read", "analytics.manage"}), None, via="system")
NO_PEOPLE = {
    "tiling": False,
    "whole_frame": False,
    "classes": ["bus", "car", "motorcycle", "truck"],
    "min_score": 0.4,
    "class_scores": {"motorcycle": 0.35},
}
# vtest.avi's pedestrians walk across the square, left and right, through the middle of the picture.
WALKER_RULES = [
    {"kind": "counting_line", "name": "Walkers", "classes": ["person"], "line": [[0.5, 0.3], [0.5, 0.98]]},
    {"kind": "zone_intrusion", "name": "Anywhere", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]]},
]
needs_footage = pytest.mark.skipif(
    not CCTV_FOOTAGE.exists(), reason="opencv-doc's vtest.avi is not installed"
)


def add_camera(session: Session, district: District, name: str) -> Camera:
    camera = Camera(name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
    session.add(camera)
    session.flush()
    return camera


def url(camera: Camera) -> str:
    return f"/api/v1/cameras/{camera.id}/detection"


def audit_entries(session: Session, camera: Camera) -> list[AuditEntry]:
    query = select(AuditEntry).where(
        AuditEntry.object_type == "camera_detection", AuditEntry.object_id == str(camera.id)
    )
    return list(session.scalars(query.order_by(AuditEntry.seq)))


# --- the API ---------------------------------------------------------------------------------------


def test_a_supervisor_gives_a_camera_its_own_settings_and_takes_them_back(
    factory: Factory, session: Session, settings: Settings, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    supervisor = factory.user("supervisor", districts=[district])
    client = login_as(supervisor)

    first = client.get(url(camera))
    assert first.status_code == 200, first.text
    body = first.json()
    # Without settings of its own, the camera shows the global ones in effect.
    glob = settings.analytics
    assert body["own"] is False and body["updated_at"] is None
    assert body["detector"] == glob.detector
    assert body["settings"] == body["defaults"]
    assert body["settings"]["classes"] == PIPELINE_NAMES
    assert body["settings"]["min_score"] == glob.min_score and body["settings"]["tiling"] is glob.tiling

    saved = client.put(url(camera), json={**NO_PEOPLE, "tile_grid": [3, 2], "input_size": 512})
    assert saved.status_code == 200, saved.text
    own = saved.json()
    assert own["own"] is True and own["updated_by"] == str(supervisor.id)
    assert own["settings"]["classes"] == ["bus", "car", "motorcycle", "truck"]
    assert own["settings"]["tile_grid"] == [3, 2] and own["settings"]["input_size"] == 512
    assert own["settings"]["class_scores"] == {"motorcycle": 0.35}
    assert own["defaults"] == body["defaults"]  # the global ones are still shown beside them
    assert client.get(url(camera)).json() == own

    # A second screen still holding the first version must not overwrite the change.
    changed = client.put(
        url(camera), params={"expected_updated_at": own["updated_at"]}, json={**NO_PEOPLE, "min_score": 0.5}
    )
    assert changed.status_code == 200, changed.text
    stale = client.put(url(camera), params={"expected_updated_at": own["updated_at"]}, json=NO_PEOPLE)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_detection"
    assert client.get(url(camera)).json()["settings"]["min_score"] == 0.5

    back = client.delete(url(camera))
    assert back.status_code == 200, back.text
    assert back.json()["own"] is False and back.json()["settings"] == body["defaults"]
    assert session.get(CameraDetection, camera.id) is None

    entries = audit_entries(session, camera)
    assert [e.action for e in entries] == [
        "analytics.detection.update",
        "analytics.detection.update",
        "analytics.detection.reset",
    ]
    assert all(e.actor_id == supervisor.id and e.district_id == district.id for e in entries)
    # Each entry says what changed: from the global settings (null) to the camera's own, and back.
    assert entries[0].detail["before"] is None and entries[0].detail["after"]["tile_grid"] == [3, 2]
    assert entries[1].detail["before"]["min_score"] == 0.4 and entries[1].detail["after"]["min_score"] == 0.5
    assert entries[2].detail["before"]["min_score"] == 0.5 and entries[2].detail["after"] is None


def test_detector_settings_stay_within_scope_and_permission(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    mine, theirs = add_camera(session, a, "Mine"), add_camera(session, b, "Theirs")
    supervisor = login_as(factory.user("supervisor", districts=[a]))
    # Another district's camera does not exist for this supervisor, to read or to change.
    assert supervisor.get(url(theirs)).status_code == 404
    assert supervisor.put(url(theirs), json=NO_PEOPLE).status_code == 404
    assert supervisor.delete(url(theirs)).status_code == 404
    assert session.get(CameraDetection, theirs.id) is None

    # An operator sees the settings but may not change them (and the refusal is audited).
    operator = login_as(factory.user("operator", districts=[a]))
    assert operator.get(url(mine)).status_code == 200
    refused = operator.put(url(mine), json=NO_PEOPLE)
    assert refused.status_code == 403
    assert operator.delete(url(mine)).status_code == 403
    assert session.get(CameraDetection, mine.id) is None
    assert not [e for e in audit_entries(session, mine) if e.outcome == "success"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"classes": ["person", "spaceship"]}, "spaceship"),
        ({"classes": ["cell phone"]}, "not detected here"),  # a COCO class, but not a road user
        ({"classes": []}, "classes"),
        ({"min_score": 0}, "min_score"),
        ({"min_score": 1.5}, "min_score"),
        ({"class_scores": {"car": 0}}, "between 0 and 1"),
        ({"class_scores": {"car": 1.2}}, "between 0 and 1"),
        ({"class_scores": {"dragon": 0.5}}, "dragon"),
        ({"tile_grid": [0, 1]}, "tile grid"),
        ({"tile_grid": [7, 2]}, "tile grid"),
        ({"tiling": "sometimes"}, "tiling"),
        ({"nms_iou": 0.5}, "nms_iou"),  # not a per-camera setting
        ({"input_size": 64}, "input_size"),  # the configured SSD takes 128 to 1024 pixels
    ],
)
def test_settings_the_detector_cannot_use_are_refused_with_the_reason(
    factory: Factory,
    session: Session,
    login_as: Callable[..., TestClient],
    change: dict[str, Any],
    problem: str,
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    client = login_as(factory.user("supervisor", districts=[district]))
    refused = client.put(url(camera), json={**NO_PEOPLE, **change})
    assert refused.status_code == 422, refused.text
    assert problem in refused.text
    assert session.get(CameraDetection, camera.id) is None


def test_stored_settings_another_model_cannot_take_fall_back_to_the_global_ones(
    factory: Factory, session: Session
) -> None:
    district = factory.district()
    camera, plain = add_camera(session, district, "Own"), add_camera(session, district, "Plain")
    ssd = AnalyticsSettings(detector="ssd_mobilenet_v2")
    own = DetectionSettings.model_validate({**NO_PEOPLE, "input_size": 300})
    analytics.set_detection(
        session=session, principal=DRAWER, camera_id=camera.id, settings=own, defaults=ssd
    )
    configs = analytics.detection_configs(session=session, camera_ids={camera.id, plain.id}, defaults=ssd)
    assert configs[camera.id].classes == NO_PEOPLE["classes"] and configs[camera.id].tiling is False
    assert configs[camera.id].class_scores == {"motorcycle": 0.35}
    assert getattr(configs[camera.id], "input_size", None) == 300
    assert configs[plain.id].classes == PIPELINE_NAMES and configs[plain.id].tiling is True
    # Switched to YOLO, whose input is a multiple of 32: the camera runs on the global settings meanwhile.
    yolo = AnalyticsSettings(detector="yolov3_tiny")
    fallback = analytics.detection_configs(session=session, camera_ids={camera.id}, defaults=yolo)
    assert fallback[camera.id].type == "yolov3_tiny" and fallback[camera.id].classes == PIPELINE_NAMES


# --- the rule editor's Detection panel -----------------------------------------------------------------


def panel_form(text: str) -> dict[str, Any]:
    """The fields the panel's form would send as it stands."""
    version = re.search(r'name="expected_updated_at" value="([^"]*)"', text)
    assert version is not None
    return {"expected_updated_at": version.group(1)}


def test_the_rule_editor_shows_and_saves_the_detection_panel(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    page_url = f"/cameras/{camera.id}/analytics"
    post_url = f"{page_url}/detection"
    client = login_as(factory.user("supervisor", districts=[district]))
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    assert 'data-testid="detection"' in page.text and 'data-own="no"' in page.text
    assert 'data-testid="save-detection"' in page.text
    assert 'name="input_size"' in page.text and 'placeholder="300"' in page.text  # the SSD's own size
    for name in PIPELINE_NAMES:  # every class is offered, and detected by default
        assert f'name="classes" value="{name}" aria-label="Detect {name}" checked' in page.text

    form = {
        **panel_form(page.text),
        "own": "yes",
        "tiling": "on",
        "tile_columns": "3",
        "tile_rows": "2",
        "input_size": "",
        "classes": ["car", "bus"],
        "min_score": "0.4",
        "score_class": PIPELINE_NAMES,
        "score": ["0.6" if c == "bus" else "" for c in PIPELINE_NAMES],
    }
    saved = client.post(post_url, data=form)
    assert saved.status_code == 200, saved.text
    assert 'data-own="yes"' in saved.text and 'data-testid="detection-saved"' in saved.text
    session.expire_all()
    row = session.get(CameraDetection, camera.id)
    assert row is not None
    assert row.settings["classes"] == ["bus", "car"] and row.settings["tile_grid"] == [3, 2]
    assert row.settings["class_scores"] == {"bus": 0.6} and row.settings["whole_frame"] is False
    assert row.settings["input_size"] is None and row.settings["tiling"] is True

    # The reloaded page shows the camera's own settings as saved.
    again = client.get(page_url).text
    assert 'data-own="yes"' in again
    assert 'name="classes" value="car" aria-label="Detect car" checked' in again
    assert 'name="classes" value="person" aria-label="Detect person">' in again
    assert 'name="tile_columns" type="number" min="1" max="6" step="1" value="3"' in again

    # Bad input is refused with the reason, in the page's flash area, and nothing changes.
    bad = client.post(post_url, data={**form, **panel_form(again), "min_score": "1.5"})
    assert bad.headers["HX-Retarget"] == "#flash" and "min_score" in bad.text
    half_grid = client.post(post_url, data={**form, **panel_form(again), "tile_rows": ""})
    assert "tile columns and rows" in half_grid.text
    # A page loaded before the change cannot overwrite it.
    stale = client.post(post_url, data={**form, **panel_form(page.text)})
    assert "reload" in stale.text and stale.headers["HX-Retarget"] == "#flash"

    back = client.post(post_url, data={"own": "no", **panel_form(again)})
    assert back.status_code == 200 and 'data-own="no"' in back.text
    session.expire_all()
    assert session.get(CameraDetection, camera.id) is None


def test_the_panel_is_read_only_without_analytics_manage(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    operator = login_as(factory.user("operator", districts=[district]))
    page = operator.get(f"/cameras/{camera.id}/analytics")
    assert page.status_code == 200, page.text
    assert 'data-testid="detection"' in page.text
    assert "<fieldset disabled>" in page.text and 'data-testid="save-detection"' not in page.text
    # Posting the form anyway is refused (and audited), and nothing is stored.
    refused = operator.post(
        f"/cameras/{camera.id}/analytics/detection",
        data={"own": "yes", "tiling": "on", "classes": ["car"], "min_score": "0.4"},
    )
    assert refused.headers["HX-Retarget"] == "#flash"
    session.expire_all()
    assert session.get(CameraDetection, camera.id) is None
    denied = select(AuditEntry).where(AuditEntry.outcome == "denied", AuditEntry.actor_id.is_not(None))
    assert session.scalars(denied).first() is not None


# --- the runtime: one shared model, each camera fed its own way --------------------------------------


class Cameras:
    """Stands in for the ingest supervisor: cameras whose newest frames the test publishes."""

    def __init__(self, *camera_ids: uuid.UUID) -> None:
        self.slots = {c: FrameSlot() for c in camera_ids}

    def camera_ids(self) -> list[uuid.UUID]:
        return list(self.slots)

    def slot(self, camera_id: uuid.UUID) -> FrameSlot | None:
        return self.slots.get(camera_id)


@pytest.fixture(scope="module")
def square() -> Iterator[list[np.ndarray]]:
    """Every second frame of vtest.avi's first 16 s (people walking in a square), as a 5 fps camera sends."""
    if not CCTV_FOOTAGE.exists():
        pytest.skip("opencv-doc's vtest.avi is not installed")
    capture = cv2.VideoCapture(str(CCTV_FOOTAGE))
    frames = []
    for index in range(160):
        ok, frame = capture.read()
        if not ok:
            break
        if index % 2 == 0:
            frames.append(frame)
    capture.release()
    yield frames


@pytest.mark.anyio
async def test_the_runtime_feeds_each_camera_its_own_way_and_follows_a_change_without_a_restart(
    own_db: tuple[str, sessionmaker[Session]], tmp_path: Path, square: list[np.ndarray]
) -> None:
    db_url, factory_db = own_db
    # Tiles off and a short keep-alive: the same behaviour, at less CPU per frame.
    settings = Settings(
        data_dir=tmp_path,
        database_url=SecretStr(db_url),
        video=VideoSettings(analytics_fps=5),
        analytics=AnalyticsSettings(tiling=False, keepalive_s=1.0),
    )
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        road, square_cam = add_camera(session, district, "Road"), add_camera(session, district, "Square")
        for camera in (road, square_cam):
            for rule in WALKER_RULES:
                config = rule_adapter.validate_python(rule)
                analytics.create_rule(session=session, principal=DRAWER, camera_id=camera.id, config=config)
        # The road camera is told to look for vehicles only; the square camera keeps the global settings.
        analytics.set_detection(
            session=session,
            principal=DRAWER,
            camera_id=road.id,
            settings=DetectionSettings.model_validate(NO_PEOPLE),
            defaults=settings.analytics,
        )
        session.commit()
        road_id, square_id = road.id, square_cam.id

    cameras = Cameras(road_id, square_id)
    runtime = AnalyticsRuntime(settings, factory_db, MemoryBus(), cameras)  # type: ignore[arg-type]
    await runtime.refresh()
    assert runtime.worker is not None
    worker, detector = runtime.worker, runtime.worker.detector
    fed: list[tuple[uuid.UUID, DetectorConfig | None]] = []  # each frame's camera and how it was fed
    run_one = worker.run_one

    def spy(job: Job) -> list[Hit]:
        fed.append((job.camera.info.camera_id, job.camera.detection))
        return run_one(job)

    worker.run_one = spy  # type: ignore[method-assign]
    seen: dict[uuid.UUID, set[int]] = {road_id: set(), square_id: set()}

    async def play(frames: list[np.ndarray]) -> None:
        for image in frames:
            for slot in cameras.slots.values():
                slot.publish(image)
            await asyncio.sleep(0.2)  # a 5 fps camera's pace
            for camera_id, camera in runtime.cameras.items():
                seen[camera_id] |= {t.class_id for t in camera.tracks}

    try:
        await play(square[:40])
        deadline = time.monotonic() + 60  # on a busy machine the detector lags behind the frames
        while PERSON not in seen[square_id] and time.monotonic() < deadline:
            await play(square[40:60])
        # One model for both cameras, each fed its own way: the road camera never tracks a person.
        assert PERSON in seen[square_id]
        assert PERSON not in seen[road_id]
        road_fed = [c for cam, c in fed if cam == road_id]
        square_fed = [c for cam, c in fed if cam == square_id]
        assert road_fed and square_fed
        assert all(c is not None and c.classes == NO_PEOPLE["classes"] for c in road_fed)
        assert all(c is not None and c.classes == PIPELINE_NAMES for c in square_fed)

        # The square camera is changed in the UI to vehicles only: the next refresh applies it to the
        # running camera (same tracker, same thread), with the same model.
        running = runtime.cameras[square_id]
        with factory_db() as session:
            analytics.set_detection(
                session=session,
                principal=DRAWER,
                camera_id=square_id,
                settings=DetectionSettings.model_validate(NO_PEOPLE),
                defaults=settings.analytics,
            )
            session.commit()
        await runtime.refresh()
        assert (
            runtime.cameras[square_id] is running and runtime.worker is worker and worker.detector is detector
        )
        assert running.detection is not None and running.detection.classes == NO_PEOPLE["classes"]

        # Its people are no longer detected: their tracks end and no new one starts (a parked van stays).
        def people() -> list[int]:
            return [t.track_id for t in running.tracks if t.class_id == PERSON]

        deadline = time.monotonic() + 60
        while people() and time.monotonic() < deadline:
            await play(square[60:70])
        assert not people()
        before = len(fed)
        seen[square_id] = set()
        await play(square[70:])
        assert len(fed) > before and PERSON not in seen[square_id]
    finally:
        await runtime.stop()


# --- the command line: replay and detect with a camera's settings -----------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    db_url = f"sqlite:///{tmp_path / 'safecity.db'}"
    monkeypatch.setenv("SAFECITY_DATABASE_URL", db_url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    monkeypatch.setenv("SAFECITY_ANALYTICS__TILING", "false")  # fewer model runs; same behaviour
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    engine = create_db_engine(db_url)
    yield create_session_factory(engine, info=audit_info(Settings()))
    engine.dispose()


def cli_cameras(factory_db: sessionmaker[Session]) -> tuple[uuid.UUID, uuid.UUID]:
    """Two cameras with the same walker rules: one sees only vehicles (its own settings), one the global."""
    with factory_db() as session:
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        road, plain = add_camera(session, district, "Road"), add_camera(session, district, "Square")
        for camera in (road, plain):
            for rule in WALKER_RULES:
                config = rule_adapter.validate_python(rule)
                analytics.create_rule(session=session, principal=DRAWER, camera_id=camera.id, config=config)
        analytics.set_detection(
            session=session,
            principal=DRAWER,
            camera_id=road.id,
            settings=DetectionSettings.model_validate(NO_PEOPLE),
            defaults=AnalyticsSettings(),
        )
        session.commit()
        return road.id, plain.id


@needs_footage
def test_replay_uses_the_cameras_own_settings(tmp_path: Path, cli_db: sessionmaker[Session]) -> None:
    clip = encode_cctv_clip(tmp_path / "square.mp4", width=768, height=576, fps=10, seconds=12)
    road, plain = cli_cameras(cli_db)

    def events(camera_id: uuid.UUID) -> list[dict[str, Any]]:
        args = ["analytics", "replay", str(clip), "--camera", str(camera_id), "--speed", "0", "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    walkers = events(plain)
    assert walkers and {e["class"] for e in walkers} == {"person"}
    assert events(road) == []  # the same footage and rules, but this camera detects no people


@needs_footage
def test_detect_uses_a_cameras_settings_when_named(cli_db: sessionmaker[Session], tmp_path: Path) -> None:
    picture = tmp_path / "square.png"
    capture = cv2.VideoCapture(str(CCTV_FOOTAGE))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = capture.read()
    capture.release()
    assert ok and cv2.imwrite(str(picture), frame)
    road, _plain = cli_cameras(cli_db)

    def classes(*extra: str) -> set[str]:
        result = runner.invoke(app, ["analytics", "detect", str(picture), "--json", *extra])
        assert result.exit_code == 0, result.output
        (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
        return {d["class"] for d in line["detections"]}

    assert "person" in classes()  # the global configuration
    assert "person" not in classes("--camera", str(road))
    unknown = runner.invoke(app, ["analytics", "detect", str(picture), "--camera", str(uuid.uuid4())])
    assert unknown.exit_code == 1 and "no camera" in unknown.stderr
