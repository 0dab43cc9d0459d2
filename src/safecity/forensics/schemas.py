"""Pydantic shapes of forensics: finished tracks as the pipeline hands them over, and searches across
cameras with their hits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.analytics.plates.schemas import SearchMode
from safecity.core.schemas import Area, InModel, IsoDateTime, OutModel
from safecity.events.alerts.schemas import NOTE_PATTERN

MAX_PERIOD = dt.timedelta(days=31)  # one search spans a month at most: longer ones are paged by period
MAX_HITS = 200
MAX_CAMERAS = 2000
MIN_PURPOSE = 5

What = Literal["objects", "events", "plates"]


class TrackIn(BaseModel):
    """One object a camera followed, from first to last sight (see `ObjectTrack`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    camera_id: uuid.UUID
    district_id: uuid.UUID | None
    track_id: int
    class_name: str = Field(max_length=32)
    colour: str | None = Field(default=None, max_length=16)
    colour_share: float = Field(default=0.0, ge=0, le=1)
    first_seen: dt.datetime
    last_seen: dt.datetime
    direction: str | None = Field(default=None, max_length=12)
    path: list[tuple[float, float, float, float, float]] = Field(max_length=1000)
    frame_width: int = Field(ge=1, le=32767)
    frame_height: int = Field(ge=1, le=32767)
    snapshot: str | None = Field(default=None, max_length=300)


class SearchIn(InModel):
    """What to look for, where, when, and why (the purpose is audited)."""

    purpose: str = Field(min_length=MIN_PURPOSE, max_length=500, pattern=NOTE_PATTERN)
    since: IsoDateTime
    until: IsoDateTime
    camera_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_CAMERAS)
    area: Area | None = None  # with or instead of camera_ids: the cameras inside it
    what: What = "objects"
    classes: list[str] = Field(default_factory=list, max_length=20)  # objects: person, car, ...
    colours: list[str] = Field(default_factory=list, max_length=20)
    directions: list[str] = Field(default_factory=list, max_length=8)
    event_kinds: list[str] = Field(default_factory=list, max_length=50)  # events: line_crossing, ...
    plate: str | None = Field(default=None, min_length=1, max_length=40)  # plates
    plate_mode: SearchMode = "exact"
    limit: int = Field(default=100, ge=1, le=MAX_HITS)
    before: str | None = Field(default=None, max_length=80)  # the cursor of the next (older) page

    @model_validator(mode="after")
    def _sensible(self) -> SearchIn:
        if self.until <= self.since:
            raise ValueError("the period must end after it starts")
        if self.until - self.since > MAX_PERIOD:
            raise ValueError(f"search {MAX_PERIOD.days} days at most at a time")
        if self.what == "plates" and not self.plate:
            raise ValueError("give the plate to search for")
        return self


class HitOut(OutModel):
    """One thing found: an object, an event or a plate read, where and when, with its picture."""

    kind: Literal["object", "event", "plate", "face"]
    id: uuid.UUID
    camera_id: uuid.UUID
    camera_name: str
    latitude: float
    longitude: float
    at: IsoDateTime
    until: IsoDateTime | None = None
    label: str  # what it was, in a few words: "car, red, moving right"
    class_name: str | None = None
    colour: str | None = None
    direction: str | None = None
    plate: str | None = None
    picture_url: str | None = None
    playback_url: str  # the recording at that moment


class SearchOut(OutModel):
    """A page of hits, newest first; `next` is the cursor of the older ones, if any."""

    hits: list[HitOut]
    cameras: int  # how many cameras were searched
    next: str | None = None


class RouteIn(InModel):
    """A route to rebuild: chosen objects or faces, or a plate over a period; and why (audited)."""

    purpose: str = Field(min_length=MIN_PURPOSE, max_length=500, pattern=NOTE_PATTERN)
    object_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    faces: list[uuid.UUID] = Field(default_factory=list, max_length=100)  # face sightings from a search
    authorisation_id: uuid.UUID | None = None  # the retrospective authorisation the faces were found under
    plate: str | None = Field(default=None, min_length=1, max_length=40)
    since: IsoDateTime | None = None
    until: IsoDateTime | None = None


class RouteStop(OutModel):
    """One sighting on a route: a camera at a time span."""

    hit: HitOut
    since: IsoDateTime
    until: IsoDateTime


class RouteOut(OutModel):
    """Sightings across cameras in time order, and one playlist of their recordings strung together."""

    stops: list[RouteStop]
    playlist_url: str | None  # None: nothing recorded at any stop
