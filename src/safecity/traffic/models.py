"""Tables of traffic: speed calibrations between two counting lines, vehicle speeds per time bucket, ANPR
sections with each vehicle's average speed between them, and road segments with their congestion.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class SpeedCalibration(Base):
    """Two counting lines of one camera a measured distance apart along the road: a vehicle crossing one
    then the other drove `distance_m` in the time between.

    `speed_limit_kmh` (optional) is the limit above which a vehicle's speed raises an alert.
    """

    __tablename__ = "traffic_speed_calibrations"
    __table_args__ = (UniqueConstraint("line_a_id", "line_b_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    line_a_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analytics_rules.id", ondelete="CASCADE"))
    line_b_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analytics_rules.id", ondelete="CASCADE"))
    distance_m: Mapped[float] = mapped_column(Float)
    speed_limit_kmh: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SpeedBucket(Base):
    """Speeds of the vehicles of one class measured by one calibration within one time bucket.

    Like line counts, each vehicle is added to a bucket of every interval (1, 5, 15, 60 min). `bins` is a
    histogram (2 km/h wide bins, key = bin index as text) so that buckets flushed several times still
    give the 85th percentile; count, sum and max give the mean and the maximum exactly.
    """

    __tablename__ = "traffic_speeds"
    __table_args__ = (
        Index(
            "ix_traffic_speeds_camera_id_interval_min_bucket_start",
            "camera_id",
            "interval_min",
            "bucket_start",
        ),
    )

    calibration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_speed_calibrations.id", ondelete="CASCADE"), primary_key=True
    )
    interval_min: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    class_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer)
    sum_kmh: Mapped[float] = mapped_column(Float)
    max_kmh: Mapped[float] = mapped_column(Float)
    bins: Mapped[dict[str, int]] = mapped_column(JSON)


class Section(Base):
    """Average-speed (section) control: two ANPR cameras `distance_m` apart along the road, a vehicle
    read at A then at B within `max_travel_s` drove the section at distance / time on average.
    """

    __tablename__ = "traffic_sections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    camera_a_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    camera_b_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    distance_m: Mapped[float] = mapped_column(Float)
    speed_limit_kmh: Mapped[float] = mapped_column(Float)
    max_travel_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SectionPassage(Base):
    """One vehicle's pass through a section: its plate, both sightings, and its average speed.

    The sighting ids are kept without a foreign key: a passage over the limit is the start of an
    e-challan and must outlive the sightings' retention.
    """

    __tablename__ = "traffic_section_passages"
    __table_args__ = (
        UniqueConstraint("section_id", "sighting_b_id"),  # a redelivered sighting is not a second pass
        Index("ix_traffic_section_passages_section_id_exited_at", "section_id", "exited_at"),
        Index("ix_traffic_section_passages_plate", "plate"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traffic_sections.id", ondelete="CASCADE"))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    plate: Mapped[str] = mapped_column(String(16))
    sighting_a_id: Mapped[uuid.UUID]
    sighting_b_id: Mapped[uuid.UUID]
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    exited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    speed_kmh: Mapped[float] = mapped_column(Float)
    over_limit: Mapped[bool] = mapped_column(Boolean, index=True)
    vehicle_class: Mapped[str | None] = mapped_column(String(32))


class Segment(Base):
    """A stretch of road drawn on the map (`path`: [[lat, lon], ...]) whose traffic is measured by the
    counting lines `line_ids` (one per lane) of one camera; congestion is judged against its free-flow
    speed and its capacity (`capacity_vph` vehicles per hour per lane, times `lanes`).

    A jam is `speed ratio < jam_ratio` for `jam_minutes`; a stopped lane is a lane that normally flows
    carrying nothing for `stopped_minutes`.
    """

    __tablename__ = "traffic_segments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    line_ids: Mapped[list[str]] = mapped_column(JSON)
    path: Mapped[list[list[float]]] = mapped_column(JSON)
    free_flow_kmh: Mapped[float] = mapped_column(Float)
    capacity_vph: Mapped[int] = mapped_column(Integer)
    lanes: Mapped[int] = mapped_column(SmallInteger)
    jam_ratio: Mapped[float] = mapped_column(Float)
    jam_minutes: Mapped[int] = mapped_column(SmallInteger)
    stopped_minutes: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SegmentState(Base):
    """A segment's latest evaluation: what the map colours it by, and what raised an alert."""

    __tablename__ = "traffic_segment_states"

    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_segments.id", ondelete="CASCADE"), primary_key=True
    )
    evaluated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(16))
    flow_vph: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    jammed: Mapped[bool] = mapped_column(Boolean)
    stopped_lanes: Mapped[list[str]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
