"""Tables of the analytics: the rules drawn on each camera, how its detector is fed, and what counting
lines counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
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
