"""Who an incident was shared with, and which agencies a user works for."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class IncidentShare(Base):
    """An incident shared with an agency, by whom and why."""

    __tablename__ = "incident_shares"
    __table_args__ = (
        UniqueConstraint("incident_id", "agency_code"),
        # The agency's question: "what was shared with us, newest first".
        Index("ix_incident_shares_agency_code_shared_at", "agency_code", "shared_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(32), ForeignKey("agencies.code", ondelete="CASCADE"))
    shared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class UserAgency(Base):
    """A user who works for an agency, and so sees what is shared with it."""

    __tablename__ = "user_agencies"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    agency_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("agencies.code", ondelete="CASCADE"), primary_key=True
    )
