"""Tables of hotlists: the lists, their plates, the districts a list covers, and the hits on sightings."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Enum, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class ListKind(enum.StrEnum):
    """Why the vehicles on a list are sought."""

    STOLEN = "stolen"
    WANTED = "wanted"
    EXPIRED_REGISTRATION = "expired_registration"
    UNPAID_CHALLANS = "unpaid_challans"
    WATCH = "watch"


class MatchMode(enum.StrEnum):
    """How a sighting's plate must compare with a listed plate to be a hit."""

    EXACT = "exact"  # the same characters
    FUZZY = "fuzzy"  # the same once look-alikes are folded (O/0, B/8 …), and optionally one edit apart


class HitStatus(enum.StrEnum):
    """Where a hit stands with the operators."""

    PENDING = "pending"
    CONFIRMED = "confirmed"  # the crop shows the listed plate
    DISMISSED = "dismissed"  # a misread, another vehicle, a list out of date …


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Hotlist(Base):
    """A list of sought vehicles kept by an agency: what an operator is told to do when one is seen."""

    __tablename__ = "hotlists"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[ListKind] = mapped_column(_enum(ListKind, "hotlist_kind"))
    name: Mapped[str] = mapped_column(String(120))
    agency: Mapped[str] = mapped_column(String(120))  # the agency or unit that keeps the list
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_name: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500), default="")
    legal_reference: Mapped[str] = mapped_column(String(200), default="")
    instructions: Mapped[str] = mapped_column(String(1000), default="")  # what the operator must do
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # True: every district, now and later; False: the districts in hotlist_districts.
    province_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    match_mode: Mapped[MatchMode] = mapped_column(_enum(MatchMode, "hotlist_match_mode"))
    max_edits: Mapped[int] = mapped_column(SmallInteger, default=0)  # fuzzy lists: 0 or 1
    severity: Mapped[int] = mapped_column(SmallInteger, default=3)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved by every change of the list or its entries: matchers reload their index when it moves.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class HotlistDistrict(Base):
    """A district a (not province-wide) list applies to."""

    __tablename__ = "hotlist_districts"

    hotlist_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hotlists.id", ondelete="CASCADE"), primary_key=True
    )
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HotlistEntry(Base):
    """One sought plate on a list, normalised to A-Z0-9; `folded` is its look-alike-folded key."""

    __tablename__ = "hotlist_entries"
    __table_args__ = (
        UniqueConstraint("hotlist_id", "plate", name="uq_hotlist_entries_hotlist_id_plate"),
        Index("ix_hotlist_entries_plate", "plate"),
        Index("ix_hotlist_entries_folded", "folded"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    hotlist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hotlists.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(16))
    folded: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    reference: Mapped[str] = mapped_column(String(120), default="")  # FIR number, warrant, challan …
    description: Mapped[str] = mapped_column(String(200), default="")  # make, model, colour
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_by_name: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HotlistHit(Base):
    """A sighting that matched a listed plate, and what the operator made of it.

    The listed plate, the list's name and kind are copied: the hit stays readable when the entry or the
    list is later removed.
    """

    __tablename__ = "hotlist_hits"
    __table_args__ = (
        # A sighting delivered twice matches once.
        UniqueConstraint("sighting_id", "entry_id", name="uq_hotlist_hits_sighting_id_entry_id"),
        Index("ix_hotlist_hits_district_id_seen_at", "district_id", "seen_at"),
        Index("ix_hotlist_hits_hotlist_id_status", "hotlist_id", "status"),
        Index("ix_hotlist_hits_camera_id_status", "camera_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sighting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plate_sightings.id", ondelete="RESTRICT"))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hotlist_entries.id", ondelete="SET NULL"))
    hotlist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hotlists.id", ondelete="SET NULL"))
    hotlist_name: Mapped[str] = mapped_column(String(120))
    hotlist_kind: Mapped[str] = mapped_column(String(24))
    read_plate: Mapped[str] = mapped_column(String(16))
    listed_plate: Mapped[str] = mapped_column(String(16))
    matched: Mapped[str] = mapped_column(String(16))  # exact, folded, one_edit
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    status: Mapped[HitStatus] = mapped_column(
        _enum(HitStatus, "hotlist_hit_status"), default=HitStatus.PENDING
    )
    handled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_by_name: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))  # why it was dismissed
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
