"""Pydantic shapes of the fine schedule, challans and their deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from safecity.core.schemas import InModel, OutModel
from safecity.events.alerts.schemas import LINE_PATTERN
from safecity.traffic.challans.models import ChallanStatus, Channel
from safecity.traffic.violations.models import Offence

VehicleClass = Literal["motorcycle", "rickshaw", "car", "large"]
VEHICLE_CLASSES: tuple[VehicleClass, ...] = ("motorcycle", "rickshaw", "car", "large")
MAX_FINE_PKR = 10_000_000


class FineIn(InModel):
    """A new line of a fine schedule: in force from `effective_from`, later than the line it follows."""

    province_code: str = Field(min_length=2, max_length=8, pattern=r"^[A-Z]{2,8}$", examples=["KP"])
    vehicle_class: VehicleClass
    offence: Offence
    amount_pkr: int = Field(ge=1, le=MAX_FINE_PKR)
    effective_from: dt.date
    legal_reference: str = Field(min_length=3, max_length=200, pattern=LINE_PATTERN)


class FineOut(OutModel):
    """One line of a fine schedule."""

    id: uuid.UUID
    province_code: str
    vehicle_class: str
    offence: Offence
    amount_pkr: int
    effective_from: dt.date
    legal_reference: str
    created_at: dt.datetime
    created_by: uuid.UUID | None


class DeliveryOut(OutModel):
    """One attempt to tell a challan's owner something (or to post it)."""

    id: uuid.UUID
    channel: Channel
    purpose: str
    to: str
    at: dt.datetime
    ok: bool
    detail: str


class ChallanOut(OutModel):
    """A challan as staff see it, with the owner's particulars as they were on the day it was issued."""

    id: uuid.UUID
    number: str
    violation_id: uuid.UUID
    district_id: uuid.UUID
    plate: str
    offence: Offence
    vehicle_class: str
    fine_id: uuid.UUID
    amount_pkr: int
    status: ChallanStatus
    issued_at: dt.datetime
    issued_by: uuid.UUID | None
    due_at: dt.datetime
    payment_ref: str
    owner_name: str
    owner_cnic: str
    owner_phone: str
    owner_email: str
    owner_address: str
    pdf_sha256: str | None
    paid_at: dt.datetime | None
    closed_at: dt.datetime | None
    reminders_sent: int
    last_reminder_at: dt.datetime | None


class ChallanDetailOut(ChallanOut):
    """A challan with every attempt to deliver it, oldest first."""

    deliveries: list[DeliveryOut]


class ResendOut(OutModel):
    """A resend accepted: the notice goes out in the background and its deliveries are recorded."""

    challan_id: uuid.UUID
    number: str
    queued: bool
