"""REST API of the panic button: the mobile app's presses and live positions, and citizen registration."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from safecity.incidents.panic import service as panic
from safecity.incidents.panic.schemas import PanicOut, PositionIn, PressIn, RegistrationIn, RegistrationOut
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["panic"])


@router.post("/panic/registrations", response_model=RegistrationOut, status_code=201)
def register(principal: CurrentPrincipal, db: Db, data: RegistrationIn) -> RegistrationOut:
    """Register a citizen's phone for the panic button; 409 if it already is."""
    registration = panic.register(
        session=db,
        principal=principal,
        phone=data.phone,
        name=data.name,
        cnic=data.cnic,
        emergency_contact_name=data.emergency_contact_name,
        emergency_contact_phone=data.emergency_contact_phone,
    )
    return RegistrationOut.model_validate(registration)


@router.post("/panic", response_model=PanicOut)
def press(principal: CurrentPrincipal, db: Db, data: PressIn, response: Response) -> PanicOut:
    """A press: 201 with a new top-priority incident, or 200 when the caller's open one got the position."""
    incident, created = panic.press(
        session=db, principal=principal, phone=data.phone, latitude=data.lat, longitude=data.lon, at=data.at
    )
    response.status_code = 201 if created else 200
    return PanicOut(incident_id=incident.id, number=incident.number, created=created)


@router.post("/panic/{incident_id}/position", response_model=PanicOut)
def position(principal: CurrentPrincipal, db: Db, incident_id: uuid.UUID, data: PositionIn) -> PanicOut:
    """The caller's live position for an open panic incident (an older report does not move it)."""
    incident = panic.follow(
        session=db,
        principal=principal,
        incident_id=incident_id,
        latitude=data.lat,
        longitude=data.lon,
        at=data.at,
    )
    return PanicOut(incident_id=incident.id, number=incident.number, created=False)
