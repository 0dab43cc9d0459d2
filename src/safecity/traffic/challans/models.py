"""Tables of e-challans: the versioned fine schedule, the numbering per district and year, the challans
themselves, and every attempt to deliver one (SMS, e-mail, post).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow
from safecity.traffic.violations.models import Offence, db_enum


class ChallanStatus(enum.StrEnum):
    """Where a challan stands."""

    ISSUED = "issued"
    PAID = "paid"
    OVERDUE = "overdue"
    IN_APPEAL = "in_appeal"
    CANCELLED = "cancelled"


class Channel(enum.StrEnum):
    """How a challan or a notice about it reaches the owner."""

    SMS = "sms"
    EMAIL = "email"
    POST = "post"


class Fine(Base):
    """One line of a fine schedule: what an offence costs a class of vehicle in a province from a date.

    Rows are never edited: a change is a new row with a later `effective_from` (the old one stays, so a
    challan's fine can always be traced to the line in force on the day of the offence).
    """

    __tablename__ = "traffic_fines"
    __table_args__ = (UniqueConstraint("province_code", "vehicle_class", "offence", "effective_from"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    province_code: Mapped[str] = mapped_column(String(8))
    vehicle_class: Mapped[str] = mapped_column(String(24))  # motorcycle, rickshaw, car, large
    offence: Mapped[Offence] = mapped_column(db_enum(Offence, "traffic_offence"))
    amount_pkr: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    legal_reference: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Counter(Base):
    """The last challan number given in a district in a year (numbers are `<district code>-<year>-<n>`)."""

    __tablename__ = "traffic_challan_counters"

    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Challan(Base):
    """A traffic ticket for one confirmed violation (unique: one violation, one challan).

    The owner's particulars are copied from the registry when it is issued: the ticket says what it
    said on that day. `verify_code` is the secret in the QR code's address (the public verification
    page); `payment_ref` is what the citizen quotes to the bank.
    """

    __tablename__ = "traffic_challans"
    __table_args__ = (
        Index("ix_traffic_challans_plate_status", "plate", "status"),
        Index("ix_traffic_challans_district_id_issued_at", "district_id", "issued_at"),
        Index("ix_traffic_challans_status_due_at", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    violation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_violations.id", ondelete="RESTRICT"), unique=True
    )
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    plate: Mapped[str] = mapped_column(String(16))
    offence: Mapped[Offence] = mapped_column(db_enum(Offence, "traffic_offence"))
    vehicle_class: Mapped[str] = mapped_column(String(24))
    fine_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traffic_fines.id", ondelete="RESTRICT"))
    amount_pkr: Mapped[int] = mapped_column(Integer)
    status: Mapped[ChallanStatus] = mapped_column(db_enum(ChallanStatus, "traffic_challan_status"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    payment_ref: Mapped[str] = mapped_column(String(24), unique=True)
    verify_code: Mapped[str] = mapped_column(String(32))
    owner_name: Mapped[str] = mapped_column(String(120), default="")
    owner_cnic: Mapped[str] = mapped_column(String(15), default="")
    owner_phone: Mapped[str] = mapped_column(String(16), default="")
    owner_email: Mapped[str] = mapped_column(String(254), default="")
    owner_address: Mapped[str] = mapped_column(String(300), default="")
    pdf_path: Mapped[str | None] = mapped_column(String(200))  # relative to the challans directory
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # The evidence frames as the public sees them (bystanders blurred), made when it was issued: file
    # entries as the packet's manifest has them (role, path under the evidence directory, sha256, ...).
    public_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # paid or cancelled
    reminders_sent: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_reminder_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One attempt to send a challan, a reminder or a decision to its owner."""

    __tablename__ = "traffic_challan_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    challan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_challans.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(db_enum(Channel, "traffic_delivery_channel"))
    purpose: Mapped[str] = mapped_column(String(24))  # challan, reminder, overdue, appeal_decision
    to: Mapped[str] = mapped_column(String(254))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(String(300), default="")
