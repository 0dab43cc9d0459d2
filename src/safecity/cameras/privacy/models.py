"""Tables of privacy masks: the masked areas of each camera, and each audited lifting of them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class PrivacyMask(Base):
    """An area of a camera's picture (a polygon in fractions of its width and height) that is blacked out."""

    __tablename__ = "privacy_masks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # [[x, y], ...]: 3 to 64 corners, each 0..1 of the picture's width and height.
    polygon: Mapped[list[list[float]]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrivacyUnmask(Base):
    """One person's lifting of a camera's masks, for a stated purpose, until a time (audited)."""

    __tablename__ = "privacy_unmasks"
    __table_args__ = (Index("ix_privacy_unmasks_camera_user_until", "camera_id", "user_id", "until"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
