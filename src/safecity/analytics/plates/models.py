"""Tables of number-plate reading: one row per vehicle pass (a sighting), whatever read it; and how each
camera reads plates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Sighting(Base):
    """One vehicle's plate as read while it passed one camera: the best of the frames it was read in.

    `plate` is the read text (upper case A-Z0-9, no separators), None when the read stayed below the
    confidence floor (unreadable: kept with its crop, never guessed). `folded` is the plate with look-alike
    characters folded to one (O/0, I/1, B/8, S/5, Z/2, D/0, G/6) for fuzzy search (the plates one edit away
    are looked up as keys), `folded_rev` the same reversed, so a wildcard anchored at its end (`*1234`) can
    use an index. `hold` names what keeps
    the sighting past the retention period (a hotlist hit, an incident, a case); None: it expires.
    """

    __tablename__ = "plate_sightings"
    __table_args__ = (
        # Exact and prefix search (LIKE 'LEA12%'), newest first; the pattern opclass lets PostgreSQL use
        # the index for LIKE whatever the database's collation. District and id make it covering: a
        # prefix matching thousands of sightings is scoped and ordered from the index alone.
        Index(
            "ix_plate_sightings_plate",
            "plate",
            "seen_at",
            "district_id",
            "id",
            postgresql_ops={"plate": "varchar_pattern_ops"},
        ),
        Index("ix_plate_sightings_folded", "folded", postgresql_ops={"folded": "varchar_pattern_ops"}),
        Index(
            "ix_plate_sightings_folded_rev",
            "folded_rev",
            postgresql_ops={"folded_rev": "varchar_pattern_ops"},
        ),
        Index("ix_plate_sightings_camera_id_seen_at", "camera_id", "seen_at"),
        Index("ix_plate_sightings_district_id_seen_at", "district_id", "seen_at"),
        Index("ix_plate_sightings_seen_at", "seen_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The camera that read it; the sighting outlives the camera's removal (it may be evidence).
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the moment of the best crop
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    plate: Mapped[str | None] = mapped_column(String(16))
    folded: Mapped[str | None] = mapped_column(String(16))
    folded_rev: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    char_confidences: Mapped[list[float]] = mapped_column(JSON, default=list)
    alternatives: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{text, confidence}]
    layout: Mapped[str] = mapped_column(String(40))
    jurisdiction: Mapped[str] = mapped_column(String(40))
    vehicle_class: Mapped[str | None] = mapped_column(String(32))
    colour: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(16))
    track_id: Mapped[int | None] = mapped_column(Integer)
    box: Mapped[list[int]] = mapped_column(JSON, default=list)  # the plate in the frame: x, y, w, h
    frames: Mapped[int] = mapped_column(SmallInteger, default=1)  # how many frames' reads were combined
    crop: Mapped[str | None] = mapped_column(String(200))  # under the snapshots directory
    snapshot: Mapped[str | None] = mapped_column(String(200))  # the vehicle, same place
    hold: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CameraPlates(Base):
    """How one camera reads number plates (`PlateSettings`); a camera without a row reads none."""

    __tablename__ = "camera_plates"

    camera_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16))  # off | vehicles | dedicated
    region: Mapped[str] = mapped_column(String(8))
    min_plate_px: Mapped[int] = mapped_column(SmallInteger)
    min_vehicle_px: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
