"""The demo's red-light camera: the signal head drawn on the ANPR entry footage is read by the real lamp
reader through the lamp region `safecity demo` seeds, and the seeded stop line and red-light rule, run over
that footage by the real detector and tracker, make a violation of the one vehicle crossing on red only.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from violation_world import event, vehicle

from conftest import missing_part
from safecity import seed
from safecity.analytics.flows import configured_detector
from safecity.analytics.pipeline import CameraInfo
from safecity.analytics.replay import Picture, ReplayEvent, file_pictures, replay
from safecity.analytics.schemas import rule_adapter
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import (
    EnforcementRule,
    Offence,
    Signal,
    SignalLight,
    SignalSource,
    ViolationStatus,
)
from safecity.traffic.violations.signals import LampTracker, read_lamp
from safecity.video import demo

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
ENTRY = demo.PLATE_VIEWS[0]
HEAD = ENTRY.signal
CAMERA = "University Road ANPR Entry"


def _camera_spec() -> dict[str, object]:
    cameras = tomllib.loads(seed.DEMO_FILE.read_text(encoding="utf-8"))["cameras"]
    found: dict[str, object] = next(c for c in cameras if c["name"] == CAMERA)
    return found


@pytest.mark.parametrize("light", ["red", "amber", "green"])
def test_the_lamp_reader_reads_the_demo_signal_head_on_the_real_square(
    empty_square: np.ndarray, light: str
) -> None:
    assert HEAD is not None
    picture = demo.with_signal_head(empty_square, HEAD, light)
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 70])  # as a camera's picture
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    reading = read_lamp(decoded, HEAD.region)
    assert reading.light == SignalLight(light), reading.shares
    # Outside the head the square shows no lit lamp at all.
    assert read_lamp(decoded, [(0.3, 0.05), (0.4, 0.05), (0.4, 0.3), (0.3, 0.3)]).light == SignalLight.OFF


@dataclass(frozen=True)
class Replayed:
    """What the real pipeline made of the demo's entry footage: the stop line's crossings, and the signal's
    changes as the lamp watcher takes them from the same frames.
    """

    crossings: list[ReplayEvent]
    changes: list[tuple[SignalLight, dt.datetime]]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    for path, package in (
        (demo.VTEST, "opencv-doc"),
        (demo.PHOTO, "darknet"),
        (demo.FONT, "fonts-dejavu-core"),
    ):
        if not path.is_file():
            missing_part(str(path), f"run `make test-deps` as root (apt-get install {package})")
    assert HEAD is not None
    (clip,) = demo.make_plate_clips(tmp_path_factory.mktemp("demo"), views=(ENTRY,))
    stop_line = next(r for r in _camera_spec()["rules"] if r["kind"] == "line_crossing")  # type: ignore[attr-defined]
    settings = Settings()
    tracker = LampTracker()
    changes: list[tuple[SignalLight, dt.datetime]] = []

    def lamps(picture: Picture) -> None:  # what LampWatcher does with a camera's newest frame
        change = tracker.observe(read_lamp(picture.image, HEAD.region).light, picture.wall)
        if change is not None:
            changes.append(change)

    crossings: list[ReplayEvent] = []
    replay(
        file_pictures(clip, fps=settings.video.analytics_fps, start=T0),
        camera=CameraInfo(uuid.uuid4(), CAMERA, None),
        rules=[(uuid.uuid4(), rule_adapter.validate_python(stop_line))],
        detector=configured_detector(settings.analytics),
        settings=settings,
        on_event=crossings.append,
        on_frame=lamps,
        speed=0,
    )
    return Replayed(crossings, changes)


def _plate_at(offset_s: float) -> str:
    """The pass on screen at this moment of the clip."""
    return next(p.plate for p in ENTRY.passes if p.at_s <= offset_s < p.at_s + demo.DRIVE_S)


def test_the_seeded_red_light_camera_makes_a_violation_only_of_the_vehicle_crossing_on_red(
    session: Session, settings: Settings, replayed: Replayed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo seeded without its footage (nothing to encode here): its signal, stop line and rule.
    monkeypatch.setattr(demo, "VTEST", settings.data_dir / "not-installed.avi")
    seed.demo(session=session, settings=settings)
    camera = session.scalars(select(Camera).where(Camera.name == CAMERA)).one()
    (signal,) = session.scalars(select(Signal).where(Signal.camera_id == camera.id)).all()
    assert HEAD is not None and (signal.source, signal.lamp_region) == (
        SignalSource.LAMP,
        [list(point) for point in HEAD.region],
    )
    (rule,) = session.scalars(select(EnforcementRule).where(EnforcementRule.camera_id == camera.id)).all()
    assert (rule.offence, rule.signal_id, rule.enabled) == (Offence.RED_LIGHT, signal.id, True)
    assert rule.analytics_rule_id is not None

    # The lamps cycle green, amber, red twice a minute, each change as the clip has it.
    assert [light.value for light, _ in replayed.changes] == ["green", "amber", "red"] * 2
    for light, since in replayed.changes[1:]:
        offset = (since - T0).total_seconds()
        # Dated within a frame of the clip's change (a change away from red: just after red was last seen).
        assert HEAD.light_at(offset + 0.25) == light.value and HEAD.light_at(offset - 0.25) != light.value
        violations.record_state(session=session, signal_id=signal.id, light=light, at=since, source="lamp")
    green = replayed.changes[0]
    violations.record_state(session=session, signal_id=signal.id, light=green[0], at=green[1], source="lamp")

    # Every vehicle crosses the stop line once a pass, driving left to right, two seconds into its pass.
    assert [(_plate_at(c.offset_s), c.direction) for c in replayed.crossings] == [
        (p.plate, "right_to_left") for p in ENTRY.passes
    ]
    for crossing in replayed.crossings:
        plate = _plate_at(crossing.offset_s)
        pass_at = next(p.at_s for p in ENTRY.passes if p.plate == plate)
        assert abs(crossing.offset_s - pass_at - demo.STOP_LINE_S) <= 0.5
    made = {}
    for crossing in replayed.crossings:
        found = event(
            camera,
            rule.analytics_rule_id,
            "line_crossing",
            crossing.at,
            [vehicle(crossing.track_id, [82, 380, 470, 547], crossing.class_name)],
            {"direction": crossing.direction},
        )
        made[_plate_at(crossing.offset_s)] = violations.from_event(
            session=session, event=found, max_signal_age_s=settings.challans.signal_max_age_s
        )
    # Green and amber are no offence; ABC-123, well into the red, is.
    assert {plate: len(rows) for plate, rows in made.items()} == {"LEA-1234": 0, "ABC-123": 1, "LXR-9021": 0}
    (violation,) = made["ABC-123"]
    assert violation.status == ViolationStatus.COLLECTING and violation.rule_id == rule.id
    assert violation.measured["light"] == "red" and violation.measured["source"] == "lamp"
    assert 5 <= violation.measured["seconds_into_red"] <= 9
    assert violation.measured["detected_class"] in {"car", "truck"}
