"""Places around Peshawar and helpers that build incidents and units the way the system would."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.dispatch import positions
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Unit, UnitStatus
from safecity.dispatch.schemas import CrewMember, UnitIn
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident
from safecity.incidents.schemas import IncidentIn

# Real places in Peshawar (latitude, longitude).
SADDAR = (34.0040, 71.5420)
CANTONMENT = (34.0150, 71.5450)
QISSA_KHWANI = (34.0087, 71.5665)
HAYATABAD = (33.9850, 71.4300)
UNIVERSITY_TOWN = (34.0000, 71.4900)

DISPATCHER = frozenset({"incidents.read", "incidents.manage", "dispatch.manage"})


def dispatcher(name: str = "dispatcher", districts: frozenset[uuid.UUID] | None = None) -> Principal:
    """A dispatcher without a user row (for databases made for one test)."""
    return Principal(user_id=None, username=name, permissions=DISPATCHER, district_ids=districts)


def incident(
    session: Session,
    principal: Principal,
    district_id: uuid.UUID,
    at: tuple[float, float],
    category: Category = Category.STREET_CRIME,
) -> Incident:
    data = IncidentIn(district_id=district_id, category=category, latitude=at[0], longitude=at[1])
    return incidents.create_incident(session=session, principal=principal, data=data)


def unit(
    session: Session,
    principal: Principal,
    district_id: uuid.UUID,
    agency: str = "police",
    at: tuple[float, float] | None = None,
    status: UnitStatus = UnitStatus.AVAILABLE,
    call_sign: str | None = None,
) -> Unit:
    dispatch.ensure_agencies(session=session)
    data = UnitIn(
        agency=agency,
        call_sign=call_sign or f"U-{uuid.uuid4().hex[:8]}",
        vehicle_registration="PSW-1234",
        vehicle_type="Toyota Hilux",
        crew=[CrewMember(name="Asad Khan", rank="ASI")],
        district_id=district_id,
        status=status,
    )
    made = dispatch.create_unit(session=session, principal=principal, data=data)
    if at is not None:
        when = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
        positions.report_position(session=session, unit_id=made.id, lat=at[0], lon=at[1], at=when)
        session.refresh(made)
    return made
