"""Pydantic shapes of appeals: the adjudicator's queue, one appeal with its challan, and a decision."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import Field, field_validator

from safecity.core.schemas import InModel, OutModel
from safecity.traffic.appeals.models import AppealStatus

MIN_REASON_CHARS = 20  # a decision gives its reasons: "ok" or "no" is not one


class DecisionOutcome(enum.StrEnum):
    """What the adjudicator decides."""

    UPHOLD = "uphold"  # the challan stands
    CANCEL = "cancel"  # the challan is cancelled


class DecisionIn(InModel):
    """A reasoned decision on an appeal."""

    outcome: DecisionOutcome
    reason: str = Field(min_length=MIN_REASON_CHARS, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _reasoned(cls, value: str) -> str:
        if len(value.split()) < 4:
            raise ValueError("give the reasons for the decision in a sentence or more")
        return value


class AppealOut(OutModel):
    """An appeal with what the adjudicator needs of its challan (contact details: appeals.decide only)."""

    id: uuid.UUID
    challan_id: uuid.UUID
    district_id: uuid.UUID
    status: AppealStatus
    statement: str
    contact_phone: str
    contact_email: str
    language: str
    attachment_type: str | None
    attachment_size: int | None
    filed_at: dt.datetime
    deadline_at: dt.datetime
    overdue: bool  # still pending past its deadline
    decided_at: dt.datetime | None
    decided_by: uuid.UUID | None
    decision_reason: str
    challan_number: str
    challan_status: str
    plate: str
    offence: str
    amount_pkr: int
    violation_id: uuid.UUID
    camera_id: uuid.UUID
    occurred_at: dt.datetime
    place: str
    evidence_roles: list[str]  # served by /api/v1/traffic/violations/{violation_id}/evidence/{role}
