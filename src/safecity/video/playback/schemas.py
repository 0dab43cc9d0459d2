"""Recorded video in and out of the API: timeline spans, clips and evidence locks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from safecity.core.schemas import InModel, OutModel


class SpanOut(OutModel):
    kind: Literal["recorded", "gap"]
    start: dt.datetime
    end: dt.datetime
    locked: bool
    masked: bool  # recorded with the camera's privacy masks burned in


class ClipIn(InModel):
    t0: AwareDatetime
    t1: AwareDatetime


class ClipOut(OutModel):
    id: uuid.UUID
    camera_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    bytes: int
    sha256: str
    download_url: str


class LockIn(InModel):
    since: AwareDatetime
    until: AwareDatetime
    reason: str = Field(min_length=3, max_length=500)


class LockOut(OutModel):
    segments: int


class MarkerOut(OutModel):
    kind: Literal["event", "alert", "plate"]
    at: dt.datetime
    label: str
    severity: str
    href: str | None
