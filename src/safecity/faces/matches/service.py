"""Face sightings and leads: stored as the cameras see them, decided by two different examiners.

A face seen while a live authorisation covers its camera is stored encrypted for a short while (the
retrospective search window) and then purged, unless it matched an enrolled face: then it becomes a lead
(a FaceMatch) and is kept. A lead is never a decision: two different examiners must confirm it; one
rejection (with a reason) ends it as a false match.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.faces.types import Embedding
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.events.alerts.models import Alert
from safecity.faces.matches.models import Decision, FaceMatch, FaceSighting, MatchDecision, MatchStatus
from safecity.faces.matches.schemas import DecisionIn, DecisionOut, MatchDetailOut, MatchOut, ReasonOut

READ = "faces.read"
CONFIRM = "faces.confirm"
CONFIRMATIONS = 2  # different examiners who must confirm a lead
DEDUP_WINDOW = dt.timedelta(minutes=1)  # the same person on the same camera again within this: one lead
PURGE_BATCH = 1000
MAX_LIST_LIMIT = 500


@dataclass(frozen=True)
class Reason:
    """A reason code for rejecting a lead."""

    code: str
    label: str
    image_fault: bool


@functools.cache
def reasons() -> dict[str, Reason]:
    """The reason codes an examiner may give for a rejection (reasons.toml), in the file's order."""
    data = tomllib.loads(Path(__file__).with_name("reasons.toml").read_text(encoding="utf-8"))
    return {code: Reason(code, str(v["label"]), bool(v["image_fault"])) for code, v in data.items()}


def reason_list() -> list[ReasonOut]:
    """The reason codes as the API shows them."""
    return [ReasonOut(code=r.code, label=r.label, image_fault=r.image_fault) for r in reasons().values()]


# --- what the live pipeline stores ----------------------------------------------------------------------


def subject(camera_id: uuid.UUID) -> str:
    """The bus subject a camera's faces seen are published on (kept by the FACES stream)."""
    return f"faces.seen.{camera_id}"


