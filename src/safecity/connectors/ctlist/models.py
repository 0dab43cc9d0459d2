"""Listings of the counter-terrorism schedule (Fourth Schedule), as its list or an imported file gave them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Listing(Base):
    """One person on the schedule; one row per CNIC and source, refreshed by each list or import."""

    __tablename__ = "ct_listings"
    __table_args__ = (
        UniqueConstraint("source", "cnic", name="uq_ct_listings_source_cnic"),
        Index("ix_ct_listings_cnic", "cnic"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    cnic: Mapped[str] = mapped_column(String(15))  # NNNNN-NNNNNNN-N
    name: Mapped[str] = mapped_column(String(120))
    father_name: Mapped[str] = mapped_column(String(120), default="")
    district: Mapped[str] = mapped_column(String(120), default="")
    listed_on: Mapped[dt.date] = mapped_column(Date)
    delisted_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    source: Mapped[str] = mapped_column(String(64))  # the connector's name, or "import:<file>"
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
