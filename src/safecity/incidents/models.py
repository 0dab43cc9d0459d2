"""Incident records of the Command and Control Centre: numbers, timeline, SOP checklists and links."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safecity.core.db import Base, UTCDateTime, utcnow


def _str_enum(cls: type[enum.StrEnum], name: str, length: int) -> Enum:
    # Stored as plain checked text (not a PostgreSQL enum type) so adding a value is a data change only.
    return Enum(
        cls, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Category(enum.StrEnum):
    """What kind of emergency an incident is; each has its own SOP checklist."""

    STREET_CRIME = "street_crime"
    VEHICLE_THEFT = "vehicle_theft"
    TERRORISM_THREAT = "terrorism_threat"
    TRAFFIC_ACCIDENT = "traffic_accident"
    FIRE = "fire"
    MEDICAL = "medical"
    WOMENS_SAFETY = "womens_safety"
    OTHER = "other"


class Status(enum.StrEnum):
    """Where an incident stands; the allowed moves are in `TRANSITIONS`."""

    NEW = "new"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Explicit moves; resolved → on_scene is the reopen (a reason is required for every move).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.DISPATCHED, Status.ON_SCENE, Status.RESOLVED}),
    Status.DISPATCHED: frozenset({Status.ON_SCENE, Status.RESOLVED}),
    Status.ON_SCENE: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.ON_SCENE}),
    Status.CLOSED: frozenset(),
}


class Source(enum.StrEnum):
    """How the incident reached the centre."""

    CALL = "call"
    ALERT = "alert"
    API = "api"
    PANIC = "panic"
    RESCUE1122 = "rescue1122"  # Rescue 1122's own incident, shared with us (connectors/rescue1122)


class LinkKind(enum.StrEnum):
    """What an incident link points at."""

    CAMERA = "camera"
    ALERT = "alert"
    ATTACHMENT = "attachment"


class IncidentCounter(Base):
    """The last incident number given per district and year (incremented in the creating transaction)."""

    __tablename__ = "incident_counters"

    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    """One emergency handled by the centre, from the call (or alert) to its closing."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 1 AND 4", name="priority_range"),
        CheckConstraint("version >= 1", name="version_positive"),
        # The list's question: "incidents of my districts, newest first".
        Index("ix_incidents_district_id_created_at", "district_id", "created_at"),
        Index("ix_incidents_status_priority", "status", "priority"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # "PSW-2026-000042"
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    category: Mapped[Category] = mapped_column(_str_enum(Category, "incident_category", 32))
    priority: Mapped[int] = mapped_column(SmallInteger, default=3)  # 1 = highest … 4
    status: Mapped[Status] = mapped_column(_str_enum(Status, "incident_status", 16), default=Status.NEW)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    caller_name: Mapped[str | None] = mapped_column(String(120))
    caller_phone: Mapped[str | None] = mapped_column(String(16))  # +923XXXXXXXXX
    source: Mapped[Source] = mapped_column(_str_enum(Source, "incident_source", 16), default=Source.CALL)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency

    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.seq", cascade="all, delete-orphan"
    )
    sop_items: Mapped[list[IncidentSopItem]] = relationship(
        back_populates="incident", order_by="IncidentSopItem.position", cascade="all, delete-orphan"
    )
    links: Mapped[list[IncidentLink]] = relationship(
        back_populates="incident", order_by="IncidentLink.created_at", cascade="all, delete-orphan"
    )


class IncidentEvent(Base):
    """One line of an incident's timeline (created, status, priority, sop, note, link, dispatch …)."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_id_seq", "incident_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # Order within the incident: timestamps can tie within one transaction.
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="events")


class IncidentSopItem(Base):
    """One step of the incident's SOP checklist, copied from its category's template at creation."""

    __tablename__ = "incident_sop_items"
    __table_args__ = (UniqueConstraint("incident_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    done_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    done_by_name: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="sop_items")


class IncidentLink(Base):
    """A camera, alert or attached file that belongs to an incident."""

    __tablename__ = "incident_links"
    __table_args__ = (Index("ix_incident_links_incident_id", "incident_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[LinkKind] = mapped_column(_str_enum(LinkKind, "incident_link_kind", 16))
    ref_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # camera or alert id
    label: Mapped[str] = mapped_column(String(200), default="")
    # Attachments only: the stored file (under <data_dir>/attachments/<incident id>/).
    file_name: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="links")
