"""Tables of dispatch: agencies, their units (with last known position) and assignments to incidents."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime
from safecity.incidents.models import Incident


class UnitStatus(enum.StrEnum):
    """Where a unit stands; only an available unit may be assigned."""

    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    OFF_DUTY = "off_duty"
    BUSY = "busy"  # on duty but not free for a new incident (a task of its own, refuelling ...)
    OUT_OF_SERVICE = "out_of_service"  # the vehicle cannot be sent (breakdown, repair)


# The statuses of a unit that is working an incident: closing the incident makes it available again.
WORKING = frozenset({UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE, UnitStatus.RETURNING})


class Agency(Base):
    """An agency that sends units (police, Rescue 1122, fire brigade ...), seeded from agencies.toml."""

    __tablename__ = "agencies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(16))


class Unit(Base):
    """A vehicle and its crew that can be sent to incidents."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
        # The recommendation's question: "available units of these agencies".
        Index("ix_units_status_agency_id", "status", "agency_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    call_sign: Mapped[str] = mapped_column(String(32), unique=True)
    vehicle_registration: Mapped[str] = mapped_column(String(20))
    vehicle_type: Mapped[str] = mapped_column(String(40))
    crew: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"name": .., "rank": ..}]
    home_station_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("police_stations.id", ondelete="SET NULL")
    )
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[UnitStatus] = mapped_column(
        Enum(
            UnitStatus,
            name="unit_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=UnitStatus.OFF_DUTY,
    )
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    position_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The machine account the unit's own terminal (mobile client) signs in as: it may set this unit's status.
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)


class Assignment(Base):
    """A unit sent to an incident, and when it acknowledged, arrived and cleared."""

    __tablename__ = "assignments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Incident.id, ondelete="RESTRICT"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
