"""Pydantic shapes of face-match leads, the examiners' decisions and the rejection reasons."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from safecity.core.schemas import InModel, OutModel
from safecity.events.alerts.schemas import NOTE_PATTERN
from safecity.faces.matches.models import Decision, MatchStatus


@dataclass(frozen=True)
class Candidate:
    """The enrolled face a live face scored best against."""

    enrolment_id: uuid.UUID
    entry_id: uuid.UUID
    watchlist_id: uuid.UUID
    person_id: uuid.UUID | None
    score: float


class FaceSeenIn(BaseModel):
    """A face a covered camera saw, as the bus carries it to the store. Its picture and embedding are sealed
    under the deployment's biometric key (base64): nothing biometric travels, or rests in the stream, in
    the clear. The id is made where the face was seen, so a redelivery is stored once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    camera_id: uuid.UUID
    seen_at: dt.datetime
    face_box: tuple[int, int, int, int]
    quality: dict[str, Any]
    chip: str = Field(max_length=2_000_000)  # sealed JPEG of the aligned face
    embedding: str = Field(max_length=4_000)  # sealed float32 x 128
    authorisation_id: uuid.UUID | None
    keep_for_s: float = Field(ge=0)  # kept this long unless it becomes part of a lead
    threshold: float
    best: Candidate | None


class ReasonOut(BaseModel):
    """A reason code an examiner may give for rejecting a lead."""

    code: str
    label: str
    image_fault: bool  # the picture, rather than the likeness, was the trouble


class DecisionIn(InModel):
    """An examiner's decision on a lead; a rejection needs its reason code."""

    decision: Decision
    reason_code: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=500, pattern=NOTE_PATTERN)


class DecisionOut(OutModel):
    """One examiner's decision."""

    user_id: uuid.UUID
    username: str
    decision: Decision
    reason_code: str | None
    note: str
    at: dt.datetime


class MatchOut(OutModel):
    """A lead: who it may be, where and when, the score against the threshold, and where it stands."""

    id: uuid.UUID
    sighting_id: uuid.UUID
    enrolment_id: uuid.UUID | None
    entry_id: uuid.UUID | None
    watchlist_id: uuid.UUID | None
    person_id: uuid.UUID | None
    authorisation_id: uuid.UUID | None
    camera_id: uuid.UUID | None
    district_id: uuid.UUID | None
    seen_at: dt.datetime
    last_seen_at: dt.datetime
    repeats: int
    score: float
    threshold: float
    status: MatchStatus
    decided_at: dt.datetime | None
    alert_id: uuid.UUID | None
    incident_id: uuid.UUID | None
    created_at: dt.datetime


class MatchDetailOut(MatchOut):
    """A lead with the decisions taken on it so far."""

    decisions: list[DecisionOut]


class OpenIncidentIn(InModel):
    """How urgent the incident opened from a confirmed lead is."""

    priority: int = Field(default=2, ge=1, le=4)
