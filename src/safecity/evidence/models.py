"""Investigation cases: numbered per district and year, a team, shares to other districts, linked items
(incidents, events, plate reads, face matches, records, object tracks and recorded footage), notes, tasks
and the append-only custody log of every item (who added, viewed, exported it, when and why).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


def _str_enum(cls: type[enum.StrEnum], name: str, length: int) -> Enum:
    # Plain checked text (not a PostgreSQL enum type): adding a value is a data change only.
    return Enum(
        cls, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class CaseStatus(enum.StrEnum):
    """Whether a case is still being worked."""

    OPEN = "open"
    CLOSED = "closed"


class ItemKind(enum.StrEnum):
    """What a case item points at."""

    INCIDENT = "incident"
    EVENT = "event"
    PLATE_SIGHTING = "plate_sighting"
    FACE_MATCH = "face_match"
    PERSON = "person"
    OBJECT_TRACK = "object_track"
    RECORDING = "recording"  # a camera's footage over [start, end): put under evidence lock


class CustodyAction(enum.StrEnum):
    """What was done to a case or one of its items, in the custody log."""

    ADDED = "added"
    VIEWED = "viewed"
    EXPORTED = "exported"
    DOWNLOADED = "downloaded"
    REMOVED = "removed"
    LOCKED = "locked"


class CaseCounter(Base):
    """The last case number given per district and year (incremented in the creating transaction)."""

    __tablename__ = "case_counters"

    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    """One investigation: its number, lead investigator, district and whether it is still open."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_district_id_created_at", "district_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # "PSW-CASE-2026-000012"
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[CaseStatus] = mapped_column(
        _str_enum(CaseStatus, "case_status", 16), default=CaseStatus.OPEN
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CaseMember(Base):
    """One member of a case's team: sees and works the case whatever their districts."""

    __tablename__ = "case_members"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseShare(Base):
    """A case shared with another district's investigators by a supervisor, with the reason."""

    __tablename__ = "case_shares"
    __table_args__ = (UniqueConstraint("case_id", "district_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    shared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseItem(Base):
    """One thing linked to a case: a row of another domain (`ref_id`), or a camera's footage over a span."""

    __tablename__ = "case_items"
    __table_args__ = (Index("ix_case_items_case_id_added_at", "case_id", "added_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[ItemKind] = mapped_column(_str_enum(ItemKind, "case_item_kind", 16))
    ref_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # the incident, event, sighting … id
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # when it happened (recordings: from)
    end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # recordings: until
    label: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class CaseNote(Base):
    """A note an investigator wrote on a case."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case_id_at", "case_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseTask(Base):
    """A task of a case: what is to be done, by whom and when, and whether it was."""

    __tablename__ = "case_tasks"
    __table_args__ = (Index("ix_case_tasks_case_id_created_at", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due: Mapped[dt.date | None] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CaseCustody(Base):
    """One line of a case's custody log (append-only): who did what to the case or an item, when and why."""

    __tablename__ = "case_custody"
    __table_args__ = (Index("ix_case_custody_case_id_at", "case_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # No foreign key: the line outlives the removal of its item.
    item_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    action: Mapped[CustodyAction] = mapped_column(_str_enum(CustodyAction, "case_custody_action", 16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))  # kept as it was when the user acted
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    purpose: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
