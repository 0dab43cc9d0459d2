"""Human review of violations in and out: the queue and search, one violation with its evidence and reviews,
a reviewer's decision, precision per camera and per rule, and suspensions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from safecity.core.schemas import InModel, OutModel
from safecity.traffic.reviews.models import Decision
from safecity.traffic.violations.models import Offence, ViolationStatus


class ReasonOut(BaseModel):
    """A reason code a reviewer may give for rejecting a violation."""

    code: str
    label: str
    against_precision: bool  # counts as a false violation in the camera's precision


class ViolationOut(OutModel):
    """A violation in the queue or a search: what, where, when and the read."""

    id: uuid.UUID
    offence: Offence
    status: ViolationStatus
    camera_id: uuid.UUID
    camera_name: str = ""
    district_id: uuid.UUID
    rule_id: uuid.UUID | None
    occurred_at: dt.datetime
    plate_read: str | None
    plate_confidence: float | None
    plate: str | None
    vehicle_class: str | None
    colour: str | None
    reason_code: str | None
    version: int
    created_at: dt.datetime
    decided_at: dt.datetime | None


class ReviewOut(OutModel):
    """One officer's decision."""

    id: uuid.UUID
    reviewer_id: uuid.UUID
    reviewer_name: str
    decision: Decision
    plate: str | None
    reason_code: str | None
    note: str
    at: dt.datetime


class ViolationDetail(ViolationOut):
    """A violation with everything a reviewer weighs: the evidence manifest, the measurements, the reviews."""

    rule_name: str | None = None
    measured: dict[str, Any]
    evidence: dict[str, Any]
    evidence_sha256: str | None
    registry_check: dict[str, Any] | None
    reviews: list[ReviewOut] = Field(default_factory=list)
    needs_second_review: bool = False  # a confirm now would send it to a second officer


class DecisionIn(InModel):
    """A reviewer's decision on the violation as it was at `version`."""

    version: int = Field(ge=0)
    decision: Decision
    plate: str | None = Field(default=None, max_length=40)  # the read, corrected if need be
    reason_code: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=500)


class DecisionOut(BaseModel):
    """The violation after the decision, and the review recorded."""

    violation: ViolationDetail
    review: ReviewOut


class PrecisionRow(BaseModel):
    """How often a camera's (or rule's) violations held: confirmed and not cancelled on appeal / decided."""

    key: uuid.UUID | None  # the camera or the rule
    name: str
    camera_id: uuid.UUID | None = None
    offence: Offence | None = None
    confirmed: int  # confirmed and not cancelled on appeal
    false: int  # rejected for a reason that counts against, or cancelled on appeal
    decided: int  # confirmed + false (exempt rejections and investigations are left out)
    precision: float | None  # None before anything is decided
    suspension_id: uuid.UUID | None = None
    suspended_at: dt.datetime | None = None


class PrecisionOut(BaseModel):
    """Precision per camera and per enforcement rule in the caller's districts, with the thresholds."""

    min_precision: float
    min_decided: int
    cameras: list[PrecisionRow]
    rules: list[PrecisionRow]


class SuspensionOut(OutModel):
    """A camera whose violations stopped feeding the queue."""

    id: uuid.UUID
    camera_id: uuid.UUID
    precision: float
    decided: int
    suspended_at: dt.datetime
    lifted_at: dt.datetime | None
    lifted_by: uuid.UUID | None
    released: int | None  # withheld violations the lifting sent to the review queue (None: kept back)
