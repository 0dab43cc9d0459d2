"""Dispatch: agencies, units and their status, unit recommendation, atomic assignment and acknowledgement."""

from __future__ import annotations

import heapq
import logging
import tomllib
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound
from safecity.core.geo import haversine_m
from safecity.dispatch.models import WORKING, Agency, Assignment, Unit, UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.incidents import service as incidents
from safecity.incidents.models import TRANSITIONS, Incident
from safecity.incidents.models import Status as IncidentStatus
from safecity.org.models import PoliceStation

logger = logging.getLogger(__name__)

READ = "incidents.read"
MANAGE = "dispatch.manage"
SELF = "units.self"  # a unit's own terminal: its own status and position
CITY_SPEED_MPS = 30_000 / 3600  # assumed average speed through city traffic: 30 km/h
MAX_RECOMMENDATIONS = 50
_CLOSED = CLOSED_STATUSES = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})


@cache
def _reference() -> dict[str, Any]:
    return tomllib.loads(Path(__file__).with_name("agencies.toml").read_text(encoding="utf-8"))


def suited_agencies(category: str) -> list[str]:
    """Codes of the agencies an incident of `category` needs, lead agency first."""
    categories: dict[str, list[str]] = _reference()["categories"]
    return categories.get(category, categories["other"])


def ensure_agencies(*, session: Session) -> list[Agency]:
    """Create the missing agencies of agencies.toml and refresh the names and phones of the others."""
    existing = {a.code: a for a in session.scalars(select(Agency))}
    for code, data in _reference()["agencies"].items():
        agency = existing.get(code)
        if agency is None:
            agency = existing[code] = Agency(id=uuid.uuid4(), code=code)
            session.add(agency)
        agency.name, agency.phone = data["name"], data["phone"]
    session.flush()
    return sorted(existing.values(), key=lambda a: a.name)


def list_agencies(*, session: Session, principal: Principal) -> list[Agency]:
    """All agencies, by name."""
    principal.require(READ)
    return list(session.scalars(select(Agency).order_by(Agency.name)))


# --- units ----------------------------------------------------------------------------------------


def list_units(
    *, session: Session, principal: Principal, status: UnitStatus | None = None, limit: int = 500
) -> list[Unit]:
    """Units within the principal's districts, by call sign."""
    principal.require(READ)
    query = select(Unit).where(principal.district_filter(Unit.district_id))
    if status is not None:
        query = query.where(Unit.status == status)
    return list(session.scalars(query.order_by(Unit.call_sign).limit(limit)))


def get_unit(*, session: Session, principal: Principal, unit_id: uuid.UUID) -> Unit:
    """One unit within the principal's districts (NotFound otherwise, so its existence does not leak)."""
    principal.require(READ)
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.sees_district(unit.district_id):
        raise NotFound("no unit with that id")
    return unit


def create_unit(*, session: Session, principal: Principal, data: UnitIn) -> Unit:
    """Register a unit in one of the principal's districts; audited. A call sign in use is a Conflict."""
    principal.require(MANAGE)
    if not principal.sees_district(data.district_id):
        raise NotFound("no district with that id")
    agency = session.scalars(select(Agency).where(Agency.code == data.agency)).one_or_none()
    if agency is None:
        raise InvalidInput(f"no agency with code {data.agency!r}")
    if data.home_station_id is not None:
        station = session.get(PoliceStation, data.home_station_id)
        if station is None or station.district_id != data.district_id:
            raise InvalidInput("the home station is not a police station of the unit's district")
    if session.scalars(select(Unit.id).where(Unit.call_sign == data.call_sign)).first() is not None:
        raise Conflict(f"call sign {data.call_sign} is in use", code="call_sign_taken")
    if data.account_id is not None:
        if session.get(User, data.account_id) is None:
            raise InvalidInput("no account with that id")
        if session.scalars(select(Unit.id).where(Unit.account_id == data.account_id)).first() is not None:
            raise Conflict("that account is the terminal of another unit", code="account_taken")
    unit = Unit(
        id=uuid.uuid4(),
        agency_id=agency.id,
        call_sign=data.call_sign,
        vehicle_registration=data.vehicle_registration,
        vehicle_type=data.vehicle_type,
        crew=[member.model_dump() for member in data.crew],
        home_station_id=data.home_station_id,
        district_id=data.district_id,
        status=data.status,
        account_id=data.account_id,
        version=1,
    )
    session.add(unit)
    session.flush()
    _audit(session, principal, "dispatch.unit_create", unit, {"call_sign": unit.call_sign})
    return unit


