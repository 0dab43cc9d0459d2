"""Prison events (releases, escapes, transfers) as the prisons department reported them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class PrisonEvent(Base):
    """One release, escape or transfer; by the department's `remote_id`, so a re-poll stores nothing twice."""

    __tablename__ = "prison_events"
    __table_args__ = (
        UniqueConstraint("source", "remote_id", name="uq_prison_events_source_remote_id"),
        Index("ix_prison_events_cnic_at", "cnic", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(64))  # the connector's name
    remote_id: Mapped[str] = mapped_column(String(64))
    cnic: Mapped[str] = mapped_column(String(15))  # NNNNN-NNNNNNN-N
    name: Mapped[str] = mapped_column(String(120))
    prison: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(16))  # released, escaped, transferred
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when it happened, as the department says
    district_code: Mapped[str] = mapped_column(String(8), default="")  # the prison's district, if given
    alert_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the alert an escape raised
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
