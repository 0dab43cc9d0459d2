"""Tables of recorded video: the index of segments on disk (with evidence locks) and exported clips."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Recording(Base):
    """One recorded segment: a self-contained fragmented MP4 file of one camera, starting at a key frame."""

    __tablename__ = "recordings"
    __table_args__ = (
        # "Segments of a camera in a time range" serves the timeline, playback, export and retention by age.
        Index("ix_recordings_camera_id_start", "camera_id", "start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    start: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, index=True
    )  # oldest-first eviction across cameras
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    path: Mapped[str] = mapped_column(String(300), unique=True)  # POSIX, relative to the recordings dir
    bytes: Mapped[int] = mapped_column(BigInteger)
    init_bytes: Mapped[int] = mapped_column(Integer)  # ftyp+moov at the head: the segment's HLS EXT-X-MAP
    sha256: Mapped[str] = mapped_column(String(64))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # evidence lock: retention never deletes it
    lock_reason: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Recorded with the camera's privacy masks burned in (decoded, masked, encoded again).
    masked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Clip(Base):
    """An exported clip: one MP4 file under <data_dir>/exports, remuxed from recorded segments."""

    __tablename__ = "clips"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The district is kept on the clip so access to it is still scoped after its camera is removed.
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    camera_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cameras.id", ondelete="SET NULL"), index=True
    )
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    path: Mapped[str] = mapped_column(String(300))  # relative to the exports dir
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
