"""The video wall in and out of the API: tiles, camera tours and named layouts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from safecity.core.schemas import InModel, OutModel

MAX_WALL_TILES = 16
MAX_TOUR_CAMERAS = 64


class Tour(InModel):
    """A tile that cycles through cameras, showing each for `seconds`."""

    camera_ids: list[uuid.UUID] = Field(min_length=2, max_length=MAX_TOUR_CAMERAS)
    seconds: int = Field(ge=5, le=3600)


class WallIn(InModel):
    layout: Literal[1, 4, 9, 16]
    camera_ids: list[uuid.UUID | None] = Field(default_factory=list, max_length=MAX_WALL_TILES)
    # One per tile (missing ones: no tour); a tour's first camera is the tile's camera.
    tours: list[Tour | None] = Field(default_factory=list, max_length=MAX_WALL_TILES)


class TourOut(OutModel):
    camera_ids: list[uuid.UUID]
    seconds: int


class WallOut(OutModel):
    layout: int
    camera_ids: list[uuid.UUID | None]
    tours: list[TourOut | None]


class PresetIn(WallIn):
    name: str = Field(min_length=1, max_length=80)


class PresetOut(WallOut):
    id: uuid.UUID
    name: str
    created_at: dt.datetime
