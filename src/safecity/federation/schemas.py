"""What travels from a district centre to the province (signed envelopes of records), and what the
province's API shows of it.

A record carries only what the province needs to see and search: titles, states, plate texts, camera
names and times; never pictures (a plate's crop, an event's snapshot stay in the district).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from safecity.core.schemas import InModel, IsoDateTime

Kind = Literal["alert", "incident", "sighting"]
CODE_PATTERN = r"^[a-z0-9_-]{1,32}$"
PLATE_PATTERN = r"^[A-Z0-9]{1,16}$"
LINE = r"^[^\x00-\x1f\x7f]*$"


class Signed(InModel):
    """One message on `federation.<centre>.<kind>`: the envelope's JSON and its HMAC-SHA256 (hex) under
    the sending centre's key."""

    body: str = Field(max_length=64 * 1024)
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")


class Envelope(InModel):
    """A record from a centre: which centre, what kind, when it was sent, and the record itself."""

    centre: str = Field(pattern=CODE_PATTERN)
    kind: Kind
    sent_at: IsoDateTime
    record: dict[str, Any]


class HitRecord(InModel):
    """A hotlist hit, as its alert tells it."""

    id: uuid.UUID
    read_plate: str = Field(pattern=PLATE_PATTERN)
    listed_plate: str = Field(pattern=PLATE_PATTERN)
    list_name: str = Field(max_length=120, pattern=LINE)
    list_kind: str = Field(max_length=32, pattern=LINE)


class AlertRecord(InModel):
    """An alert in one state (raised, repeated, acknowledged, escalated, closed)."""

    id: uuid.UUID
    kind: str = Field(max_length=64, pattern=LINE)
    severity: int = Field(ge=1, le=4)
    title: str = Field(max_length=200, pattern=LINE)
    status: str = Field(max_length=16, pattern=LINE)
    camera_name: str | None = Field(default=None, max_length=120, pattern=LINE)
    repeat_count: int = Field(ge=1)
    raised_at: IsoDateTime
    changed_at: IsoDateTime
    hit: HitRecord | None = None


class IncidentRecord(InModel):
    """An incident in one state."""

    id: uuid.UUID
    number: str = Field(max_length=32, pattern=LINE)
    title: str = Field(max_length=200, pattern=LINE)
    category: str = Field(max_length=32, pattern=LINE)
    priority: int = Field(ge=1, le=4)
    status: str = Field(max_length=16, pattern=LINE)
    opened_at: IsoDateTime
    changed_at: IsoDateTime


class PlateReadRecord(InModel):
    """A plate read: text, confidence, where and when."""

    id: uuid.UUID
    plate: str | None = Field(pattern=PLATE_PATTERN)
    confidence: float = Field(ge=0.0, le=1.0)
    jurisdiction: str = Field(max_length=40, pattern=LINE)
    camera_id: uuid.UUID | None
    camera_name: str | None = Field(default=None, max_length=120, pattern=LINE)
    seen_at: IsoDateTime


Record = AlertRecord | IncidentRecord | PlateReadRecord


# --- what the province's users see ----------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CentreOut(_Out):
    """A district centre and the health of its link."""

    code: str
    name: str
    district: str
    last_received_at: dt.datetime | None
    lag_s: float | None  # from the centre's sending to the province's storing, of the last message
    received: int
    refused: int


class FederatedAlertOut(_Out):
    id: uuid.UUID
    centre: str
    original_id: uuid.UUID
    kind: str
    severity: int
    title: str
    status: str
    camera_name: str | None
    repeat_count: int
    raised_at: dt.datetime
    changed_at: dt.datetime


class FederatedIncidentOut(_Out):
    id: uuid.UUID
    centre: str
    original_id: uuid.UUID
    number: str
    title: str
    category: str
    priority: int
    status: str
    opened_at: dt.datetime
    changed_at: dt.datetime


class FederatedHitOut(_Out):
    id: uuid.UUID
    centre: str
    original_id: uuid.UUID
    read_plate: str
    listed_plate: str
    list_name: str
    list_kind: str
    camera_name: str | None
    seen_at: dt.datetime


class FederatedPlateReadOut(_Out):
    id: uuid.UUID
    centre: str
    original_id: uuid.UUID
    plate: str | None
    confidence: float
    jurisdiction: str
    camera_id: uuid.UUID | None
    camera_name: str | None
    seen_at: dt.datetime
