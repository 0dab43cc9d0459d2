"""The alerts table: what an operator must look at, and where it stands."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime
from safecity.events.models import Severity


class AlertStatus(enum.StrEnum):
    """Where an alert stands with the operators."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"  # seen to and judged a false alarm, with the reason in ack_note
    RESOLVED = "resolved"  # closed by the system because its cause cleared (a camera back online), noted


class Alert(Base):
    """Something an operator must look at (a camera offline, an analytics hit, a message from a system)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 0 AND 4", name="severity_range"),
        CheckConstraint("repeat_count >= 1", name="repeat_count_positive"),
        # The live feed's question: "alerts of my districts, newest first".
        Index("ix_alerts_district_id_raised_at", "district_id", "raised_at"),
        # At most one open alert per source and key: a repeat while it is new refreshes that alert, so a
        # flapping camera cannot flood the operator. Per source, so one system cannot touch another's.
        Index(
            "uq_alerts_source_dedup_key_new",
            "source",
            "dedup_key",
            unique=True,
            sqlite_where=text("status = 'new'"),
            postgresql_where=text("status = 'new'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # the latest raise
    first_raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)  # raises folded into this alert
    source: Mapped[str] = mapped_column(String(128))  # "camera-health", "analytics", "external:<user>"
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column(SmallInteger, default=Severity.INFO)
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    camera_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cameras.id", ondelete="SET NULL"), index=True
    )
    camera_name: Mapped[str | None] = mapped_column(String(120))  # as it was named when raised
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    status: Mapped[AlertStatus] = mapped_column(
        Enum(
            AlertStatus,
            name="alert_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=AlertStatus.NEW,
    )
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ack_note: Mapped[str | None] = mapped_column(String(500))
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    # Left unacknowledged past its severity's time (settings.alerts.escalate_after_s): handed to a role.
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_to_role: Mapped[str | None] = mapped_column(String(40))
    escalated_to_users: Mapped[list[str] | None] = mapped_column(JSON)  # that role's people in the district


class AlertPreference(Base):
    """How the console calls one user's attention: which severities, sound, desktop notifications, muted."""

    __tablename__ = "alert_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    severities: Mapped[list[int]] = mapped_column(JSON)  # alerts of these severities call for attention
    sound: Mapped[bool] = mapped_column(Boolean, default=True)
    notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)  # silenced: no sound, no notifications
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
