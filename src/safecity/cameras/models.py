"""Tables of the camera registry."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class Owner(enum.StrEnum):
    POLICE = "police"
    DEPARTMENT = "department"  # another government department
    COMMERCIAL = "commercial"  # joined by law (Safe Cities Act): shops, banks, plazas


class Sharing(enum.StrEnum):
    CONTINUOUS = "continuous"
    ON_ALARM = "on_alarm"
    ON_REQUEST = "on_request"


class Approval(enum.StrEnum):
    """Where a camera stands in the authority's review (police cameras are approved on creation)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Premises(Base):
    """A commercial or private place whose owner connects cameras to the network."""

    __tablename__ = "premises"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(160))
    organisation: Mapped[str] = mapped_column(String(160))
    address: Mapped[str] = mapped_column(Text, default="")
    contact_phone: Mapped[str] = mapped_column(String(16), default="")  # normalised +923…
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Camera(Base):
    """A camera of the network: where it stands, how to reach its streams, who owns it and may see it."""

    __tablename__ = "cameras"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    premises_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("premises.id", ondelete="CASCADE"), index=True
    )
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    bearing: Mapped[float | None] = mapped_column(Float)  # degrees clockwise from north
    field_of_view: Mapped[float | None] = mapped_column(Float)  # degrees
    # Stream URLs never hold credentials: those live encrypted below and are joined in at connect time.
    stream_url: Mapped[str] = mapped_column(String(500))
    substream_url: Mapped[str | None] = mapped_column(String(500))
    username: Mapped[str | None] = mapped_column(String(120))
    password_encrypted: Mapped[str | None] = mapped_column(String(500))
    owner: Mapped[Owner] = mapped_column(_enum(Owner, "camera_owner"), default=Owner.POLICE)
    owner_organisation: Mapped[str] = mapped_column(String(160), default="")
    sharing: Mapped[Sharing] = mapped_column(_enum(Sharing, "camera_sharing"), default=Sharing.CONTINUOUS)
    approval: Mapped[Approval] = mapped_column(_enum(Approval, "camera_approval"), default=Approval.APPROVED)
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last automated compliance check (schemas.ComplianceReport as JSON) and when it ran.
    compliance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    compliance_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    recording: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
