"""Pydantic shapes of number-plate sightings (what the pipeline stores and the API returns) and of each
camera's plate-reading settings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.schemas import IsoDateTime


class Alternative(BaseModel):
    """A runner-up reading of a plate, with its confidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    confidence: float = Field(ge=0, le=1)


class SightingIn(BaseModel):
    """A vehicle's plate as one camera read it over the frames the vehicle was in view."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    camera_id: uuid.UUID | None
    district_id: uuid.UUID | None
    seen_at: dt.datetime
    first_seen: dt.datetime
    last_seen: dt.datetime
    plate: str | None = Field(default=None, pattern="^[A-Z0-9]{1,16}$")  # None: unreadable
    confidence: float = Field(ge=0, le=1)
    char_confidences: list[float] = Field(default_factory=list)
    alternatives: list[Alternative] = Field(default_factory=list)
    layout: str
    jurisdiction: str
    vehicle_class: str | None = None
    colour: str | None = None
    direction: str | None = None
    track_id: int | None = None
    box: list[int] = Field(default_factory=list)
    frames: int = Field(default=1, ge=1)
    crop: str | None = None
    snapshot: str | None = None


class SightingOut(BaseModel):
    """A stored sighting, as the API, the bus and the pages show it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    camera_id: uuid.UUID | None
    district_id: uuid.UUID | None
    seen_at: IsoDateTime
    first_seen: IsoDateTime
    last_seen: IsoDateTime
    plate: str | None
    confidence: float
    char_confidences: list[float]
    alternatives: list[Alternative]
    layout: str
    jurisdiction: str
    vehicle_class: str | None
    colour: str | None
    direction: str | None
    track_id: int | None
    box: list[int]
    frames: int
    crop: str | None
    snapshot: str | None
    hold: str | None


PlateMode = Literal["off", "vehicles", "dedicated"]
Region = Literal["PK", "IN", "AR", "DZ", "ANY"]


class PlateSettings(BaseModel):
    """How a camera reads plates: `vehicles` inside tracked vehicles' boxes, `dedicated` (an ANPR camera on
    a lane) on every frame that moves, without the vehicle detector; `off` not at all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: PlateMode = "off"
    region: Region = "PK"  # whose layouts are preferred
    min_plate_px: int = Field(default=60, ge=20, le=1000)  # narrower plates (in frame pixels) are not read
    min_vehicle_px: int = Field(default=120, ge=20, le=4000)  # narrower vehicles are not looked at


class PlateSettingsOut(BaseModel):
    """A camera's plate-reading settings; `updated_at` null: never set (plates off)."""

    camera_id: uuid.UUID
    settings: PlateSettings
    updated_at: dt.datetime | None
    updated_by: uuid.UUID | None


SearchMode = Literal["exact", "prefix", "wildcard", "fuzzy"]


class SightingSearch(BaseModel):
    """What a plate search asks for: the plate text and how to match it, and where and when.

    `q` is checked by the service (separators dropped, upper-cased, its characters and length refused with
    a clear message), so the API and the page say the same thing about a bad query.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(default="", max_length=40)
    mode: SearchMode = "exact"
    camera_ids: tuple[uuid.UUID, ...] = Field(default=(), max_length=50)
    district_id: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    # A map's box: west, south, east, north (degrees); only cameras placed inside it.
    bbox: tuple[float, float, float, float] | None = None


class SightingHit(SightingOut):
    """A sighting as a search lists it: with its camera's name and place, for the table and the map."""

    camera_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class SightingPage(BaseModel):
    """One page of search results, newest first; `next_before` fetches the page after it (None: the last)."""

    items: list[SightingHit]
    next_before: str | None


class CompanionOut(BaseModel):
    """A plate seen close in time to the vehicle at several of the same cameras: travelling with it."""

    plate: str
    cameras: int  # how many of the vehicle's cameras it was seen at within the window
    sightings: int
    first_together: IsoDateTime
    last_together: IsoDateTime


class JourneyOut(BaseModel):
    """A vehicle's sightings over a period in time order, and the plates that travelled with it."""

    plate: str
    since: IsoDateTime
    until: IsoDateTime
    window_s: int
    first_seen: IsoDateTime | None
    last_seen: IsoDateTime | None
    stops: list[SightingHit]
    truncated: bool  # more sightings than one journey shows: narrow the period
    companions: list[CompanionOut]