def stored_ids(*, session: Session, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these faces seen are stored already (a redelivery from the bus)."""
    return set(session.scalars(select(FaceSighting.id).where(FaceSighting.id.in_(list(ids)))))


def record_sighting(
    *,
    session: Session,
    box: SecretBox,
    camera_id: uuid.UUID,
    district_id: uuid.UUID | None,
    seen_at: dt.datetime,
    face_box: Iterable[int],
    quality: dict[str, Any],
    chip_jpeg: bytes,
    embedding: Embedding,
    authorisation_id: uuid.UUID | None,
    keep_for: dt.timedelta,
    sighting_id: uuid.UUID | None = None,
) -> FaceSighting:
    """Store a face a camera saw (picture and embedding encrypted), to be purged after `keep_for`; its id
    is the one made where it was seen, when it came through the bus."""
    sighting = FaceSighting(
        id=sighting_id or uuid.uuid4(),
        camera_id=camera_id,
        district_id=district_id,
        seen_at=seen_at,
        box=[int(v) for v in face_box],
        quality=quality,
        chip=box.encrypt_bytes(chip_jpeg),
        embedding=box.encrypt_bytes(np.asarray(embedding, dtype="<f4").tobytes()),
        authorisation_id=authorisation_id,
        expires_at=utcnow() + keep_for,
    )
    session.add(sighting)
    session.flush()
    return sighting


def sighting_embedding(*, box: SecretBox, sighting: FaceSighting) -> Embedding:
    """A stored face's embedding, decrypted."""
    return np.frombuffer(box.decrypt_bytes(sighting.embedding), dtype="<f4").astype(np.float32)


def record_match(
    *,
    session: Session,
    sighting: FaceSighting,
    enrolment_id: uuid.UUID,
    entry_id: uuid.UUID,
    watchlist_id: uuid.UUID,
    person_id: uuid.UUID | None,
    score: float,
    threshold: float,
) -> FaceMatch | None:
    """A new lead from a sighting that scored at or above the threshold; audited (faces.match).

    The same person seen again on the same camera within DEDUP_WINDOW of the lead's last sighting folds into
    that lead (None is returned, and the sighting stays unmatched: it expires as any other).
    """
    earlier = session.scalars(
        select(FaceMatch)
        .where(
            FaceMatch.camera_id == sighting.camera_id,
            # The same person: on two watchlists, still one lead.
            FaceMatch.person_id == person_id if person_id is not None else FaceMatch.entry_id == entry_id,
            FaceMatch.last_seen_at >= sighting.seen_at - DEDUP_WINDOW,
        )
        .order_by(FaceMatch.last_seen_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if earlier is not None:
        earlier.last_seen_at = max(earlier.last_seen_at, sighting.seen_at)
        earlier.repeats += 1
        session.flush()
        return None
    sighting.expires_at = None  # part of a lead: kept as long as the lead
    match = FaceMatch(
        id=uuid.uuid4(),
        sighting_id=sighting.id,
        enrolment_id=enrolment_id,
        entry_id=entry_id,
        watchlist_id=watchlist_id,
        person_id=person_id,
        authorisation_id=sighting.authorisation_id,
        camera_id=sighting.camera_id,
        district_id=sighting.district_id,
        seen_at=sighting.seen_at,
        last_seen_at=sighting.seen_at,
        repeats=0,
        score=score,
        threshold=threshold,
        status=MatchStatus.PENDING,
    )
    session.add(match)
    session.flush()
    audit.record(
        session=session,
        action="faces.match",
        outcome="success",
        object_type="face_match",
        object_id=str(match.id),
        district_id=match.district_id,
        detail={
            "camera_id": str(match.camera_id),
            "watchlist_id": str(watchlist_id),
            "entry_id": str(entry_id),
            "authorisation_id": str(match.authorisation_id),
            "score": round(score, 4),
            "threshold": threshold,
        },
    )
    return match


def purge_expired(*, session: Session, now: dt.datetime | None = None, limit: int = PURGE_BATCH) -> int:
    """Delete up to `limit` faces whose time ran out (never one that is part of a lead); how many."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(FaceSighting.id)
            .where(FaceSighting.expires_at.is_not(None), FaceSighting.expires_at <= now)
            .order_by(FaceSighting.expires_at)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    # A lead's sighting has no expiry, and the foreign key refuses it anyway (RESTRICT).
    session.execute(
        delete(FaceSighting).where(FaceSighting.id.in_(ids), FaceSighting.expires_at.is_not(None))
    )
    return len(ids)


def purge(*, session_factory: sessionmaker[Session], now: dt.datetime | None = None) -> int:
    """Delete every face past its time that is not part of a lead, batch by batch; audited when any went."""
    now = now or utcnow()
    return audit.purged(
        session_factory=session_factory,
        purge_batch=lambda session: purge_expired(session=session, now=now),
        batch=PURGE_BATCH,
        action="faces.retention",
        object_type="face_sightings",
        detail={"before": now.isoformat()},
    )


# --- the examiners ----------------------------------------------------------------------------------------


def list_matches(
    *, session: Session, principal: Principal, status: MatchStatus | None = None, limit: int = 100
) -> list[FaceMatch]:
    """Leads within the principal's districts: pending first, then the newest."""
    principal.require(READ)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    query = select(FaceMatch).where(principal.district_filter(FaceMatch.district_id))
    if status is not None:
        query = query.where(FaceMatch.status == status)
    pending_first = case((FaceMatch.status == MatchStatus.PENDING, 0), else_=1)
    query = query.order_by(pending_first, FaceMatch.created_at.desc(), FaceMatch.id)
    return list(session.scalars(query.limit(limit)))


def locked(*, session: Session, match_id: uuid.UUID) -> FaceMatch | None:
    """A lead, locked for a change (no permission check: the caller checks)."""
    query = (
        select(FaceMatch)
        .where(FaceMatch.id == match_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one_or_none()


def get_match(
    *, session: Session, principal: Principal, match_id: uuid.UUID, lock: bool = False
) -> FaceMatch:
    """One lead within the principal's districts (NotFound otherwise, so its existence does not leak)."""
    principal.require(READ)
    match = locked(session=session, match_id=match_id) if lock else session.get(FaceMatch, match_id)
    if match is None or not principal.sees_district(match.district_id):
        raise NotFound("no face match with that id")
    return match


def alert_of(*, session: Session, match_id: uuid.UUID) -> Alert | None:
    """The alert a lead raised (no permission check: for publishing its change after an action)."""
    alert_id = session.scalar(select(FaceMatch.alert_id).where(FaceMatch.id == match_id))
    return session.get(Alert, alert_id) if alert_id is not None else None


def view_match(*, session: Session, principal: Principal, match_id: uuid.UUID) -> MatchDetailOut:
    """A lead and its decisions, for an examiner; the view is audited (biometric data is shown)."""
    match = get_match(session=session, principal=principal, match_id=match_id)
    audit.record(
        session=session,
        action="faces.match.view",
        outcome="success",
        actor=principal,
        object_type="face_match",
        object_id=str(match.id),
        district_id=match.district_id,
    )
    return detail(session=session, match=match)


def detail(*, session: Session, match: FaceMatch) -> MatchDetailOut:
    """A lead with its decisions, oldest first."""
    decisions = session.scalars(
        select(MatchDecision).where(MatchDecision.match_id == match.id).order_by(MatchDecision.at)
    )
    return MatchDetailOut(
        **MatchOut.model_validate(match).model_dump(),
        decisions=[DecisionOut.model_validate(d) for d in decisions],
    )


def live_chip(*, session: Session, principal: Principal, box: SecretBox, match_id: uuid.UUID) -> bytes:
    """The JPEG of the face the camera saw for a lead, decrypted."""
    match = get_match(session=session, principal=principal, match_id=match_id)
    sighting = session.get(FaceSighting, match.sighting_id)
    if sighting is None:
        raise NotFound("the face of this match is no longer stored")
    return box.decrypt_bytes(sighting.chip)


def decide(*, session: Session, principal: Principal, match_id: uuid.UUID, data: DecisionIn) -> FaceMatch:
    """Record an examiner's decision on a pending lead; audited (faces.match.confirm / .reject).

    The second confirmation by a different examiner confirms the lead; one rejection (with a reason code)
    rejects it. An examiner who decided the lead already is refused (Conflict, code `same_examiner`), and so
    is a decision on a lead decided already (`already_decided`).
    """
    principal.require(CONFIRM)
    if principal.user_id is None:
        raise InvalidInput("only a person's account may decide on a face match", code="person_required")
    try:
        data = DecisionIn.model_validate(data.model_dump())
    except ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    if data.decision == Decision.REJECT and (data.reason_code or "") not in reasons():
        raise InvalidInput(
            "choose the reason for the rejection: " + ", ".join(reasons()), code="reason_required"
        )
    match = get_match(session=session, principal=principal, match_id=match_id, lock=True)
    decided = session.scalars(select(MatchDecision).where(MatchDecision.match_id == match.id)).all()
    if any(d.user_id == principal.user_id for d in decided):
        raise Conflict(
            "you have decided on this match already: a second, different examiner must decide",
            code="same_examiner",
        )
    if match.status != MatchStatus.PENDING:
        raise Conflict(f"this match was {match.status.value} already", code="already_decided")
    now = utcnow()
    session.add(
        MatchDecision(
            id=uuid.uuid4(),
            match_id=match.id,
            user_id=principal.user_id,
            username=principal.username[:64],
            decision=data.decision,
            reason_code=data.reason_code if data.decision == Decision.REJECT else None,
            note=data.note,
            at=now,
        )
    )
    confirmations = 1 + sum(1 for d in decided if d.decision == Decision.CONFIRM)
    if data.decision == Decision.REJECT:
        match.status, match.decided_at = MatchStatus.REJECTED, now
    elif confirmations >= CONFIRMATIONS:
        match.status, match.decided_at = MatchStatus.CONFIRMED, now
    session.flush()
    audit.record(
        session=session,
        action=f"faces.match.{data.decision.value}",
        outcome="success",
        actor=principal,
        object_type="face_match",
        object_id=str(match.id),
        district_id=match.district_id,
        detail={
            "status": match.status.value,
            "reason_code": data.reason_code if data.decision == Decision.REJECT else None,
            "confirmations": confirmations if data.decision == Decision.CONFIRM else None,
        },
    )
    return match
