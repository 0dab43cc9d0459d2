"""Plane geometry on normalised image coordinates (x right, y down, both 0..1) for the rules.

Image coordinates are left-handed: y grows downward. "Left of a line" is therefore defined the way a
person standing on the picture at the line's first point and facing its second point would see it
(their left hand), which is where `side` is negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vec = tuple[float, float]


def side(a: Vec, b: Vec, p: Vec) -> float:
    """The cross product (b - a) x (p - a): < 0 left of a→b, > 0 right of it, 0 on the line.

    Example: for the line (0.5, 0)→(0.5, 1), pointing down the picture, the point (0.8, 0.5) on the
    picture's right-hand half is on the line's left (-0.3), as it is on the left hand of someone walking
    down the picture.
    """
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_intersect(p1: Vec, p2: Vec, q1: Vec, q2: Vec) -> bool:
    """Whether the closed segments p1-p2 and q1-q2 share a point (touching and collinear overlap count)."""
    d1, d2 = side(q1, q2, p1), side(q1, q2, p2)
    d3, d4 = side(p1, p2, q1), side(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    # Degenerate cases: an end point lies on the other segment.
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def _on_segment(a: Vec, b: Vec, p: Vec) -> bool:
    """Whether p, known to be on the line a-b, lies within the segment's bounding box."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def inside_polygon(p: Vec, polygon: Sequence[Vec]) -> bool:
    """Whether p lies inside the polygon (even-odd ray casting; points on an edge may go either way)."""
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        # The edge straddles the horizontal through p and crosses it to the right of p.
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def distance(a: Vec, b: Vec) -> float:
    """The Euclidean distance between two points."""
    return math.hypot(b[0] - a[0], b[1] - a[1])


def cosine(u: Vec, v: Vec) -> float:
    """The cosine of the angle between two non-zero vectors."""
    return (u[0] * v[0] + u[1] * v[1]) / (math.hypot(*u) * math.hypot(*v))
