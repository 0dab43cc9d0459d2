"""The video wall each user last arranged (tiles, cameras, tours), and the named layouts they saved."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
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
    # One entry per tile: None, or a camera tour {"camera_ids": [...], "seconds": N} the tile cycles through.
    tours: Mapped[list[dict[str, object] | None]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WallPreset(Base):
    """A named wall a user saved (e.g. "Night shift — bazaar"), to load again with one click."""

    __tablename__ = "wall_presets"
    __table_args__ = (
        CheckConstraint("layout IN (1, 4, 9, 16)", name="layout"),
        UniqueConstraint("user_id", "name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    layout: Mapped[int] = mapped_column(Integer)
    camera_ids: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    tours: Mapped[list[dict[str, object] | None]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
