"""The analytics pipeline on clips made from real footage: a real person and a real truck moved across a
real empty square, encoded as H.264 and decoded, run through motion gating, the SSD detector, ByteTrack
and the rules. Each rule must fire exactly when it should.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import numpy as np
import pytest
from footage import moving, scene, through_h264

from safecity.analytics.detectors import Detector, build_detector
from safecity.analytics.pipeline import CameraAnalytics, CameraInfo, Hit, InferenceQueue, InferenceWorker
from safecity.analytics.schemas import RuleConfig, rule_adapter
from safecity.video.ingest import Frame, FrameSlot

FPS = 5
T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)  # 15:00 in Peshawar
# A line drawn down the middle of the square: walking left to right across it is "right_to_left" (the
# side seen by someone standing at its first point facing its second, as rules.py documents).
LINE = {"kind": "line_crossing", "name": "Gate", "line": [[0.5, 0.3], [0.5, 0.95]]}
RIGHT_HALF = [[0.55, 0.3], [0.98, 0.3], [0.98, 0.98], [0.55, 0.98]]
TOP_LEFT = [[0.02, 0.02], [0.3, 0.02], [0.3, 0.25], [0.02, 0.25]]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector({"type": "ssd_mobilenet_v2"})


def rules(*configs: dict[str, object]) -> list[tuple[uuid.UUID, RuleConfig]]:
    return [(uuid.uuid4(), rule_adapter.validate_python(c)) for c in configs]


def run(
    detector: Detector,
    frames: Sequence[np.ndarray],
    configs: list[tuple[uuid.UUID, RuleConfig]],
) -> tuple[list[Hit], CameraAnalytics]:
    """Feed the frames at FPS through one camera's analytics, the detector run in step; the hits."""
    hits: list[Hit] = []
    queue = InferenceQueue()
    camera = CameraAnalytics(
        CameraInfo(uuid.uuid4(), "Square", None),
        FrameSlot(),
        queue,
        configs,
        sink=hits.append,
        timezone="Asia/Karachi",
        fps=FPS,
        keepalive_s=2.0,
        motion_threshold=0.002,
    )
    worker = InferenceWorker(detector, queue)
    for i, image in enumerate(frames):
        moment = i / FPS
        frame = Frame(
            image, seq=i + 1, captured_at=T0 + dt.timedelta(seconds=moment), monotonic=1000 + moment
        )
        if camera.offer(frame):
            job = queue.get(timeout=0)
            assert job is not None
            worker.run_one(job)
    return hits, camera


def fired(hits: list[Hit], name: str) -> list[Hit]:
    return [h for h in hits if h.firing.rule.name == name]


def still(frames: list[np.ndarray], n: int) -> list[np.ndarray]:
    return frames + [frames[-1]] * n


