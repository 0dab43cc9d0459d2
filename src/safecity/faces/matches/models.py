"""Tables of live face matching: the faces the cameras saw, the leads they gave, and each examiner's decision.

Biometric data (the face's picture and its embedding) is stored encrypted. A face that matched nothing is
kept only until `expires_at` (the retrospective search window); a face that is part of a lead is kept
(`expires_at` None) as long as the lead is.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safecity.core.db import Base, UTCDateTime, utcnow


class MatchStatus(enum.StrEnum):
    """Where a lead stands with the examiners."""

    PENDING = "pending"
    CONFIRMED = "confirmed"  # two different examiners confirmed it
    REJECTED = "rejected"  # an examiner rejected it (with a reason: a false match)


class Decision(enum.StrEnum):
    """What one examiner decided on a lead."""

    CONFIRM = "confirm"
    REJECT = "reject"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class FaceSighting(Base):
    """A face a camera saw while a live authorisation covered it: where, when, how good, and (encrypted)
    its aligned picture and embedding: what retrospective search searches.
    """

    __tablename__ = "face_sightings"
    __table_args__ = (
        Index("ix_face_sightings_camera_id_seen_at", "camera_id", "seen_at"),
        Index("ix_face_sightings_district_id_seen_at", "district_id", "seen_at"),
        Index("ix_face_sightings_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    box: Mapped[list[int]] = mapped_column(JSON, default=list)  # the face in the frame: x, y, w, h
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the quality gate's report
    chip: Mapped[bytes] = mapped_column(LargeBinary)  # the aligned face, JPEG, encrypted
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 x 128, encrypted
    # The live authorisation it was seen under.
    authorisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("face_authorisations.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: part of a lead, kept
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaceMatch(Base):
    """A lead: a face seen that scored at or above the threshold against an enrolled face.

    Never a decision: two different examiners must confirm it before it can open an incident. The
    watchlist's and entry's names are copied so the lead stays readable when either is later removed.
    """

    __tablename__ = "face_matches"
    __table_args__ = (
        Index("ix_face_matches_status_created_at", "status", "created_at"),
        Index("ix_face_matches_camera_id_person_id_last_seen_at", "camera_id", "person_id", "last_seen_at"),
        Index("ix_face_matches_district_id_created_at", "district_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sighting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("face_sightings.id", ondelete="RESTRICT"))
    enrolment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("face_enrolments.id", ondelete="SET NULL")
    )
    entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("face_watchlist_entries.id", ondelete="SET NULL")
    )
    watchlist_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("face_watchlists.id", ondelete="SET NULL")
    )
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record_persons.id", ondelete="SET NULL"))
    authorisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("face_authorisations.id", ondelete="SET NULL")
    )
    camera_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the same person again within the window
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[MatchStatus] = mapped_column(_enum(MatchStatus, "face_match_status"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MatchDecision(Base):
    """One examiner's decision on a lead; an examiner decides a lead once."""

    __tablename__ = "face_match_decisions"
    __table_args__ = (
        UniqueConstraint("match_id", "user_id", name="uq_face_match_decisions_match_id_user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    match_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("face_matches.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    username: Mapped[str] = mapped_column(String(64))
    decision: Mapped[Decision] = mapped_column(_enum(Decision, "face_match_decision"))
    reason_code: Mapped[str | None] = mapped_column(String(32))  # a rejection's reason (reasons.toml)
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
