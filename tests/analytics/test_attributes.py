"""Colour, size and motion measured from pixels and paths; riders folded into their two-wheeler."""

from __future__ import annotations

import numpy as np
import pytest

from safecity.analytics.attributes import COLOURS, dominant_colour, motion, size, with_colours
from safecity.analytics.riders import merge_riders
from safecity.analytics.types import CLASS_IDS, PERSON, Detections

CAR, MOTORCYCLE = CLASS_IDS["car"], CLASS_IDS["motorcycle"]
TRUCK = (465, 77, 690, 170)  # the white pickup in darknet's dog.jpg, by eye


def test_the_white_pickup_in_dog_jpg_is_white(dog_image: np.ndarray) -> None:
    name, confidence = dominant_colour(dog_image, TRUCK, CAR)
    assert name == "white"
    assert confidence > 0.5


def test_the_red_motorcycle_photo_is_red(motorcycle_image: np.ndarray) -> None:
    # scikit-image's stereo motorcycle is a red machine in a workshop.
    height, width = motorcycle_image.shape[:2]
    name, _ = dominant_colour(
        motorcycle_image, (0.15 * width, 0.2 * height, 0.85 * width, 0.9 * height), MOTORCYCLE
    )
    assert name == "red"


@pytest.mark.parametrize(
    ("bgr", "expected"),
    [
        ((30, 30, 200), "red"),
        ((200, 60, 20), "blue"),
        ((40, 160, 40), "green"),
        ((20, 210, 230), "yellow"),
        ((0, 120, 240), "orange"),
        ((245, 245, 245), "white"),
        ((25, 25, 25), "black"),
        ((110, 110, 110), "grey"),
        ((175, 175, 175), "silver"),
        ((30, 60, 100), "brown"),
    ],
)
def test_painted_bodies_with_dark_windows_are_named_by_their_paint(
    bgr: tuple[int, int, int], expected: str
) -> None:
    frame = np.full((200, 300, 3), 90, np.uint8)  # grey road around the car
    frame[50:150, 50:250] = bgr
    frame[60:90, 90:210] = 15  # windscreen
    name, confidence = dominant_colour(frame, (50, 50, 250, 150), CAR)
    assert name == expected
    assert name in COLOURS and 0 < confidence <= 1


def test_a_box_too_small_has_no_colour_and_colours_go_on_road_users_only(dog_image: np.ndarray) -> None:
    assert dominant_colour(dog_image, (10, 10, 13, 13), CAR) == (None, 0.0)
    found = with_colours(
        dog_image, Detections.of([TRUCK, [130, 215, 315, 540]], [0.9, 0.8], [CAR, CLASS_IDS["dog"]])
    )
    assert found.attributes[0]["colour"] == "white"
    assert found.attributes[1] == {}


def test_direction_and_speed_come_from_the_path_and_size_from_the_box() -> None:
    # Bottom centre moving from (0.5, 0.8) to (0.5, 0.6) of a 1000x500 frame in 2 s: up, 50 px/s.
    path = [(t, 0.5, 0.8 - 0.1 * t) for t in (0.0, 0.5, 1.0, 1.5, 2.0)]
    assert motion(path, (1000, 500)) == {"direction": "up", "heading_deg": 0, "speed_px_s": 50.0}
    right = motion([(0.0, 0.1, 0.5), (1.0, 0.3, 0.5)], (1000, 500))
    assert (right["direction"], right["heading_deg"], right["speed_px_s"]) == ("right", 90, 200.0)
    assert motion([(0.0, 0.5, 0.5), (1.0, 0.5, 0.5)], (1000, 500))["direction"] is None
    assert size((10, 20, 110, 70), (1000, 500)) == {"width_px": 100, "height_px": 50, "frame_fraction": 0.01}


def test_a_rider_becomes_part_of_the_motorcycle_and_a_pedestrian_beside_it_does_not() -> None:
    found = Detections.of(
        [
            [400, 330, 470, 400],  # motorcycle
            [405, 260, 460, 380],  # its rider: head above, legs down into the machine
            [520, 250, 560, 400],  # someone walking past, beside it
            [100, 100, 140, 200],  # a pedestrian far away
        ],
        [0.8, 0.9, 0.7, 0.6],
        [MOTORCYCLE, PERSON, PERSON, PERSON],
    )
    merged = merge_riders(found)
    assert merged.classes.tolist() == [MOTORCYCLE, PERSON, PERSON]
    assert merged.boxes[0].tolist() == [400, 260, 470, 400]  # machine and rider, one road user
    assert merged.attributes[0] == {"riders": 1, "rider_boxes": [[405, 260, 460, 380]]}
    assert merge_riders(found.take([1, 2, 3])).classes.tolist() == [PERSON] * 3  # no machine: no rider
