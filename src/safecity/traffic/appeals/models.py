"""Tables of appeals: a citizen's challenge to a challan and the adjudicating officer's decision."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow
from safecity.traffic.violations.models import db_enum


class AppealStatus(enum.StrEnum):
    """Where an appeal stands."""

    PENDING = "pending"
    UPHELD = "upheld"  # the challan stands
    CANCELLED = "cancelled"  # the challan is cancelled


class Appeal(Base):
    """One appeal against a challan (one per challan), filed on the portal without an account."""

    __tablename__ = "traffic_appeals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    challan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_challans.id", ondelete="RESTRICT"), unique=True
    )
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[AppealStatus] = mapped_column(db_enum(AppealStatus, "traffic_appeal_status"), index=True)
    statement: Mapped[str] = mapped_column(String(4000))
    contact_phone: Mapped[str] = mapped_column(String(16), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    language: Mapped[str] = mapped_column(String(2), default="en")  # en or ur: how the decision is sent
    attachment_path: Mapped[str | None] = mapped_column(String(200))  # relative to the appeals directory
    attachment_type: Mapped[str | None] = mapped_column(String(32))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision_reason: Mapped[str] = mapped_column(String(2000), default="")
