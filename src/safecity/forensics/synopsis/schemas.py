"""Video synopsis in and out of the API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.forensics.synopsis.models import SynopsisStatus


class SynopsisIn(InModel):
    camera_id: uuid.UUID
    since: IsoDateTime
    until: IsoDateTime
    classes: list[str] = Field(default_factory=list, max_length=12)
    purpose: str = Field(min_length=5, max_length=500)


class SynopsisOut(OutModel):
    id: uuid.UUID
    camera_id: uuid.UUID | None
    district_id: uuid.UUID
    since: dt.datetime
    until: dt.datetime
    classes: list[str]
    status: SynopsisStatus
    progress: float
    error: str | None
    objects: int
    counts: dict[str, int]
    duration_s: float  # of the synopsis video
    render_s: float  # how long it took to render
    created_at: dt.datetime
    finished_at: dt.datetime | None
    video_url: str | None = None  # once done
    index_url: str | None = None
    heatmap_url: str | None = None