STATUS_LABELS = {s: s.value.replace("_", " ") for s in UnitStatus}
# What a dispatcher or the unit itself may set by hand: "dispatched" comes only with an assignment.
SETTABLE = tuple(s for s in UnitStatus if s != UnitStatus.DISPATCHED)


def set_status(*, session: Session, principal: Principal, unit_id: uuid.UUID, status: UnitStatus) -> Unit:
    """A dispatcher changes a unit's status (dispatch.manage in its district); audited.

    on_scene marks the arrival at the incident it was sent to; a status that takes the unit off its
    incident (available, busy, off duty, out of service) clears its assignment. "dispatched" is set only
    by sending the unit to an incident.
    """
    principal.require(MANAGE)
    unit = _unit_for_update(session, unit_id)
    if unit is None or not principal.sees_district(unit.district_id):
        raise NotFound("no unit with that id")
    return apply_status(session=session, unit=unit, status=status, actor=principal)


def current_incidents(*, session: Session, units: list[Unit]) -> dict[uuid.UUID, Incident]:
    """The incident each of these units is working now (its open assignment), by unit id."""
    if not units:
        return {}
    rows = session.execute(
        select(Assignment.unit_id, Incident)
        .join(Incident, Incident.id == Assignment.incident_id)
        .where(Assignment.unit_id.in_([u.id for u in units]), Assignment.cleared_at.is_(None))
        .order_by(Assignment.assigned_at)
    ).all()
    return {unit_id: incident for unit_id, incident in rows}  # noqa: C416 (rows are Row tuples)


def own_unit(*, session: Session, principal: Principal, lock: bool = False) -> Unit:
    """The unit whose terminal account the principal is (units.self); NotFound when it is none."""
    principal.require(SELF)
    if principal.user_id is None:
        raise NotFound("no unit is linked to this account")
    query = select(Unit).where(Unit.account_id == principal.user_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    unit = session.scalars(query).one_or_none()
    if unit is None:
        raise NotFound("no unit is linked to this account")
    return unit


def set_own_status(*, session: Session, principal: Principal, status: UnitStatus) -> Unit:
    """A unit's terminal sets its own unit's status (and no other unit's); audited as the terminal."""
    unit = own_unit(session=session, principal=principal, lock=True)
    return apply_status(session=session, unit=unit, status=status, actor=principal)


def apply_status(*, session: Session, unit: Unit, status: UnitStatus, actor: Principal) -> Unit:
    """Record a unit's new status and what it means for its open assignment; the caller checked access.

    The incident the unit works is told on its timeline (and so on every screen showing it).
    """
    if status == UnitStatus.DISPATCHED:
        raise InvalidInput("a unit is dispatched by sending it to an incident, not by setting its status")
    previous = unit.status
    if previous == status:
        return unit
    unit.status = status
    unit.version += 1
    now = utcnow()
    assignment = _open_assignment(session, unit.id)
    incident = _incident_for_update(session, assignment.incident_id) if assignment is not None else None
    if assignment is not None and status in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE):
        # A unit on its way (or there) got its dispatch, whether or not it acknowledged it first.
        assignment.acknowledged_at = assignment.acknowledged_at or now
    if assignment is not None and status == UnitStatus.ON_SCENE and assignment.arrived_at is None:
        assignment.arrived_at = now
        if incident is not None:
            _move_incident(incident, IncidentStatus.ON_SCENE)
        text = f"{unit.call_sign} arrived on scene"
    elif assignment is not None and status not in WORKING:
        assignment.cleared_at = now
        text = f"{unit.call_sign} cleared from the incident: {STATUS_LABELS[status]}"
    else:
        text = f"{unit.call_sign} is {STATUS_LABELS[status]}"
    if assignment is not None and incident is not None:
        incidents.add_timeline(
            session=session,
            incident=incident,
            actor=actor,
            kind="dispatch",
            text=text,
            detail={
                "unit_id": str(unit.id),
                "assignment_id": str(assignment.id),
                "from": previous.value,
                "to": status.value,
            },
        )
    session.flush()
    _audit(session, actor, "dispatch.unit_status", unit, {"from": previous.value, "to": status.value})
    return unit


