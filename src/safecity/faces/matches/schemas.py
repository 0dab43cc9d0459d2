"""Pydantic shapes of face-match leads, the examiners' decisions and the rejection reasons."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from safecity.core.schemas import InModel, OutModel
from safecity.events.alerts.schemas import NOTE_PATTERN
from safecity.faces.matches.models import Decision, MatchStatus


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
