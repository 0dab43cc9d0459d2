"""Plane geometry for the rules: sides of a line in image coordinates, segments, polygons."""

from __future__ import annotations

import math

import pytest

from safecity.analytics.geometry import cosine, distance, inside_polygon, segments_intersect, side

DOWN = ((0.5, 0.0), (0.5, 1.0))  # a line drawn down the middle of the picture
SQUARE = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]


def test_side_follows_a_walker_on_the_picture() -> None:
    # Walking down the picture, the picture's right-hand half is on the walker's left: negative.
    assert side(*DOWN, (0.8, 0.5)) == pytest.approx(-0.3)
    assert side(*DOWN, (0.2, 0.5)) == pytest.approx(0.3)
    assert side(*DOWN, (0.5, 0.7)) == 0
    # Walking right along the picture, up (smaller y) is on the left.
    assert side((0.0, 0.5), (1.0, 0.5), (0.3, 0.2)) < 0


@pytest.mark.parametrize(
    ("p1", "p2", "expected"),
    [
        ((0.2, 0.5), (0.8, 0.5), True),  # straight through
        ((0.2, 0.5), (0.4, 0.5), False),  # stops short
        ((0.2, 1.2), (0.8, 1.2), False),  # crosses the infinite line below the segment's end
        ((0.2, 1.0), (0.8, 1.0), True),  # through the end point
        ((0.2, 0.5), (0.5, 0.5), True),  # ends on the segment
        ((0.5, 0.2), (0.5, 0.4), True),  # collinear and overlapping
        ((0.5, 1.1), (0.5, 1.4), False),  # collinear beyond the end
    ],
)
def test_segments_intersect(p1: tuple[float, float], p2: tuple[float, float], expected: bool) -> None:
    assert segments_intersect(p1, p2, *DOWN) is expected
    assert segments_intersect(*DOWN, p1, p2) is expected


def test_inside_polygon_square_and_concave() -> None:
    assert inside_polygon((0.5, 0.5), SQUARE)
    assert not inside_polygon((0.9, 0.5), SQUARE)
    assert not inside_polygon((0.5, 0.1), SQUARE)
    # A U shape: the notch between its arms is outside.
    u_shape = [(0.1, 0.1), (0.3, 0.1), (0.3, 0.6), (0.7, 0.6), (0.7, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
    assert not inside_polygon((0.5, 0.3), u_shape)
    assert inside_polygon((0.2, 0.3), u_shape)
    assert inside_polygon((0.5, 0.8), u_shape)


def test_distance_and_cosine() -> None:
    assert distance((0.0, 0.0), (0.3, 0.4)) == pytest.approx(0.5)
    assert cosine((1.0, 0.0), (-2.0, 0.0)) == pytest.approx(-1.0)
    assert cosine((1.0, 1.0), (0.0, 1.0)) == pytest.approx(math.sqrt(0.5))
