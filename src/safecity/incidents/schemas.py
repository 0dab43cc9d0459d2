"""API shapes of incidents: what a call-taker enters, what the control room reads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from safecity.core.schemas import InModel, OutModel
from safecity.incidents.models import Category, LinkKind, Source, Status

LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters
TEXT = r"^[^\x00]*$"  # several lines allowed; PostgreSQL cannot store NUL
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


class IncidentIn(InModel):
    """A new incident as the call-taker logs it (POST /api/v1/incidents)."""

    district_id: uuid.UUID | None = None  # default: the caller's only district
    category: Category
    priority: int = Field(default=3, ge=1, le=4)
    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=LINE)
    description: str = Field(default="", max_length=5000, pattern=TEXT)
    caller_name: str | None = Field(default=None, max_length=120, pattern=LINE)
    caller_phone: str | None = Field(default=None, max_length=32, pattern=LINE)
    address: str | None = Field(default=None, max_length=300, pattern=LINE)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    source: Source = Source.CALL

    @model_validator(mode="after")
    def _location(self) -> IncidentIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.source == Source.ALERT:
            raise ValueError("incidents from alerts are made by escalating the alert")
        if self.source == Source.RESCUE1122:
            raise ValueError("incidents from Rescue 1122 arrive through its signed webhook")
        return self


class StatusIn(InModel):
    """A move of the incident's status, with why, against the version the user saw."""

    status: Status
    reason: str = Field(min_length=1, max_length=500, pattern=TEXT)
    version: int = Field(ge=1)
    # Resolving or closing with SOP steps not done: why they were left (required then).
    open_steps_reason: str = Field(default="", max_length=500, pattern=TEXT)


class PriorityIn(InModel):
    """A new priority, with why, against the version the user saw."""

    priority: int = Field(ge=1, le=4)
    reason: str = Field(min_length=1, max_length=500, pattern=TEXT)
    version: int = Field(ge=1)


class NoteIn(InModel):
    """A free-text note on the timeline."""

    text: str = Field(min_length=1, max_length=5000, pattern=TEXT)


class SopTickIn(InModel):
    """Tick or untick one SOP step."""

    done: bool


class LinkIn(InModel):
    """Link a camera or an alert to the incident (files go through the attachments route)."""

    kind: LinkKind
    ref_id: uuid.UUID

    @model_validator(mode="after")
    def _not_attachment(self) -> LinkIn:
        if self.kind == LinkKind.ATTACHMENT:
            raise ValueError("upload files through /incidents/{id}/attachments")
        return self


class AttachmentIn(InModel):
    """A file attached to the incident, base64 in JSON (the API speaks JSON only)."""

    file_name: str = Field(min_length=1, max_length=200, pattern=LINE)
    content_type: str = Field(
        default="application/octet-stream", max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    # 10 MB of bytes is at most 4/3 of that in base64.
    data_base64: str = Field(min_length=1, max_length=(MAX_ATTACHMENT_BYTES * 4) // 3 + 4)


class EscalateIn(InModel):
    """Turn an alert into an incident."""

    category: Category
    priority: int = Field(default=2, ge=1, le=4)
    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=LINE)


class TimelineOut(OutModel):
    """One line of the timeline."""

    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    actor_name: str
    kind: str
    text: str
    detail: dict[str, Any]


class SopItemOut(OutModel):
    """One SOP step and who ticked it."""

    id: uuid.UUID
    position: int
    text: str
    done_by: uuid.UUID | None
    done_by_name: str | None
    done_at: dt.datetime | None


class LinkOut(OutModel):
    """A linked camera, alert or file."""

    id: uuid.UUID
    kind: LinkKind
    ref_id: uuid.UUID | None
    label: str
    file_name: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    created_at: dt.datetime


class IncidentOut(OutModel):
    """An incident as lists show it."""

    id: uuid.UUID
    number: str
    district_id: uuid.UUID
    category: Category
    priority: int
    status: Status
    title: str
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    source: Source
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class IncidentDetailOut(IncidentOut):
    """An incident with its caller (personal data: reading it is audited), timeline, SOPs and links."""

    caller_name: str | None
    caller_phone: str | None
    events: list[TimelineOut]
    sop_items: list[SopItemOut]
    links: list[LinkOut]


class AttachmentOut(OutModel):
    """A downloaded attachment, base64 in JSON."""

    file_name: str
    content_type: str
    sha256: str
    data_base64: str


class IncidentChange(OutModel):
    """That an incident changed (its timeline grew): what the live incident feed carries to screens."""

    incident_id: uuid.UUID
    district_id: uuid.UUID
    changed_at: dt.datetime
