"""Detection on tiles: small road users the squeezed whole frame misses, and tile duplicates merged back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from safecity.analytics.detectors import DetectorConfig, build_detector
from safecity.analytics.regions import drop_fragments, plan, touches_inner_edge
from safecity.analytics.types import CLASS_IDS, Detections, non_max_suppression

MOTORCYCLE = CLASS_IDS["motorcycle"]
HORSES_JPG = "/usr/share/darknet/data/horses.jpg"


def settings(**changes: object) -> DetectorConfig:
    return DetectorConfig.model_validate({"type": "x", **changes})


def test_a_16_9_frame_is_cut_into_two_overlapping_square_ish_tiles() -> None:
    left, right = plan(1280, 720, settings())
    assert left[:2] == (0, 0) and right[2:] == (1280, 720)
    assert left[3] == right[3] == 720
    assert 0 < left[2] - right[0] < 0.15 * 1280  # they overlap, a little
    assert plan(768, 576, settings()) == [(0, 0, 768, 576)]  # 4:3 is one tile: the whole frame
    assert [r[3] - r[1] for r in plan(720, 1280, settings())] == [674, 674]  # portrait: stacked
    assert plan(1280, 720, settings(whole_frame=True))[0] == (0, 0, 1280, 720)
    assert plan(1280, 720, settings(tiling=False)) == [(0, 0, 1280, 720)]
    assert len(plan(1920, 1080, settings(tile_grid=(3, 2)))) == 6


def test_tiles_find_a_motorcycle_the_squeezed_whole_frame_misses(motorcycle_image: np.ndarray) -> None:
    background = cv2.imread(HORSES_JPG)
    if background is None:
        pytest.skip("darknet's sample pictures are not installed (Debian package darknet)")
    frame = cv2.resize(background, (1280, 720))
    small = cv2.resize(motorcycle_image, (260, 175), interpolation=cv2.INTER_AREA)  # the machine ~185 px
    frame[400:575, 150:410] = small
    road_users = ["bicycle", "bus", "car", "motorcycle", "truck"]
    whole = build_detector(
        {"type": "ssd_mobilenet_v2", "min_score": 0.3, "tiling": False, "classes": road_users}
    )
    tiled = build_detector({"type": "ssd_mobilenet_v2", "min_score": 0.3, "classes": road_users})
    assert MOTORCYCLE not in whole.detect(frame).classes
    found = tiled.detect(frame)
    motorcycles = found.boxes[found.classes == MOTORCYCLE]
    assert len(motorcycles) == 1
    x1, y1, x2, y2 = motorcycles[0]
    assert 140 <= x1 < x2 <= 420 and 390 <= y1 < y2 <= 585  # where it was put


def test_duplicates_from_overlapping_tiles_and_cut_pieces_become_one_object() -> None:
    car, truck = CLASS_IDS["car"], CLASS_IDS["truck"]
    found = Detections.of(
        [
            [600, 300, 700, 360],  # a car in the overlap, seen by both tiles...
            [602, 301, 699, 362],  # ...once as a truck
            [500, 400, 674, 460],  # a bus cut by the left tile's right edge (at 674)...
            [606, 398, 760, 462],  # ...and by the right tile's left edge (at 606)
            [606, 100, 640, 150],  # a piece of a car whose whole the left tile saw
            [560, 98, 660, 152],
        ],
        [0.9, 0.6, 0.8, 0.7, 0.5, 0.85],
        [car, truck, truck, truck, car, car],
    )
    left, right = (0, 0, 674, 720), (606, 0, 1280, 720)
    cut = np.zeros(len(found), dtype=bool)
    cut[2] = touches_inner_edge(found.boxes[2:3] - [0, 0, 0, 0], left, 1280, 720)[0]
    cut[[3, 4]] = touches_inner_edge(found.boxes[[3, 4]] - [606, 0, 606, 0], right, 1280, 720)
    assert cut.tolist() == [False, False, True, True, True, False]
    keep = non_max_suppression(found.take(np.arange(len(found))))  # the car/truck pair merges
    order = [int(np.flatnonzero((found.boxes == b).all(axis=1))[0]) for b in keep.boxes]
    merged = drop_fragments(keep, cut[order])
    assert merged.boxes.tolist() == [[600, 300, 700, 360], [560, 98, 660, 152], [500, 398, 760, 462]]
