"""Tables of video synopsis: one row per synopsis job, its progress while it renders and its outputs."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class SynopsisStatus(enum.StrEnum):
    """Where a synopsis job stands."""

    QUEUED = "queued"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by the person who asked (or a supervisor) before it finished


class Synopsis(Base):
    """A synopsis (and heatmap) of one camera over a period; its files live under <data_dir>/synopses/<id>/.

    `runner` names the process rendering it (host:pid) and `heartbeat` when it last wrote progress: a job
    whose process is gone is marked failed, never left rendering forever.
    """

    __tablename__ = "synopses"
    __table_args__ = (Index("ix_synopses_created_by_created_at", "created_by", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cameras.id", ondelete="SET NULL"), index=True
    )
    # Kept on the row so access stays scoped to the district after its camera is removed.
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: every class
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[SynopsisStatus] = mapped_column(
        Enum(
            SynopsisStatus,
            name="synopsis_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=SynopsisStatus.QUEUED,
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    video_path: Mapped[str | None] = mapped_column(String(300))  # relative to the synopses dir
    index_path: Mapped[str | None] = mapped_column(String(300))
    heatmap_path: Mapped[str | None] = mapped_column(String(300))
    objects: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # objects by class
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)  # of the synopsis video
    render_s: Mapped[float] = mapped_column(Float, default=0.0)  # how long rendering took
    runner: Mapped[str | None] = mapped_column(String(120))
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
