"""Tables of traffic enforcement: the rules that turn what a camera saw into an offence, the traffic
signals whose state a red-light rule needs, and the violations with their evidence packets.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


def db_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A string column holding one of the enum's values (portable: no native enum type)."""
    return Enum(cls, name=name, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Offence(enum.StrEnum):
    """What a violation is; the fine schedule is keyed by the same codes."""

    RED_LIGHT = "red_light"
    OVER_SPEED = "over_speed"
    WRONG_WAY = "wrong_way"
    NO_PARKING = "no_parking"
    NO_HELMET = "no_helmet"


class SignalLight(enum.StrEnum):
    """A traffic signal's aspect."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"
    OFF = "off"  # dark or flashing: no red-light offence is possible
    UNKNOWN = "unknown"


class SignalSource(enum.StrEnum):
    """Where a signal's state comes from."""

    CONTROLLER = "controller"  # the signal controller reports it (REST API or MQTT)
    LAMP = "lamp"  # read from the lamps' colour in a region of a camera's picture


class ViolationStatus(enum.StrEnum):
    """Where a violation stands on its way to a challan (or not)."""

    COLLECTING = "collecting"  # evidence being gathered (the clip needs the seconds after the offence)
    PENDING = "pending"  # in the review queue
    SECOND_REVIEW = "second_review"  # confirmed once, the read was unsure: a second officer must agree
    INVESTIGATE = "investigate"  # the registry's vehicle is not the one seen: a cloned plate? never ticketed
    CONFIRMED = "confirmed"  # a challan is (being) issued
    REJECTED = "rejected"
    WITHHELD = "withheld"  # its camera is suspended for poor precision: kept, not queued


class EnforcementRule(Base):
    """One offence enforced on one camera, built on what is drawn on its picture and measured there.

    red_light: `analytics_rule_id` is the stop line (a line crossing) and `signal_id` the signal;
    over_speed: `calibration_id` (two lines) or `section_id` (two ANPR cameras) and `params.limit_kmh`
    (default: the calibration's or section's limit) plus `params.tolerance_kmh`;
    wrong_way: `analytics_rule_id` is a wrong-way zone; no_parking: a stopped-vehicle zone, whose dwell
    time is the grace time.
    """

    __tablename__ = "traffic_enforcement_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    offence: Mapped[Offence] = mapped_column(db_enum(Offence, "traffic_offence"))
    analytics_rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analytics_rules.id", ondelete="CASCADE"), index=True
    )
    signal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("traffic_signals.id", ondelete="RESTRICT"))
    calibration_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("traffic_speed_calibrations.id", ondelete="CASCADE"), index=True
    )
    section_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("traffic_sections.id", ondelete="CASCADE"), index=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Signal(Base):
    """A traffic signal (one approach's signal head) whose state red-light rules consult.

    A controller-fed signal takes its state by API or on MQTT topic `safecity/signals/<id>`; a lamp-read
    signal is watched in `lamp_region` (polygon, fractions of the picture) of `camera_id`.
    """

    __tablename__ = "traffic_signals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    source: Mapped[SignalSource] = mapped_column(db_enum(SignalSource, "traffic_signal_source"))
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    lamp_region: Mapped[list[list[float]] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignalState(Base):
    """A change of a signal's aspect: the state holds from `at` until the next row."""

    __tablename__ = "traffic_signal_states"

    signal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("traffic_signals.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    light: Mapped[SignalLight] = mapped_column(db_enum(SignalLight, "traffic_signal_light"))
    source: Mapped[str] = mapped_column(String(32))  # "api", "mqtt" or "lamp": recorded with the evidence


class Violation(Base):
    """An offence one vehicle committed in front of one camera, with its evidence packet.

    `source_key` names what raised it (the analytics event, the section passage, the speed crossing):
    unique, so a replayed event never makes a second violation. `evidence` is the packet's manifest
    (files with role, path, size and SHA-256; rule, parameters, measurement, read, place and time) and
    `evidence_sha256` the hash of that manifest, also written to the audit chain. `version` moves with
    every decision so two reviewers acting at once cannot both decide.
    """

    __tablename__ = "traffic_violations"
    __table_args__ = (
        Index("ix_traffic_violations_district_id_status_occurred_at", "district_id", "status", "occurred_at"),
        Index("ix_traffic_violations_camera_id_occurred_at", "camera_id", "occurred_at"),
        Index("ix_traffic_violations_plate", "plate"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source_key: Mapped[str] = mapped_column(String(120), unique=True)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("traffic_enforcement_rules.id", ondelete="SET NULL"), index=True
    )
    offence: Mapped[Offence] = mapped_column(db_enum(Offence, "traffic_offence"))
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="RESTRICT"))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[ViolationStatus] = mapped_column(db_enum(ViolationStatus, "traffic_violation_status"))
    track_id: Mapped[int | None] = mapped_column(Integer)
    box: Mapped[list[float] | None] = mapped_column(JSON)  # the vehicle at the offence, x1 y1 x2 y2 pixels
    event_id: Mapped[uuid.UUID | None]  # the analytics event (no foreign key: evidence outlives retention)
    sighting_id: Mapped[uuid.UUID | None]  # the plate read of the vehicle's pass, once it is known
    plate_read: Mapped[str | None] = mapped_column(String(16))  # as the camera read it (None: unreadable)
    plate_confidence: Mapped[float | None] = mapped_column(Float)
    plate: Mapped[str | None] = mapped_column(String(16))  # as confirmed (a reviewer may correct the read)
    vehicle_class: Mapped[str | None] = mapped_column(String(32))
    colour: Mapped[str | None] = mapped_column(String(32))
    measured: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # signal state and source, speed …
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    registry_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # seen vs registered; mismatches
    reason_code: Mapped[str | None] = mapped_column(String(32))  # why rejected / sent to investigation
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
