"""Tables of forensics: every object a camera followed, kept after the track ended so investigators can
search across cameras by what was seen (class, colour, direction, where and when) and render synopses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime


class ObjectTrack(Base):
    """One object one camera followed from its first to its last sight (a finished track).

    `path` is the object's box over time, `[seconds after first_seen, x1, y1, x2, y2]` in fractions of the
    frame, at most a few hundred samples: enough for a synopsis to cut the object out of the recording and
    for a heatmap of where things moved. `direction` is the way it moved across the picture (left, right,
    up, down), None when it stayed put.
    """

    __tablename__ = "object_tracks"
    __table_args__ = (
        # Search reads one camera's (or a district's) objects in a time range, then filters by class/colour.
        Index("ix_object_tracks_camera_id_first_seen", "camera_id", "first_seen"),
        # Search by what was seen (class and colour) reads only the matching entries of each camera, so a
        # rare colour over a month at a district's cameras stays fast (bench/bench_forensic_search.py).
        Index(
            "ix_object_tracks_camera_id_class_name_colour_first_seen",
            "camera_id",
            "class_name",
            "colour",
            "first_seen",
        ),
        Index("ix_object_tracks_district_id_first_seen", "district_id", "first_seen"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the producer's id: a replay stores it once
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    track_id: Mapped[int] = mapped_column(Integer)  # the camera's tracker id (reused after restarts)
    class_name: Mapped[str] = mapped_column(String(32))
    colour: Mapped[str | None] = mapped_column(String(16))
    colour_share: Mapped[float] = mapped_column(Float, default=0.0)  # of all colour votes, the colour's
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    direction: Mapped[str | None] = mapped_column(String(12))
    path: Mapped[list[Any]] = mapped_column(JSON)
    frame_width: Mapped[int] = mapped_column(SmallInteger)
    frame_height: Mapped[int] = mapped_column(SmallInteger)
    snapshot: Mapped[str | None] = mapped_column(String(300))  # the object's best view, under snapshots_dir
