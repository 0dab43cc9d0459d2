"""Tables of the human review of violations: every officer's decision, and the cameras whose violations
stopped feeding the queue because their precision fell.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow
from safecity.traffic.violations.models import db_enum


class Decision(enum.StrEnum):
    """A reviewer's decision."""

    CONFIRM = "confirm"
    REJECT = "reject"


class Review(Base):
    """One officer's decision on a violation (a low-confidence read needs two, by different officers)."""

    __tablename__ = "traffic_violation_reviews"
    __table_args__ = (UniqueConstraint("violation_id", "reviewer_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    violation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_violations.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reviewer_name: Mapped[str] = mapped_column(String(64))
    decision: Mapped[Decision] = mapped_column(db_enum(Decision, "traffic_review_decision"))
    plate: Mapped[str | None] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suspension(Base):
    """A camera whose violations stopped feeding the queue: its precision fell below the threshold."""

    __tablename__ = "traffic_suspensions"
    # One suspension in force per camera, even when two officers' decisions recount it at the same moment.
    __table_args__ = (
        Index(
            "uq_traffic_suspensions_in_force",
            "camera_id",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    precision: Mapped[float] = mapped_column(Float)
    decided: Mapped[int] = mapped_column(Integer)  # how many decided violations the figure rests on
    suspended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Violations withheld while it was in force that the lifting sent to the review queue (None: kept back).
    released: Mapped[int | None] = mapped_column(Integer)
