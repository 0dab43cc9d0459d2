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
    # Set when the check is due (an owner's camera registered, or its stream changed); the background
    # runner (onboarding.run_due_checks) clears it when it has stored the new report.
    compliance_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    recording: Mapped[bool] = mapped_column(Boolean, default=True)
    # The worker that should run it (e.g. one near it) while that worker is alive; None: any (cluster/).
    pinned_worker: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AccessStatus(enum.StrEnum):
    """Where a request to watch an on-request camera stands."""

    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"  # granted, then withdrawn by the owner before it expired


class AccessScope(enum.StrEnum):
    LIVE = "live"
    RECORDED = "recorded"
    BOTH = "both"


class AccessRequest(Base):
    """A request by police staff to watch an on-request camera, for a purpose and a time window.

    Granted (by the camera's owner, or automatically where the sharing policy says so), it lets its
    requester watch within [starts_at, ends_at) only; every use is audited with its purpose.
    """

    __tablename__ = "camera_access_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    requester_name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[AccessScope] = mapped_column(_enum(AccessScope, "camera_access_scope"))
    purpose: Mapped[str] = mapped_column(Text)
    incident_ref: Mapped[str] = mapped_column(String(64), default="")
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[AccessStatus] = mapped_column(
        _enum(AccessStatus, "camera_access_status"), default=AccessStatus.PENDING, index=True
    )
    auto_granted: Mapped[bool] = mapped_column(Boolean, default=False)  # by the policy: flagged for review
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
