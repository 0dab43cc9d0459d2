"""Tables of the analytics: the rules drawn on each camera, how its detector is fed, and what counting
lines counted.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class AnalyticsRule(Base):
    """One rule on one camera: `config` is the whole RuleConfig; name, kind and enabled are copied out."""

    __tablename__ = "analytics_rules"
    # Events name the rule that fired, so names are unique within a camera.
    __table_args__ = (UniqueConstraint("camera_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LineCount(Base):
    """How many objects of one class crossed a counting line in one direction within one time bucket.

    Each crossing is counted in a bucket of every interval (1, 5, 15 and 60 minutes, starting on UTC
    boundaries), so a chart of any of them reads a few rows; rows are upserted (count added) as the
    analytics flush what they counted.
    """

    __tablename__ = "line_counts"
    __table_args__ = (
        # A camera's counts over time, whichever of its lines (the rule's own are the primary key's prefix).
        Index(
            "ix_line_counts_camera_id_interval_min_bucket_start", "camera_id", "interval_min", "bucket_start"
        ),
    )

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("analytics_rules.id", ondelete="CASCADE"), primary_key=True
    )
    interval_min: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    class_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer)


class CameraDetection(Base):
    """A camera's own detector settings (`DetectionSettings` as JSON); without one, the global ones apply."""

    __tablename__ = "camera_detection"

    camera_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ReplayStatus(enum.StrEnum):
    """Where a rule replay stands."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AnalyticsReplay(Base):
    """A replay of a camera's rules over its recordings, started from the rule editor: kept on a row so any
    web node shows its progress and events. `runner` names the process running it (host:pid) and
    `heartbeat` when it last wrote progress; finished rows go after replay.KEEP_S.
    """

    __tablename__ = "analytics_replays"
    __table_args__ = (Index("ix_analytics_replays_status_runner", "status", "runner"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[ReplayStatus] = mapped_column(
        Enum(
            ReplayStatus,
            name="replay_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ReplayStatus.RUNNING,
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # fraction of the time range replayed
    frames: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ReplayEvent.as_json, the first MAX_EVENTS
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counting line name → its totals
    error: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str | None] = mapped_column(String(120))
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def done(self) -> bool:
        """Whether the replay has ended (finished, cancelled or failed)."""
        return self.status != ReplayStatus.RUNNING