def test_a_walker_crossing_the_line_fires_the_rule_for_that_direction_only(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    configs = rules(
        {**LINE, "name": "Eastbound", "direction": "right_to_left"},
        {**LINE, "name": "Westbound", "direction": "left_to_right"},
        {**LINE, "name": "Any", "direction": "both"},
    )
    east = through_h264(moving(empty_square, walker, (0.15, 0.7), (0.85, 0.7), 30))
    hits, _ = run(detector, east, configs)
    assert [h.firing.rule.name for h in hits] == ["Eastbound", "Any"]
    assert all(h.firing.detail == {"direction": "right_to_left"} for h in hits)
    (crossing,) = fired(hits, "Eastbound")
    assert [o["class"] for o in crossing.objects.as_dicts()] == ["person"]
    # It fired when the walker was at the line, not before or long after.
    x1, _, x2, _ = crossing.objects.boxes[0]
    assert 0.4 < (x1 + x2) / 2 / empty_square.shape[1] < 0.65

    west = through_h264(moving(empty_square, walker, (0.85, 0.7), (0.15, 0.7), 30))
    hits, _ = run(detector, west, configs)
    assert [h.firing.rule.name for h in hits] == ["Westbound", "Any"]


def test_walking_beside_the_line_without_crossing_it_fires_nothing(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    along = through_h264(moving(empty_square, walker, (0.2, 0.5), (0.4, 0.95), 25))
    hits, camera = run(detector, along, rules({**LINE, "direction": "both"}))
    assert hits == []
    assert camera.events == 0


def test_entering_a_zone_fires_once_and_a_zone_nobody_enters_stays_quiet(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    configs = rules(
        {"kind": "zone_intrusion", "name": "Right half", "zone": RIGHT_HALF},
        {"kind": "zone_intrusion", "name": "Top left", "zone": TOP_LEFT},
    )
    frames = still(through_h264(moving(empty_square, walker, (0.2, 0.8), (0.8, 0.8), 25)), 10)
    hits, _ = run(detector, frames, configs)
    assert [h.firing.rule.name for h in hits] == ["Right half"]


def test_loitering_fires_after_the_dwell_and_not_before(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    # The walker comes into the right half and stands there for 8 s.
    frames = through_h264(still(moving(empty_square, walker, (0.3, 0.8), (0.75, 0.8), 15), 40))
    configs = rules(
        {"kind": "loitering", "name": "Five seconds", "zone": RIGHT_HALF, "dwell_s": 5},
        {"kind": "loitering", "name": "A minute", "zone": RIGHT_HALF, "dwell_s": 60},
    )
    hits, _ = run(detector, frames, configs)
    assert [h.firing.rule.name for h in hits] == ["Five seconds"]
    assert hits[0].firing.detail["dwell_s"] >= 5
    assert hits[0].frame.captured_at - T0 < dt.timedelta(seconds=11)


def test_a_truck_driving_against_the_arrow_is_wrong_way_and_with_it_is_not(
    detector: Detector, empty_square: np.ndarray, pickup: np.ndarray
) -> None:
    road = [[0.02, 0.4], [0.98, 0.4], [0.98, 0.98], [0.02, 0.98]]
    eastward = {
        "kind": "wrong_way",
        "name": "One way east",
        "zone": road,
        "direction": [[0.2, 0.7], [0.8, 0.7]],
    }
    westbound = through_h264(moving(empty_square, pickup, (0.85, 0.75), (0.15, 0.75), 30))
    hits, _ = run(detector, westbound, rules(eastward))
    assert [h.firing.rule.name for h in hits] == ["One way east"]
    assert {o["class"] for o in hits[0].objects.as_dicts()} <= {"car", "truck", "bus"}

    eastbound = through_h264(moving(empty_square, pickup, (0.15, 0.75), (0.85, 0.75), 30))
    hits, _ = run(detector, eastbound, rules(eastward))
    assert hits == []


def test_a_truck_stopping_in_the_no_parking_zone_fires_after_the_dwell(
    detector: Detector, empty_square: np.ndarray, pickup: np.ndarray
) -> None:
    no_parking = [[0.5, 0.55], [0.98, 0.55], [0.98, 0.98], [0.5, 0.98]]
    rule = {"kind": "stopped_vehicle", "name": "No parking", "zone": no_parking, "dwell_s": 6}
    stops = through_h264(still(moving(empty_square, pickup, (0.2, 0.8), (0.75, 0.8), 12), 45))
    hits, camera = run(detector, stops, rules(rule))
    assert [h.firing.rule.name for h in hits] == ["No parking"]
    # Once it stood still, the detector ran only at the keep-alive rate.
    assert camera.gate.motion <= camera.gate.threshold

    drives_through = through_h264(moving(empty_square, pickup, (0.15, 0.8), (0.85, 0.8), 30))
    hits, _ = run(detector, drives_through, rules(rule))
    assert hits == []


def test_a_crowd_fires_above_its_count_only(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    spots = [(0.62, 0.62), (0.74, 0.66), (0.86, 0.62), (0.66, 0.86)]
    frames = [scene(empty_square, *((walker, s) for s in spots[: 1 + i // 8])) for i in range(40)]
    configs = rules(
        {"kind": "crowd", "name": "More than three", "zone": RIGHT_HALF, "max_count": 3},
        {"kind": "crowd", "name": "More than four", "zone": RIGHT_HALF, "max_count": 4},
    )
    hits, _ = run(detector, through_h264(frames), configs)
    assert [h.firing.rule.name for h in hits] == ["More than three"]
    assert hits[0].firing.detail["count"] == 4


def test_frames_that_are_not_pictures_are_refused_and_the_camera_carries_on(
    detector: Detector, empty_square: np.ndarray, walker: np.ndarray
) -> None:
    frames: list[np.ndarray] = through_h264(moving(empty_square, walker, (0.15, 0.7), (0.85, 0.7), 30))
    frames[3] = np.zeros((576, 768), np.uint8)  # grey, not colour
    frames[6] = np.zeros((0, 768, 3), np.uint8)  # empty
    frames[9] = np.frombuffer(b"corrupt!" * 100, np.uint8).reshape(20, 40)  # bytes, not an image
    hits, camera = run(detector, frames, rules({**LINE, "direction": "both"}))
    assert camera.rejected == 3
    assert "frame refused" in (camera.last_error or "")
    assert len(hits) == 1  # the walker was still seen crossing


def test_motion_gating_sends_few_frames_of_a_still_scene_to_the_detector(
    detector: Detector, empty_square: np.ndarray
) -> None:
    rng = np.random.default_rng(7)
    noisy = [
        np.clip(empty_square.astype(np.int16) + rng.normal(0, 2, empty_square.shape), 0, 255).astype(np.uint8)
        for _ in range(100)
    ]
    _, camera = run(detector, through_h264(noisy), rules(LINE))
    detected = camera.stats(1000 + 99 / FPS).detect_fps * 10  # the last 10 s: 50 frames
    assert detected <= 0.1 * 50
