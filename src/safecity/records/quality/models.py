"""Tables of the records' data quality: other departments' databases to import from, and merges of duplicate
persons with exactly what each moved (so that an undo puts every row back)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class ImportSource(Base):
    """Another department's database, read-only, and the SELECT whose columns name the records' fields."""

    __tablename__ = "record_import_sources"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(48), unique=True)  # the facts' source: import:<name>
    kind: Mapped[str] = mapped_column(String(16))  # persons, vehicles or firs
    url_sealed: Mapped[str] = mapped_column(Text)  # the SQLAlchemy URL with its credentials, encrypted
    url_shown: Mapped[str] = mapped_column(String(300))  # the same without the password
    query: Mapped[str] = mapped_column(Text)
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Merge(Base):
    """One duplicate person merged into another: the ids of the rows moved per table, to undo it exactly."""

    __tablename__ = "record_merges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kept_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    merged_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="CASCADE"), index=True
    )
    # {table: [row ids moved]}, plus "alias_added" (the name given to the kept record) and "facts_current"
    # (the merged person's facts that were in force there and are not on the kept record).
    moved: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_by: Mapped[str] = mapped_column(String(64), default="")
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    undo_reason: Mapped[str] = mapped_column(Text, default="")
