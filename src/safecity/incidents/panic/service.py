"""The citizen panic button (women's safety): registered phones open a top-priority incident and follow it.

A press from the mobile app opens a women's-safety incident in the district whose headquarters is nearest
to the caller; further presses while it is open, and the app's live position reports, move that same
incident's position and add to its timeline instead of opening new ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.core.geo import haversine_m
from safecity.core.identifiers import normalise_cnic, normalise_phone
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident, IncidentEvent, Source, Status
from safecity.incidents.panic.models import PanicRegistration
from safecity.org.models import District

logger = logging.getLogger(__name__)

REPORT = "panic.report"
REGISTER = "incidents.manage"
PRIORITY = 1
CLOSED = (Status.RESOLVED, Status.CLOSED)
# A phone's clock may run a little fast; a position from further in the future is refused.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


def register(
    *,
    session: Session,
    principal: Principal,
    phone: str,
    name: str,
    cnic: str | None = None,
    emergency_contact_name: str | None = None,
    emergency_contact_phone: str | None = None,
) -> PanicRegistration:
    """Register a citizen's phone for the panic button; a phone registers once (409 otherwise)."""
    principal.require(REGISTER)
    name = name.strip()
    if not name:
        raise InvalidInput("give the citizen's name")
    number = normalise_phone(phone)
    if session.scalar(select(PanicRegistration.id).where(PanicRegistration.phone == number)) is not None:
        raise Conflict("that phone is already registered", code="already_registered")
    registration = PanicRegistration(
        id=uuid.uuid4(),
        phone=number,
        name=name[:120],
        cnic=normalise_cnic(cnic) if cnic else None,
        emergency_contact_name=(emergency_contact_name or "").strip()[:120] or None,
        emergency_contact_phone=normalise_phone(emergency_contact_phone) if emergency_contact_phone else None,
        created_by=principal.user_id,
        created_at=utcnow(),
        active=True,
    )
    session.add(registration)
    session.flush()
    audit.record(
        session=session,
        action="panic.register",
        outcome="success",
        actor=principal,
        object_type="panic_registration",
        object_id=str(registration.id),
    )
    return registration


def nearest_district(*, session: Session, latitude: float, longitude: float) -> District:
    """The district whose headquarters is nearest to the position (the province has a few dozen)."""
    districts = list(session.scalars(select(District).order_by(District.code)))
    if not districts:
        raise NotFound("no districts are set up")
    return min(districts, key=lambda d: haversine_m(latitude, longitude, d.latitude, d.longitude))


def _check_position(latitude: float, longitude: float, at: dt.datetime) -> None:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput("the position is outside the globe")
    if at.tzinfo is None:
        raise InvalidInput("the time needs a time zone")
    if at > utcnow() + MAX_CLOCK_SKEW:
        raise InvalidInput("the position's time is in the future", code="future_position")


def _last_position_at(session: Session, incident: Incident) -> dt.datetime | None:
    query = (
        select(IncidentEvent.detail)
        .where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "position")
        .order_by(IncidentEvent.seq.desc())
    )
    latest: dt.datetime | None = None
    for detail in session.scalars(query):
        # The trail keeps stale reports too; the newest time among those that moved the incident counts.
        if detail.get("applied"):
            latest = dt.datetime.fromisoformat(detail["at"])
            break
    return latest


def _add_position(
    session: Session,
    principal: Principal,
    incident: Incident,
    latitude: float,
    longitude: float,
    at: dt.datetime,
) -> bool:
    """Record the position on the timeline; move the incident there unless a newer one is known."""
    last = _last_position_at(session, incident)
    applied = last is None or at > last
    if applied:
        incident.latitude, incident.longitude = latitude, longitude
    detail: dict[str, Any] = {"lat": latitude, "lon": longitude, "at": at.isoformat(), "applied": applied}
    text = f"Caller position {latitude:.5f}, {longitude:.5f}" + ("" if applied else " (older report)")
    incidents.add_timeline(
        session=session, incident=incident, actor=principal, kind="position", text=text, detail=detail
    )
    return applied


def _open_panic_incident(session: Session, phone: str) -> Incident | None:
    query = (
        select(Incident)
        .where(
            Incident.source == Source.PANIC,
            Incident.caller_phone == phone,
            Incident.status.not_in(CLOSED),
        )
        .order_by(Incident.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    return session.scalars(query).one_or_none()


def press(
    *,
    session: Session,
    principal: Principal,
    phone: str,
    latitude: float,
    longitude: float,
    at: dt.datetime | None = None,
) -> tuple[Incident, bool]:
    """A panic-button press: (the incident, whether it was opened now); an open one gets the new position."""
    principal.require(REPORT)
    at = at or utcnow()
    _check_position(latitude, longitude, at)
    number = normalise_phone(phone)
    # Locking the registration serialises presses of one phone, so two at once open one incident.
    registration = session.scalars(
        select(PanicRegistration)
        .where(PanicRegistration.phone == number, PanicRegistration.active.is_(True))
        .with_for_update()
    ).one_or_none()
    if registration is None:
        raise NotFound("that phone is not registered for the panic button", code="not_registered")
    incident = _open_panic_incident(session, number)
    created = incident is None
    if incident is None:
        district = nearest_district(session=session, latitude=latitude, longitude=longitude)
        incident = incidents.new_incident(
            session,
            principal,
            district,
            category=Category.WOMENS_SAFETY,
            priority=PRIORITY,
            title=f"Panic button: {registration.name}"[:200],
            source=Source.PANIC,
            description="The citizen pressed the panic button in the mobile app.",
            latitude=latitude,
            longitude=longitude,
            caller_name=registration.name,
            caller_phone=number,
        )
        # Personal data goes on the timeline (read in the audited detail view), not in the listed description.
        contact = " ".join(
            part
            for part in (registration.emergency_contact_name, registration.emergency_contact_phone)
            if part
        )
        if contact:
            incidents.add_timeline(
                session=session,
                incident=incident,
                actor=principal,
                kind="panic",
                text=f"Emergency contact: {contact}",
            )
        logger.warning("panic button pressed: incident %s opened", incident.number)
    _add_position(session, principal, incident, latitude, longitude, at)
    audit.record(
        session=session,
        action="panic.press",
        outcome="success",
        actor=principal,
        object_type="incident",
        object_id=str(incident.id),
        district_id=incident.district_id,
        detail={"number": incident.number, "created": created},
    )
    return incident, created


def follow(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    latitude: float,
    longitude: float,
    at: dt.datetime,
) -> Incident:
    """The caller's live position for an open panic incident; a report older than the last one is kept
    on the timeline but does not move the incident."""
    principal.require(REPORT)
    _check_position(latitude, longitude, at)
    incident = session.scalars(
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if incident is None or incident.source != Source.PANIC:
        raise NotFound("no panic incident with that id")
    if incident.status in CLOSED:
        raise Conflict(f"incident {incident.number} is {incident.status.value}", code="incident_closed")
    applied = _add_position(session, principal, incident, latitude, longitude, at)
    audit.record(
        session=session,
        action="panic.position",
        outcome="success",
        actor=principal,
        object_type="incident",
        object_id=str(incident.id),
        district_id=incident.district_id,
        detail={"number": incident.number, "applied": applied},
    )
    return incident