def release_units(*, session: Session, actor: Principal, incident: Incident) -> list[Unit]:
    """Clear every open assignment of a closed incident: its working units are available again.

    Each freed unit is a line on the incident's timeline and an audited status change.
    """
    query = (
        select(Assignment)
        .where(Assignment.incident_id == incident.id, Assignment.cleared_at.is_(None))
        .order_by(Assignment.assigned_at)
    )
    now = utcnow()
    freed: list[Unit] = []
    for assignment in session.scalars(query).all():
        assignment.cleared_at = now
        unit = _unit_for_update(session, assignment.unit_id)
        if unit is None:
            continue
        if unit.status not in WORKING:  # busy, off duty ...: what the unit said last stands
            text = f"{unit.call_sign} released from the incident (it stays {STATUS_LABELS[unit.status]})"
        else:
            previous = unit.status
            unit.status, unit.version = UnitStatus.AVAILABLE, unit.version + 1
            freed.append(unit)
            _audit(
                session,
                actor,
                "dispatch.unit_status",
                unit,
                {"from": previous.value, "to": UnitStatus.AVAILABLE.value, "incident": incident.number},
            )
            text = f"{unit.call_sign} released: available again"
        incidents.add_timeline(
            session=session,
            incident=incident,
            actor=actor,
            kind="dispatch",
            text=text,
            detail={"unit_id": str(unit.id), "assignment_id": str(assignment.id)},
        )
    session.flush()
    return freed


# --- recommendation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """A unit suggested for an incident: straight-line distance and travel time at city speed."""

    unit: Unit
    distance_m: float
    eta_s: float


def recommend(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    limit: int = 5,
    same_district_first: bool = False,
) -> list[Recommendation]:
    """Available units of the agencies the incident's category needs, nearest first.

    Only units with a known position count; `same_district_first` ranks the incident's own district's
    units before the others.
    """
    principal.require(MANAGE)
    if not 1 <= limit <= MAX_RECOMMENDATIONS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RECOMMENDATIONS}")
    incident = _visible_incident(session, principal, incident_id)
    if incident.latitude is None or incident.longitude is None:
        raise InvalidInput("the incident has no location: set it before asking for the nearest units")
    codes = suited_agencies(incident.category)
    # Only the columns the ranking needs: thousands of rows are read, a handful of units built.
    rows = session.execute(
        select(Unit.id, Unit.latitude, Unit.longitude, Unit.district_id)
        .join(Agency, Agency.id == Unit.agency_id)
        .where(
            Agency.code.in_(codes),
            Unit.status == UnitStatus.AVAILABLE,
            Unit.latitude.is_not(None),
            Unit.longitude.is_not(None),
            principal.district_filter(Unit.district_id),
        )
    ).all()
    lat, lon, home = incident.latitude, incident.longitude, incident.district_id
    ranked = heapq.nsmallest(
        limit,
        (
            (same_district_first and d != home, haversine_m(lat, lon, la, lo), uid)
            for uid, la, lo, d in rows
            if la is not None and lo is not None
        ),
    )
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_([r[2] for r in ranked])))}
    return [Recommendation(units[uid], dist, dist / CITY_SPEED_MPS) for _, dist, uid in ranked]


# --- assignment -----------------------------------------------------------------------------------


