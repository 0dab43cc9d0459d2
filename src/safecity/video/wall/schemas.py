"""The video wall in and out of the API."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from safecity.core.schemas import InModel, OutModel

MAX_WALL_TILES = 16


class WallIn(InModel):
    layout: Literal[1, 4, 9, 16]
    camera_ids: list[uuid.UUID | None] = Field(default_factory=list, max_length=MAX_WALL_TILES)


class WallOut(OutModel):
    layout: int
    camera_ids: list[uuid.UUID | None]
