"""The video wall each user last arranged: how many tiles, and which camera in each."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow

LAYOUTS = (1, 4, 9, 16)


class WallLayout(Base):
    __tablename__ = "wall_layouts"
    __table_args__ = (CheckConstraint("layout IN (1, 4, 9, 16)", name="layout"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    layout: Mapped[int] = mapped_column(Integer, default=4)
    # One entry per tile, in order: a camera id as text, or None for an empty tile.
    camera_ids: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
