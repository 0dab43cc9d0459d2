"""Pydantic shapes of a retrospective face search: what is asked, and the faces found."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from safecity.core.schemas import Area, InModel, IsoDateTime, OutModel
from safecity.events.alerts.schemas import NOTE_PATTERN
from safecity.faces.schemas import MAX_AUTHORISATION_DAYS, MAX_ENROL_PHOTO_BYTES, MIN_TEXT

MAX_RESULTS = 200
MAX_CAMERAS = 2000
MAX_PHOTO_BASE64 = (MAX_ENROL_PHOTO_BYTES + 2) // 3 * 4  # the largest photo taken, as base64


class SearchIn(InModel):
    """Where, when and why to search the faces seen for the person of a photo (under an authorisation)."""

    purpose: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    since: IsoDateTime
    until: IsoDateTime
    camera_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_CAMERAS)
    area: Area | None = None  # instead of camera_ids: every covered camera inside it
    limit: int = Field(default=50, ge=1, le=MAX_RESULTS)
    min_score: float | None = Field(default=None, ge=0.5, lt=1)  # None: the same-person threshold

    @model_validator(mode="after")
    def _where_and_when(self) -> SearchIn:
        if self.until <= self.since:
            raise ValueError("the period must end after it starts")
        if self.until - self.since > dt.timedelta(days=MAX_AUTHORISATION_DAYS):
            raise ValueError(f"search {MAX_AUTHORISATION_DAYS} days at most")
        if bool(self.camera_ids) == (self.area is not None):
            raise ValueError("name the cameras or draw an area (one of the two)")
        return self


class PhotoSearchIn(SearchIn):
    """The API's request: the search and the photo, a JPEG or PNG as base64."""

    photo: str = Field(min_length=1, max_length=MAX_PHOTO_BASE64)


class FaceFoundOut(OutModel):
    """A face seen that resembles the photo: where, when, how closely, and where to watch it."""

    sighting_id: uuid.UUID
    camera_id: uuid.UUID | None
    camera_name: str
    latitude: float | None
    longitude: float | None
    seen_at: dt.datetime
    score: float  # cosine similarity with the photo's face
    same_person: bool  # the score reaches the engine's threshold
    chip: str  # the aligned face seen, a JPEG as base64
    video_url: str | None  # the recording at that moment (None without playback permission)


class SearchOut(OutModel):
    """The faces found, best score first, with what was searched."""

    authorisation_id: uuid.UUID
    threshold: float
    min_score: float
    cameras: int  # cameras searched
    scanned: int  # faces seen in them in the period, all compared
    query_quality: dict[str, Any]  # the photo's face, as the quality gate judged it
    results: list[FaceFoundOut]
