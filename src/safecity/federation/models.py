"""Tables of the province centre: what the district centres sent (one row per centre and original id), and
each centre's link.

`centre` is the sending centre's code, `original_id` the record's id in that centre's own database: a
message delivered twice (after a link outage, a restart) finds its row and is not stored again.
`district_id` is the province's district that the centre covers: a user sees the rows of their districts.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Float, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class FederatedAlert(Base):
    """A district's alert in its latest state (a repeat, an acknowledgement replaces the earlier state)."""

    __tablename__ = "federated_alerts"
    __table_args__ = (
        UniqueConstraint("centre", "original_id", name="uq_federated_alerts_original"),
        Index("ix_federated_alerts_raised_at", "raised_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    centre: Mapped[str] = mapped_column(String(32))
    original_id: Mapped[uuid.UUID]
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    camera_name: Mapped[str | None] = mapped_column(String(120))
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime
    )  # of the state stored: a later one replaces it
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FederatedIncident(Base):
    """A district's incident in its latest state (status updates replace the earlier state)."""

    __tablename__ = "federated_incidents"
    __table_args__ = (
        UniqueConstraint("centre", "original_id", name="uq_federated_incidents_original"),
        Index("ix_federated_incidents_opened_at", "opened_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    centre: Mapped[str] = mapped_column(String(32))
    original_id: Mapped[uuid.UUID]
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FederatedHit(Base):
    """A district's hotlist hit (from its alert): the plate read, the plate listed, the list."""

    __tablename__ = "federated_hits"
    __table_args__ = (
        UniqueConstraint("centre", "original_id", name="uq_federated_hits_original"),
        Index("ix_federated_hits_seen_at", "seen_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    centre: Mapped[str] = mapped_column(String(32))
    original_id: Mapped[uuid.UUID]
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    read_plate: Mapped[str] = mapped_column(String(16))
    listed_plate: Mapped[str] = mapped_column(String(16))
    list_name: Mapped[str] = mapped_column(String(120))
    list_kind: Mapped[str] = mapped_column(String(32))
    camera_name: Mapped[str | None] = mapped_column(String(120))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FederatedPlateRead(Base):
    """A plate read in a district: text and where and when, never its pictures (they stay in the district).

    `folded` and `folded_rev` as on plate_sightings, so the province searches them with the same helpers.
    """

    __tablename__ = "federated_plate_reads"
    __table_args__ = (
        UniqueConstraint("centre", "original_id", name="uq_federated_plate_reads_original"),
        Index(
            "ix_federated_plate_reads_plate",
            "plate",
            "seen_at",
            postgresql_ops={"plate": "varchar_pattern_ops"},
        ),
        Index("ix_federated_plate_reads_folded", "folded", postgresql_ops={"folded": "varchar_pattern_ops"}),
        Index(
            "ix_federated_plate_reads_folded_rev",
            "folded_rev",
            postgresql_ops={"folded_rev": "varchar_pattern_ops"},
        ),
        Index("ix_federated_plate_reads_seen_at", "seen_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    centre: Mapped[str] = mapped_column(String(32))
    original_id: Mapped[uuid.UUID]
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    plate: Mapped[str | None] = mapped_column(String(16))
    folded: Mapped[str | None] = mapped_column(String(16))
    folded_rev: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    jurisdiction: Mapped[str] = mapped_column(String(40))
    camera_id: Mapped[uuid.UUID | None]  # the camera's id in the district (no camera row here)
    camera_name: Mapped[str | None] = mapped_column(String(120))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FederationLink(Base):
    """What the province last heard from one centre: when, how late, how much, how much it refused."""

    __tablename__ = "federation_links"

    centre: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # by the centre, of that message
    received: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
