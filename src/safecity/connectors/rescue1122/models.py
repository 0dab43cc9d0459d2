"""What we told Rescue 1122 of our incidents (an outbox: retried until delivered) and which of their
incidents became ours (so a repeated callback creates nothing twice)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Delivery(Base):
    """Our incident as last delivered to one Rescue 1122 connector (its status then), and the retries."""

    __tablename__ = "rescue_deliveries"
    __table_args__ = (
        UniqueConstraint("connector", "incident_id", name="uq_rescue_deliveries_connector_incident"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    connector: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    delivered_status: Mapped[str | None] = mapped_column(String(16), default=None)  # None: not yet
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed tries since the last delivery
    next_try_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Received(Base):
    """One of their incidents that reached us, and the incident it became."""

    __tablename__ = "rescue_received"
    __table_args__ = (
        UniqueConstraint("connector", "remote_id", name="uq_rescue_received_connector_remote_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    connector: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