def assign(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, unit_id: uuid.UUID
) -> Assignment:
    """Send an available unit to an incident, atomically: of two dispatchers at once, one wins.

    The other gets Conflict(code="unit_unavailable"). A new incident moves to dispatched. Audited.
    """
    principal.require(MANAGE)
    incident = _visible_incident(session, principal, incident_id, lock=True)
    if incident.status in _CLOSED:
        raise Conflict(f"the incident is {incident.status.value}", code="incident_closed")
    unit = session.get(Unit, unit_id)
    if unit is None or not principal.sees_district(unit.district_id):
        raise NotFound("no unit with that id")
    # The status check and the change are one statement, so no other transaction slips in between.
    taken = session.execute(
        update(Unit)
        .where(Unit.id == unit_id, Unit.status == UnitStatus.AVAILABLE)
        .values(status=UnitStatus.DISPATCHED, version=Unit.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(unit)
    if taken.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict(
            f"unit {unit.call_sign} is not available (it is {unit.status.value})", code="unit_unavailable"
        )
    assignment = Assignment(
        id=uuid.uuid4(),
        incident_id=incident.id,
        unit_id=unit.id,
        assigned_by=principal.user_id,
        assigned_at=utcnow(),
    )
    session.add(assignment)
    if incident.status == IncidentStatus.NEW:
        _move_incident(incident, IncidentStatus.DISPATCHED)
    session.flush()
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="dispatch",
        text=f"{unit.call_sign} dispatched",
        detail={"unit_id": str(unit.id), "assignment_id": str(assignment.id)},
    )
    audit.record(
        session=session,
        action="dispatch.assign",
        outcome="success",
        actor=principal,
        object_type="assignment",
        object_id=str(assignment.id),
        district_id=incident.district_id,
        detail={"incident": incident.number, "call_sign": unit.call_sign},
    )
    return assignment


def dispatch_message(*, session: Session, assignment: Assignment) -> tuple[str, dict[str, Any]]:
    """The unit's call sign and the message that tells it where to go."""
    unit = session.get_one(Unit, assignment.unit_id)
    incident = session.get_one(Incident, assignment.incident_id)
    return unit.call_sign, {
        "assignment_id": str(assignment.id),
        "incident_id": str(incident.id),
        "incident_number": incident.number,
        "category": incident.category.value,
        "priority": incident.priority,
        "title": incident.title,
        "lat": incident.latitude,
        "lon": incident.longitude,
        "address": incident.address,
        "assigned_at": assignment.assigned_at.isoformat(),
    }


def acknowledge(
    *,
    session: Session,
    assignment_id: uuid.UUID,
    principal: Principal | None = None,
    call_sign: str | None = None,
) -> Assignment:
    """Record that the unit got its dispatch (idempotent: a repeat keeps the first time); it is en route.

    Through the API `principal` needs dispatch.manage in the unit's district; over MQTT `call_sign` (from
    the topic) must be the assignment's unit.
    """
    if principal is not None:
        principal.require(MANAGE)
    assignment = session.get(Assignment, assignment_id)
    unit = session.get(Unit, assignment.unit_id) if assignment is not None else None
    if (
        assignment is None
        or unit is None
        or (principal is not None and not principal.sees_district(unit.district_id))
        or (call_sign is not None and unit.call_sign != call_sign)
    ):
        raise NotFound("no assignment with that id")
    if assignment.acknowledged_at is not None:
        return assignment
    assignment.acknowledged_at = utcnow()
    actor = principal or unit_actor(unit.call_sign)
    if unit.status == UnitStatus.DISPATCHED and assignment.cleared_at is None:
        unit.status, unit.version = UnitStatus.EN_ROUTE, unit.version + 1
    incident = session.get_one(Incident, assignment.incident_id)
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=actor,
        kind="dispatch",
        text=f"{unit.call_sign} acknowledged",
        detail={"unit_id": str(unit.id), "assignment_id": str(assignment.id)},
    )
    session.flush()
    _audit(session, actor, "dispatch.ack", unit, {"assignment_id": str(assignment.id)})
    return assignment


def unit_actor(call_sign: str) -> Principal:
    """The principal a unit acts as over MQTT (a trusted channel: the broker authenticates devices)."""
    return Principal(
        user_id=None,
        username=f"unit:{call_sign}"[:64],
        permissions=frozenset(),
        district_ids=None,
        via="system",
    )


def list_assignments(*, session: Session, principal: Principal, incident_id: uuid.UUID) -> list[Assignment]:
    """The units sent to an incident, first sent first."""
    principal.require(READ)
    incident = _visible_incident(session, principal, incident_id)
    query = select(Assignment).where(Assignment.incident_id == incident.id).order_by(Assignment.assigned_at)
    return list(session.scalars(query))


# --- helpers --------------------------------------------------------------------------------------


def _visible_incident(
    session: Session, principal: Principal, incident_id: uuid.UUID, *, lock: bool = False
) -> Incident:
    incident = _incident_for_update(session, incident_id) if lock else session.get(Incident, incident_id)
    if incident is None or not principal.sees_district(incident.district_id):
        raise NotFound("no incident with that id")
    return incident


def _incident_for_update(session: Session, incident_id: uuid.UUID) -> Incident | None:
    query = (
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one_or_none()


def _unit_for_update(session: Session, unit_id: uuid.UUID) -> Unit | None:
    query = select(Unit).where(Unit.id == unit_id).with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _open_assignment(session: Session, unit_id: uuid.UUID) -> Assignment | None:
    query = (
        select(Assignment)
        .where(Assignment.unit_id == unit_id, Assignment.cleared_at.is_(None))
        .order_by(Assignment.assigned_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _move_incident(incident: Incident, status: IncidentStatus) -> None:
    """Move the incident forward if its state allows it (a resolved incident stays resolved)."""
    if status in TRANSITIONS[incident.status]:
        incident.status = status
        incident.version += 1
        incident.updated_at = utcnow()


def _audit(session: Session, actor: Principal, action: str, unit: Unit, detail: dict[str, Any]) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=actor,
        object_type="unit",
        object_id=str(unit.id),
        district_id=unit.district_id,
        detail=detail,
    )
