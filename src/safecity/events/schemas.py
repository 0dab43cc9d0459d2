"""Events in and out: what producers send on the bus and what readers get back."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from safecity.core.schemas import has_nul
from safecity.events.models import Severity

KIND_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"
SOURCE_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # a camera id or system name: no control characters (logs, NUL)
MAX_PAYLOAD_BYTES = 16 * 1024  # generous for detections and plate reads; images travel as references


class EventIn(BaseModel):
    """An event as a producer sends it; the producer's id makes a replay harmless."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    occurred_at: AwareDatetime
    kind: str = Field(max_length=64, pattern=KIND_PATTERN, examples=["analytics.line_crossing"])
    source: str = Field(min_length=1, max_length=128, pattern=SOURCE_PATTERN, examples=["cam-0001"])
    district_id: uuid.UUID | None = None
    camera_id: uuid.UUID | None = None
    severity: Severity = Severity.INFO
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: dt.datetime) -> dt.datetime:
        return value.astimezone(dt.UTC)

    @field_validator("payload")
    @classmethod
    def _storable_payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable_json(value, what="payload", max_bytes=MAX_PAYLOAD_BYTES)


def storable_json(value: dict[str, Any], *, what: str, max_bytes: int) -> dict[str, Any]:
    """`value` if both databases keep it as it is: strict JSON (no NaN), at most `max_bytes`, no NUL."""
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError) as exc:  # pydantic reports only ValueError
        raise ValueError(f"{what} is not JSON: {exc}") from None
    if size > max_bytes:
        raise ValueError(f"{what} is {size} bytes of JSON; at most {max_bytes} are kept")
    if has_nul(value):
        raise ValueError(f"{what} holds a NUL character, which PostgreSQL cannot store")
    return value


class EventOut(BaseModel):
    """A stored event as readers see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: dt.datetime
    kind: str
    source: str
    district_id: uuid.UUID | None
    camera_id: uuid.UUID | None = None
    severity: Severity
    payload: dict[str, Any]
