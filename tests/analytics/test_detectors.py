"""Detectors on real pictures: they must find what is there, where it is, and refuse what is not a picture."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from safecity.analytics import catalog
from safecity.analytics.detectors import Detector, InvalidFrame, build_detector, detector_types
from safecity.analytics.detectors.yolo import corrected_cfg
from safecity.analytics.types import CLASS_IDS, PERSON, VEHICLES, Detections, class_name, non_max_suppression

# Where things are in darknet's dog.jpg (768x576), by eye: the bicycle, the pickup truck, the dog.
BICYCLE = (125, 130, 565, 425)
TRUCK = (465, 77, 690, 170)
DOG = (130, 215, 315, 540)


def iou(a: np.ndarray | tuple[float, ...], b: tuple[float, ...]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area)


def best_match(found: Detections, classes: set[int], truth: tuple[float, ...]) -> float:
    return max(
        (iou(box, truth) for box, c in zip(found.boxes, found.classes, strict=True) if c in classes),
        default=0,
    )


@pytest.fixture(scope="module")
def ssd() -> Detector:
    return build_detector({"type": "ssd_mobilenet_v2"})


@pytest.fixture(scope="module")
def yolo() -> Detector:
    return build_detector({"type": "yolov3_tiny", "min_score": 0.3})


def test_both_detectors_are_registered() -> None:
    assert {"ssd_mobilenet_v2", "yolov3_tiny"} <= set(detector_types())
    with pytest.raises(ValueError, match="no detector of type 'nope'"):
        build_detector({"type": "nope"})


def test_ssd_finds_the_bicycle_and_the_truck_in_dog_jpg(ssd: Detector, dog_image: np.ndarray) -> None:
    found = ssd.detect(dog_image)
    assert best_match(found, {CLASS_IDS["bicycle"]}, BICYCLE) > 0.6
    assert best_match(found, set(VEHICLES), TRUCK) > 0.6
    # The truck is reported once, whatever the model thought it was.
    assert (
        sum(iou(b, TRUCK) > 0.5 for b, c in zip(found.boxes, found.classes, strict=True) if c in VEHICLES)
        == 1
    )
    assert not np.isin(found.classes, [PERSON]).any()  # nobody is in the picture


def test_yolo_finds_the_truck_and_the_dog_with_boxes_of_the_right_size(
    yolo: Detector, dog_image: np.ndarray
) -> None:
    found = yolo.detect(dog_image)
    assert best_match(found, set(VEHICLES), TRUCK) > 0.6
    assert best_match(found, {CLASS_IDS["dog"]}, DOG) > 0.5


def test_the_shipped_yolo_cfg_is_corrected_once() -> None:
    shipped = "[yolo]\nmask = 3,4,5\n[yolo]\nmask = 0,1,2\n"
    fixed = corrected_cfg(shipped)
    assert fixed == "[yolo]\nmask = 3,4,5\n[yolo]\nmask = 1,2,3\n"
    assert corrected_cfg(fixed) == fixed


def test_ssd_finds_the_motorcycle(ssd: Detector, motorcycle_image: np.ndarray) -> None:
    found = ssd.detect(motorcycle_image)
    scores = found.scores[found.classes == CLASS_IDS["motorcycle"]]
    assert scores.size == 1
    assert scores[0] > 0.9


def test_ssd_finds_several_people_in_every_cctv_frame(
    ssd: Detector, pedestrian_frames: list[np.ndarray]
) -> None:
    people = [int((ssd.detect(frame).classes == PERSON).sum()) for frame in pedestrian_frames]
    assert min(people) >= 2, people
    assert np.median(people) >= 4, people


def test_vehicle_classes_are_merged_but_a_rider_keeps_their_motorcycle() -> None:
    car, truck, motorcycle = CLASS_IDS["car"], CLASS_IDS["truck"], CLASS_IDS["motorcycle"]
    raw = Detections.of(
        [[100, 100, 300, 200], [105, 102, 298, 205], [400, 300, 460, 400], [398, 260, 462, 390]],
        [0.57, 0.75, 0.9, 0.8],
        [truck, car, motorcycle, PERSON],
    )
    kept = non_max_suppression(raw)
    assert [class_name(int(c)) for c in kept.classes] == ["motorcycle", "person", "car"]  # best score first
    assert kept.scores.tolist() == pytest.approx([0.9, 0.8, 0.75])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "numpy array"),
        (np.zeros((0, 0, 3), np.uint8), "not a camera picture"),
        (np.zeros((480, 640), np.uint8), "height x width x 3"),
        (np.zeros((480, 640, 4), np.uint8), "height x width x 3"),
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.frombuffer(b"\xff\xd8\xff\xe0 not really a jpeg", np.uint8), "height x width x 3"),
    ],
)
def test_what_is_not_a_picture_is_refused(ssd: Detector, image: object, message: str) -> None:
    with pytest.raises(InvalidFrame, match=message):
        ssd.detect(image)  # type: ignore[arg-type]


def test_a_model_file_that_is_not_the_one_we_know_is_refused() -> None:
    model = catalog.spec("ssd_mobilenet_v2")
    tampered = dataclasses.replace(
        model, files=(dataclasses.replace(model.files[1], sha256="0" * 64), *model.files[:1])
    )
    with pytest.raises(catalog.ModelUnavailable, match="expected 0000"):
        catalog.locate(tampered)
    missing = dataclasses.replace(model, package="safecity_no_such_models")
    with pytest.raises(catalog.ModelUnavailable, match="not installed"):
        catalog.locate(missing)
