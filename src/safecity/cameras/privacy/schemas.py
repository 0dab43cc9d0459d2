"""Pydantic in/out of privacy masks and their lifting."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, field_validator

from safecity.core.schemas import InModel, OutModel

MAX_MASKS = 32
MAX_CORNERS = 64
MAX_UNMASK_MINUTES = 60

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]


def _crosses(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd cross at a point inside both (touching ends do not count)."""

    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def valid_polygon(points: list[Point]) -> list[Point]:
    """The polygon if it has 3+ corners, an area, and no edge crossing another; ValueError otherwise."""
    if len(points) < 3:
        raise ValueError("a mask needs at least 3 corners")
    edges = list(zip(points, points[1:] + points[:1], strict=True))
    for i, (a, b) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # the first and last edges share a corner
            c, d = edges[j]
            if _crosses(a, b, c, d):
                raise ValueError("the mask's edges cross each other: draw its corners in order around it")
    area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in edges)
    if abs(area) < 1e-6:
        raise ValueError("the mask has no area")
    return points


class MaskIn(InModel):
    """One masked area: a name (e.g. "windows of house 12") and its corners, in fractions of the picture."""

    name: str = Field(min_length=1, max_length=80)
    polygon: Annotated[list[Point], Field(max_length=MAX_CORNERS)]

    @field_validator("polygon")
    @classmethod
    def _valid(cls, value: list[Point]) -> list[Point]:
        return valid_polygon(value)


class MasksIn(InModel):
    """The whole set of a camera's masks (replaces the set kept)."""

    masks: Annotated[list[MaskIn], Field(max_length=MAX_MASKS)]


class MaskOut(OutModel):
    id: uuid.UUID
    name: str
    polygon: list[tuple[float, float]]
    created_by: uuid.UUID | None
    created_at: dt.datetime


class MasksOut(OutModel):
    """A camera's masks, and whether (until when) they are lifted for the caller."""

    camera_id: uuid.UUID
    masks: list[MaskOut]
    lifted_until: dt.datetime | None = None


class UnmaskIn(InModel):
    """Lift a camera's masks for oneself: why (an FIR, an incident, a court order) and for how long."""

    purpose: str = Field(min_length=5, max_length=500)
    minutes: int = Field(ge=1, le=MAX_UNMASK_MINUTES)


class UnmaskOut(OutModel):
    id: uuid.UUID
    camera_id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    since: dt.datetime
    until: dt.datetime
