"""The event store: one row per event, keyed by the producer's id so replays are idempotent."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime


class Severity(enum.IntEnum):
    """How urgent an event is; stored as its number so ranges ("high or worse") are plain comparisons."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class Event(Base):
    """Something that happened at a camera or in a system (a line crossing, a camera going offline)."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 0 AND 4", name="severity_range"),
        # "Events of a district in a time range" — the C&C feed and forensics ask this most; the
        # leading district_id also serves lookups by district alone, so it has no index of its own.
        Index("ix_events_district_id_occurred_at", "district_id", "occurred_at"),
        # "Events of one camera in a time range": the analytics event feed filtered by camera.
        Index("ix_events_camera_id_occurred_at", "camera_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the producer's id, never generated here
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(128))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    # The camera the event happened at, if any; the event outlives the camera's removal.
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    severity: Mapped[int] = mapped_column(SmallInteger, default=Severity.INFO)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
