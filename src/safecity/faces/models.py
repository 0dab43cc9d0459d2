"""Tables of face recognition: watchlists of records persons, their enrolled faces (encrypted), the
authorisations under which faces may be matched, and the published error rates of the engine.

A watchlist entry is a person of the records; the entry, never the person, is what matches. An enrolment's
aligned face and embedding are biometric data: both are stored sealed (AES-GCM, key purpose "biometrics"),
only the photo's SHA-256 in clear. Live matching reads nothing here unless an approved, current
authorisation names the watchlist and the camera.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class WatchlistKind(enum.StrEnum):
    """Why the persons on a watchlist are sought."""

    WANTED = "wanted"  # a warrant or a court's order
    MISSING = "missing"  # the positive use: a lost child, a missing adult
    INTEREST = "interest"  # persons of interest to an investigation


class AuthorisationKind(enum.StrEnum):
    """What an authorisation allows: matching the cameras' faces live, or searching stored faces by photo."""

    LIVE = "live"
    RETROSPECTIVE = "retrospective"


class Watchlist(Base):
    """A list of persons to be recognised, kept by a district under a legal basis, reviewed and expiring."""

    __tablename__ = "face_watchlists"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[WatchlistKind] = mapped_column(_enum(WatchlistKind, "face_watchlist_kind"))
    legal_basis: Mapped[str] = mapped_column(String(500))
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_name: Mapped[str] = mapped_column(String(64))
    review_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when the owner must judge it still needed
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # past it, nothing on it matches
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved by every change: `gallery_stamp` reads it so matchers reload only when something changed.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WatchlistEntry(Base):
    """A person of the records on a watchlist: why, under what legal reference, until when."""

    __tablename__ = "face_watchlist_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    watchlist_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("face_watchlists.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("record_persons.id", ondelete="RESTRICT"), index=True
    )
    reason: Mapped[str] = mapped_column(String(500))
    legal_reference: Mapped[str] = mapped_column(String(200), default="")  # FIR, warrant, report number
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str] = mapped_column(String(64), default="")
    removal_reason: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Enrolment(Base):
    """One photo of an entry's person enrolled: its hash, and its aligned face and embedding sealed."""

    __tablename__ = "face_enrolments"
    __table_args__ = (UniqueConstraint("entry_id", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("face_watchlist_entries.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))  # of the photo as uploaded (the photo is not kept)
    chip: Mapped[bytes] = mapped_column(LargeBinary)  # the aligned face as JPEG, sealed
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 x 128, sealed
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)  # Quality.as_json()
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


authorisation_watchlists = Table(
    "face_authorisation_watchlists",
    Base.metadata,
    Column(
        "authorisation_id",
        ForeignKey("face_authorisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "watchlist_id", ForeignKey("face_watchlists.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

authorisation_cameras = Table(
    "face_authorisation_cameras",
    Base.metadata,
    Column(
        "authorisation_id",
        ForeignKey("face_authorisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("camera_id", ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Authorisation(Base):
    """Leave to use face recognition: who asked, who approved (another person), why, on which watchlists
    and cameras, from when to when; revocable at any time.
    """

    __tablename__ = "face_authorisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[AuthorisationKind] = mapped_column(_enum(AuthorisationKind, "face_authorisation_kind"))
    district_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    legal_basis: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_by: Mapped[str] = mapped_column(String(64), default="")
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaceEvaluation(Base):
    """The engine's error rates as measured on a labelled set of pairs and published for every operator."""

    __tablename__ = "face_evaluations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dataset: Mapped[str] = mapped_column(String(200))  # which labelled set, as the publisher names it
    pairs: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float)
    tar_at_far_1: Mapped[float | None] = mapped_column(Float)  # true accepts at 1 % false accepts
    tar_at_far_01: Mapped[float | None] = mapped_column(Float)  # at 0.1 %
    fmr: Mapped[float | None] = mapped_column(Float)  # false match rate at the threshold
    fnmr: Mapped[float | None] = mapped_column(Float)  # false non-match rate at the threshold
    threshold: Mapped[float] = mapped_column(Float)
    groups: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per labelled group: its rates
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the evaluation as computed
    published_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
