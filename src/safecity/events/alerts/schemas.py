"""Alerts in and out: what systems raise, what operators send back, what the API and the feed show."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, field_validator

from safecity.core.schemas import InModel, OutModel
from safecity.events.alerts.models import AlertStatus
from safecity.events.models import Severity
from safecity.events.schemas import KIND_PATTERN, storable_json

MAX_DETAIL_BYTES = 8 * 1024  # what an operator reads beside the title; images travel as references
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters
NOTE_PATTERN = r"^[^\x00]*$"  # several lines allowed; PostgreSQL cannot store NUL


class AlertIn(InModel):
    """An alert as a system raises it (the body of POST /api/v1/alerts)."""

    kind: str = Field(max_length=64, pattern=KIND_PATTERN, examples=["camera.offline"])
    severity: Severity = Field(examples=[3])
    title: str = Field(min_length=1, max_length=200, pattern=LINE_PATTERN, examples=["Gate 3 camera offline"])
    camera_id: uuid.UUID | None = None
    district_id: uuid.UUID | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    # Raising again with the same key while the alert is still new refreshes it instead of adding one.
    dedup_key: str | None = Field(default=None, min_length=1, max_length=200, pattern=LINE_PATTERN)

    @field_validator("detail")
    @classmethod
    def _storable_detail(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable_json(value, what="detail", max_bytes=MAX_DETAIL_BYTES)


class AckIn(InModel):
    """An acknowledgement, with an optional note of what the operator did."""

    note: str | None = Field(default=None, max_length=500, pattern=NOTE_PATTERN)


class DismissIn(InModel):
    """A dismissal as a false alarm, with its reason."""

    reason: str = Field(min_length=3, max_length=500, pattern=NOTE_PATTERN)


class AlertOut(OutModel):
    """An alert as API clients and the live feed see it."""

    id: uuid.UUID
    raised_at: dt.datetime
    first_raised_at: dt.datetime
    repeat_count: int
    source: str
    kind: str
    severity: Severity
    title: str
    detail: dict[str, Any]
    camera_id: uuid.UUID | None
    camera_name: str | None
    district_id: uuid.UUID | None
    status: AlertStatus
    acknowledged_by: uuid.UUID | None
    acknowledged_by_name: str | None
    acknowledged_at: dt.datetime | None
    ack_note: str | None
    dedup_key: str | None
    escalated_at: dt.datetime | None = None
    escalated_to_role: str | None = None
    escalated_to_users: list[str] | None = None


class PreferencesIn(InModel):
    """How the console calls this user's attention (PUT /api/v1/alerts/preferences)."""

    severities: list[Severity] = Field(max_length=5, examples=[[3, 4]])
    sound: bool = True
    notifications: bool = True
    muted: bool = False


class PreferencesOut(OutModel):
    """A user's console preferences (their stored ones, or the configured defaults)."""

    severities: list[Severity]
    sound: bool
    notifications: bool
    muted: bool
    stored: bool  # False: nothing stored yet, these are the configured defaults
