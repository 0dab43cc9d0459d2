"""Sharing incidents with another agency (Rescue 1122, fire brigade …), whose users see them in any district.

A user's agencies are listed in `user_agencies`; what is shared with an agency is visible to its users
regardless of their district scope, because the other agency was asked to act on it.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.models import User
from safecity.auth.principal import SYSTEM, Principal
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound
from safecity.dispatch.models import Agency
from safecity.incidents import service as incidents
from safecity.incidents.models import Incident
from safecity.incidents.sharing.models import IncidentShare, UserAgency

logger = logging.getLogger(__name__)

SHARE = "dispatch.manage"
USERS = "users.manage"


def _agency(session: Session, code: str) -> Agency:
    agency = session.scalars(select(Agency).where(Agency.code == code)).one_or_none()
    if agency is None:
        raise NotFound("no agency with that code", code="unknown_agency")
    return agency


def share(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, agency_code: str, note: str = ""
) -> IncidentShare:
    """Share an incident of one's districts with an agency; sharing it again returns the first share."""
    principal.require(SHARE)
    note = note.strip()
    if len(note) > 1000:
        raise InvalidInput("the note is at most 1000 characters")
    incident = incidents.get_incident(session=session, principal=principal, incident_id=incident_id)
    agency = _agency(session, agency_code)
    existing = session.scalars(
        select(IncidentShare).where(
            IncidentShare.incident_id == incident.id, IncidentShare.agency_code == agency.code
        )
    ).one_or_none()
    if existing is not None:
        return existing
    shared = IncidentShare(
        id=uuid.uuid4(),
        incident_id=incident.id,
        agency_code=agency.code,
        shared_by=principal.user_id,
        shared_at=utcnow(),
        note=note,
    )
    session.add(shared)
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="share",
        text=f"Shared with {agency.name}" + (f": {note}" if note else ""),
        detail={"agency": agency.code, "note": note},
    )
    audit.record(
        session=session,
        action="incidents.share",
        outcome="success",
        actor=principal,
        object_type="incident",
        object_id=str(incident.id),
        district_id=incident.district_id,
        detail={"number": incident.number, "agency": agency.code},
    )
    logger.info("incident %s shared with %s", incident.number, agency.code)
    return shared


def shared_with(*, session: Session, principal: Principal) -> list[Incident]:
    """Incidents shared with the principal's agencies, in any district: most urgent first, then newest."""
    principal.require(incidents.READ)
    if principal.user_id is None:
        return []
    codes = select(UserAgency.agency_code).where(UserAgency.user_id == principal.user_id)
    shared_ids = select(IncidentShare.incident_id).where(IncidentShare.agency_code.in_(codes))
    query = (
        select(Incident)
        .where(Incident.id.in_(shared_ids))
        .order_by(Incident.priority, Incident.created_at.desc(), Incident.id)
        .limit(incidents.MAX_LIST_LIMIT)
    )
    return list(session.scalars(query))


def read_shared(*, session: Session, principal: Principal, incident_id: uuid.UUID) -> Incident:
    """An incident outside the principal's districts that was shared with one of their agencies; audited."""
    principal.require(incidents.READ)
    codes = select(UserAgency.agency_code).where(UserAgency.user_id == principal.user_id)
    shared = select(IncidentShare.id).where(
        IncidentShare.incident_id == incident_id, IncidentShare.agency_code.in_(codes)
    )
    incident = session.get(Incident, incident_id) if principal.user_id is not None else None
    if incident is None or session.scalar(shared) is None:
        raise NotFound("no such incident")
    audit.record(
        session=session,
        action="incidents.read",
        outcome="success",
        actor=principal,
        object_type="incident",
        object_id=str(incident.id),
        district_id=incident.district_id,
        detail={"shared": True},
    )
    return incident


def set_user_agency(
    *, session: Session, actor: Principal, user_id: uuid.UUID, agency_code: str
) -> UserAgency:
    """Record that a user works for an agency (idempotent); audited. SYSTEM is the command line's operator."""
    if actor is not SYSTEM:
        actor.require(USERS)
    if session.get(User, user_id) is None:
        raise NotFound("no user with that id")
    agency = _agency(session, agency_code)
    link = session.get(UserAgency, (user_id, agency.code))
    if link is None:
        link = UserAgency(user_id=user_id, agency_code=agency.code)
        session.add(link)
        session.flush()
        audit.record(
            session=session,
            action="users.agency",
            outcome="success",
            actor=actor,
            object_type="user",
            object_id=str(user_id),
            detail={"agency": agency.code},
        )
    return link
