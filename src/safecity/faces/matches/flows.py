"""Work on face leads that spans domains: a face seen becomes a stored sighting and perhaps a lead with its
alert; a lead two examiners confirmed is attached to the person's record and may open an incident.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from safecity.analytics.faces.types import Embedding
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.crypto import SecretBox
from safecity.core.errors import Conflict, NotFound
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.events.models import Severity
from safecity.faces.matches import service as matches
from safecity.faces.matches.models import FaceMatch, FaceSighting, MatchStatus
from safecity.faces.matches.schemas import Candidate, DecisionIn
from safecity.faces.models import Watchlist
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident
from safecity.records import flows as records

SOURCE = incidents.FACE_LEADS  # alerts of face leads: the incidents domain holds them back until confirmed
KIND = "faces.match"


@dataclass(frozen=True)
class Stored:
    """What became of one face seen: its sighting, and the lead and alert when it matched."""

    sighting_id: uuid.UUID
    match_id: uuid.UUID | None
    alert: AlertOut | None


def record_face(
    *,
    session: Session,
    box: SecretBox,
    camera_id: uuid.UUID,
    seen_at: dt.datetime,
    face_box: tuple[int, int, int, int],
    quality: dict[str, Any],
    chip_jpeg: bytes,
    embedding: Embedding,
    authorisation_id: uuid.UUID | None,
    keep_for: dt.timedelta,
    threshold: float,
    best: Candidate | None,
    sighting_id: uuid.UUID | None = None,
) -> Stored:
    """Store a face a camera saw; when `best` reaches the threshold, a lead (folded into one on the same
    camera within a minute) and its high-severity alert on the console, linked to the lead's page.
    Does not commit.
    """
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise NotFound("no camera with that id")
    sighting = matches.record_sighting(
        session=session,
        box=box,
        sighting_id=sighting_id,
        camera_id=camera_id,
        district_id=camera.district_id,
        seen_at=seen_at,
        face_box=face_box,
        quality=quality,
        chip_jpeg=chip_jpeg,
        embedding=embedding,
        authorisation_id=authorisation_id,
        keep_for=keep_for,
    )
    if best is None or best.score < threshold:
        return Stored(sighting.id, None, None)
    match = matches.record_match(
        session=session,
        sighting=sighting,
        enrolment_id=best.enrolment_id,
        entry_id=best.entry_id,
        watchlist_id=best.watchlist_id,
        person_id=best.person_id,
        score=best.score,
        threshold=threshold,
    )
    if match is None:
        return Stored(sighting.id, None, None)
    watchlist = session.get(Watchlist, best.watchlist_id)
    listed = f" ({watchlist.name})" if watchlist is not None else ""
    alert = alerts.raise_alert(
        session=session,
        kind=KIND,
        severity=int(Severity.HIGH),
        title=f"Face match lead at {camera.name}{listed}: to be checked by two examiners"[:200],
        source=SOURCE,
        camera_id=camera.id,
        detail={
            "match_id": str(match.id),
            "match_url": f"/faces/matches/{match.id}",
            "watchlist": watchlist.name if watchlist is not None else None,
            "watchlist_kind": watchlist.kind.value if watchlist is not None else None,
            "score": round(match.score, 3),
            "threshold": match.threshold,
            "seen_at": match.seen_at.isoformat(),
        },
    )
    match.alert_id = alert.id
    session.flush()
    return Stored(sighting.id, match.id, AlertOut.model_validate(alert))


def decide(*, session: Session, principal: Principal, match_id: uuid.UUID, data: DecisionIn) -> FaceMatch:
    """An examiner's decision on a lead; once confirmed, the sighting joins the person's record."""
    match = matches.decide(session=session, principal=principal, match_id=match_id, data=data)
    if match.status == MatchStatus.CONFIRMED and match.person_id is not None:
        records.attach_face_match(
            session=session,
            person_id=match.person_id,
            match_ref=str(match.id),
            camera_id=match.camera_id,
            at=match.seen_at,
        )
    return match


def open_incident(
    *, session: Session, principal: Principal, match_id: uuid.UUID, priority: int = 2
) -> Incident:
    """Open an incident from a lead two examiners confirmed (from its alert, linked as any escalation).

    A lead not confirmed is refused (Conflict, `match_not_confirmed`); one opened already too.
    """
    principal.require(incidents.MANAGE)
    # An operator may act on a lead the examiners confirmed without seeing its faces (faces.read).
    match = matches.locked(session=session, match_id=match_id)
    if match is None or not principal.sees_district(match.district_id):
        raise NotFound("no face match with that id")
    if match.status != MatchStatus.CONFIRMED:
        raise Conflict(
            "two different examiners must confirm this match before it can open an incident",
            code="match_not_confirmed",
        )
    if match.incident_id is not None:
        raise Conflict("an incident was opened from this match already", code="already_opened")
    if match.alert_id is None:
        raise NotFound("this match has no alert to open an incident from", code="no_alert")
    camera = session.get(Camera, match.camera_id) if match.camera_id else None
    where = camera.name if camera else "an unknown camera"
    incident = incidents.escalate_alert(
        session=session,
        principal=principal,
        alert_id=match.alert_id,
        category=Category.OTHER,
        priority=priority,
        title=f"Confirmed face match at {where}",
        confirmed_lead=True,
    )
    sighting = session.get(FaceSighting, match.sighting_id)
    seen = sighting.seen_at if sighting is not None else match.seen_at
    incident.description = "\n".join(
        [
            f"Face seen at {where} at {seen:%Y-%m-%d %H:%M:%S} UTC, score {match.score:.3f} "
            f"(threshold {match.threshold:.3f}).",
            f"Confirmed by two examiners: /faces/matches/{match.id}",
        ]
    )
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="link",
        text=f"Opened from face match /faces/matches/{match.id}",
        detail={"match_id": str(match.id)},
    )
    match.incident_id = incident.id
    session.flush()
    audit.record(
        session=session,
        action="faces.match.incident",
        outcome="success",
        actor=principal,
        object_type="face_match",
        object_id=str(match.id),
        district_id=match.district_id,
        detail={"incident": incident.number},
    )
    return incident
