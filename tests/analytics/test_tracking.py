"""The tracker: stable ids at 5 fps, paths and times, class by majority, expiry."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from safecity.analytics.tracking import Track, Tracker
from safecity.analytics.types import CLASS_IDS, PERSON, Detections

FRAME = (1280, 720)
START = dt.datetime(2025, 3, 5, 12, 0, tzinfo=dt.UTC)
CAR, TRUCK = CLASS_IDS["car"], CLASS_IDS["truck"]


def box(cx: float, bottom: float, width: float = 60, height: float = 120) -> list[float]:
    """A pixel box standing on (cx, bottom)."""
    return [cx - width / 2, bottom - height, cx + width / 2, bottom]


def feed(
    tracker: Tracker,
    frame: int,
    boxes: list[list[float]],
    classes: list[int] | None = None,
    score: float = 0.9,
) -> tuple[Detections, list[Track]]:
    """Give the tracker frame number `frame` (5 fps) with these boxes."""
    at = frame / 5
    detections = Detections.of(boxes, [score] * len(boxes), classes or [PERSON] * len(boxes))
    return tracker.update(detections, at=at, wall=START + dt.timedelta(seconds=at), frame_size=FRAME)


def test_two_people_crossing_keep_their_ids() -> None:
    tracker = Tracker(fps=5.0)
    ids_a, ids_b = [], []
    for frame in range(20):
        # A runs right, B runs left 50 px lower; they pass each other around frame 10. At 5 fps each moves
        # 55 px (almost a body width: boxes of one object in consecutive frames hardly overlap) between
        # frames. B is listed first on odd frames.
        a, b = box(100 + 55 * frame, 400), box(1180 - 55 * frame, 450)
        swapped = frame % 2 == 1
        detections, updated = feed(tracker, frame, [b, a] if swapped else [a, b])
        id_b, id_a = detections.track_ids if swapped else detections.track_ids[::-1]
        ids_a.append(int(id_a))
        ids_b.append(int(id_b))
        assert {t.track_id for t in updated} == ({int(id_a), int(id_b)} - {-1})
    # Unconfirmed on the first frame, then one id each, all the way.
    assert ids_a[0] == ids_b[0] == -1
    assert len(set(ids_a[1:])) == 1
    assert len(set(ids_b[1:])) == 1
    assert ids_a[1] != ids_b[1]


def test_track_keeps_path_times_and_position() -> None:
    tracker = Tracker(fps=5.0)
    for frame in range(6):
        _, updated = feed(tracker, frame, [box(320 + 10 * frame, 360)])
    (track,) = updated
    assert track.first_seen == pytest.approx(0.2)  # confirmed on the second frame: that is where it starts
    assert track.last_seen == pytest.approx(1.0)
    assert track.first_wall == START + dt.timedelta(seconds=0.2)
    assert track.last_wall == START + dt.timedelta(seconds=1.0)
    assert track.position == pytest.approx((370 / 1280, 360 / 720))
    assert [round(x * 1280) for _, x, _ in track.path] == [330, 340, 350, 360, 370]
    assert [t for t, _, _ in track.path] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(track.box, box(370, 360))
    assert track.score == pytest.approx(0.9)
    assert tracker.active() == [track]


def test_path_is_bounded() -> None:
    tracker = Tracker(fps=5.0, path_length=4)
    for frame in range(10):
        _, updated = feed(tracker, frame, [box(320, 360)])
    assert len(updated[0].path) == 4
    assert updated[0].path[0][0] == pytest.approx(1.2)


def test_class_is_the_majority_vote() -> None:
    tracker = Tracker(fps=5.0)
    classes = [CAR, CAR, CAR, TRUCK, CAR, TRUCK, TRUCK]
    seen = []
    for frame, class_id in enumerate(classes):
        detections, updated = feed(tracker, frame, [box(500, 500, 200, 120)], [class_id])
        assert detections.classes[0] == class_id  # the detections themselves keep what was detected
        seen.append(updated[0].class_id if updated else None)
    # Confirmed from frame 1: car 3-0, 3-1, 4-1, 4-2, then a 4-3 majority still says car.
    assert seen == [None, CAR, CAR, CAR, CAR, CAR, CAR]
    for frame in range(7, 9):
        _, updated = feed(tracker, frame, [box(500, 500, 200, 120)], [TRUCK])
    assert updated[0].class_id == TRUCK  # 5 trucks to 4 cars


def test_lost_track_expires_and_a_newcomer_gets_a_new_id() -> None:
    tracker = Tracker(fps=5.0, lost_after_s=2.0)
    for frame in range(3):
        detections, _ = feed(tracker, frame, [box(640, 400)])
    first_id = int(detections.track_ids[0])
    for frame in range(3, 14):  # 2.2 s without it
        detections, updated = feed(tracker, frame, [])
        assert len(detections) == 0
        assert updated == []
    assert tracker.active() == []
    assert tracker.expire(1.4) == []  # unseen for 1.0 s: not yet
    (gone,) = tracker.expire(2.8)
    assert gone.track_id == first_id
    assert tracker.expire(3.0) == []
    for frame in range(14, 16):
        detections, _ = feed(tracker, frame, [box(640, 400)])
    assert detections.track_ids[0] not in (-1, first_id)


def test_short_gap_keeps_the_id() -> None:
    tracker = Tracker(fps=5.0, lost_after_s=2.0)
    for frame in range(3):
        detections, _ = feed(tracker, frame, [box(640, 400)])
    before = int(detections.track_ids[0])
    feed(tracker, 3, [])
    feed(tracker, 4, [])
    detections, updated = feed(tracker, 5, [box(650, 400)])
    assert detections.track_ids[0] == before
    assert updated[0].track_id == before


def test_weak_detection_starts_no_track_and_empty_frames_are_fine() -> None:
    tracker = Tracker(fps=5.0)
    detections, updated = feed(tracker, 0, [])
    assert len(detections) == 0
    assert updated == []
    for frame in range(1, 5):
        detections, updated = feed(tracker, frame, [box(640, 400)], score=0.3)
        assert list(detections.track_ids) == [-1]
        assert updated == []
    assert tracker.active() == []
