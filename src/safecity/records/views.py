"""REST API of the criminal records (/api/v1/records): persons, vehicles, FIRs, warrants, stolen vehicles,
missing persons, links, sightings, break-glass reviews.

Reading a person's record needs `purpose` (a case, FIR or incident number, or words) and is audited with
it; a record of another district needs `reason` too (break glass: 403 `break_glass_required` without it).
A sensitive record without `records.sensitive` is 404, the same as one that is not there. Malformed CNICs
and phones are 422 `bad_cnic` / `bad_phone`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from safecity.analytics.plates.service import MAX_PURPOSE
from safecity.incidents import service as incidents
from safecity.records import service
from safecity.records.schemas import (
    BreakGlassOut,
    FirIn,
    FirOut,
    FirStatusIn,
    LinkedOut,
    LinkIn,
    MissingIn,
    MissingOut,
    PartyIn,
    PersonBriefOut,
    PersonIn,
    PersonNew,
    PersonOut,
    PersonRecordOut,
    PhotoIn,
    ReadOut,
    ReviewIn,
    StolenIn,
    StolenOut,
    VehicleNew,
    VehicleOut,
    WarrantIn,
    WarrantOut,
    sections,
)
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/records", tags=["records"])

Purpose = Annotated[str, Query(max_length=MAX_PURPOSE * 2, description="why: a case, FIR or incident")]
Reason = Annotated[str, Query(max_length=2000, description="break glass: why a record of another district")]
Raw = Annotated[dict[str, Any], Body()]


def _media(request: Request) -> Path:
    return service.media_dir(get_services(request).settings.data_dir)


@router.get("/sections")
def list_sections(principal: CurrentPrincipal) -> dict[str, str]:
    """The sections of law an FIR may cite, code -> title."""
    principal.require(service.READ)
    return sections()


@router.get("/persons", response_model=list[PersonBriefOut])
def list_persons(
    principal: CurrentPrincipal, db: Db, q: Annotated[str, Query(max_length=120)] = ""
) -> list[PersonBriefOut]:
    """Persons within scope whose name or CNIC starts with `q` (names only; read each with a purpose)."""
    return [
        PersonBriefOut.model_validate(p)
        for p in service.list_persons(session=db, principal=principal, text=q)
    ]


@router.post("/persons", response_model=PersonOut, status_code=201)
def create_person(principal: CurrentPrincipal, db: Db, body: Raw) -> PersonOut:
    """A new person's record (records.manage); CNIC and phones are checked (422 bad_cnic, bad_phone)."""
    principal.require(service.MANAGE)
    person = service.create_person(session=db, principal=principal, data=service.parse(PersonNew, body))
    return service.person_out(session=db, person=person)


@router.get("/persons/{person_id}", response_model=PersonRecordOut)
def read_person(
    principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, purpose: Purpose = "", reason: Reason = ""
) -> PersonRecordOut:
    """A person's whole record with each field's sources, read for `purpose` (audited)."""
    record = service.read_person(
        session=db, principal=principal, person_id=person_id, purpose=purpose, reason=reason
    )
    return service.record_out(record)


@router.put("/persons/{person_id}", response_model=PersonOut)
def update_person(principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, body: Raw) -> PersonOut:
    """Change a person's record; each changed value becomes a fact of this user's entry."""
    principal.require(service.MANAGE)
    person = service.update_person(
        session=db, principal=principal, person_id=person_id, data=service.parse(PersonIn, body)
    )
    return service.person_out(session=db, person=person)


@router.get("/persons/{person_id}/reads", response_model=list[ReadOut])
def person_reads(principal: CurrentPrincipal, db: Db, person_id: uuid.UUID) -> list[ReadOut]:
    """Who read a person's record, when and why (audit.read)."""
    return [
        ReadOut(
            at=e.at, actor_name=e.actor_name, purpose=e.purpose, break_glass=bool(e.detail.get("break_glass"))
        )
        for e in service.readers(session=db, principal=principal, person_id=person_id)
    ]


@router.post("/persons/{person_id}/photos", status_code=201)
def add_photo(
    request: Request, principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, body: PhotoIn
) -> dict[str, str]:
    """Add a photo (JPEG or PNG, at most 5 MB, base64; checked by decoding it)."""
    principal.require(service.MANAGE)
    data = incidents.decode_base64(body.data_base64)
    row = service.add_photo(
        session=db, principal=principal, person_id=person_id, data=data, photos_dir=_media(request)
    )
    return {"id": str(row.id), "sha256": row.sha256}


@router.post("/persons/{person_id}/identity")
def verify_identity(
    request: Request, principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, purpose: Purpose = ""
) -> dict[str, list[str]]:
    """Verify the person's CNIC with the identity service; its answer is kept as its facts (audited).

    A hand-entered value is never overwritten: where the service differs, both are kept (a conflict).
    """
    changed, differ = service.verify_identity(
        session=db,
        principal=principal,
        person_id=person_id,
        identity=get_services(request).identity,
        purpose=purpose,
        photos_dir=_media(request),
    )
    return {"changed": changed, "differ": differ}


@router.get("/photos/{photo_id}", response_class=Response)
def photo(request: Request, principal: CurrentPrincipal, db: Db, photo_id: uuid.UUID) -> Response:
    """A person's photo, checked against its SHA-256."""
    data, media_type = service.photo_bytes(
        session=db, principal=principal, photo_id=photo_id, photos_dir=_media(request)
    )
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.post("/persons/{person_id}/warrants", response_model=WarrantOut, status_code=201)
def add_warrant(principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, data: WarrantIn) -> WarrantOut:
    """A court's warrant against a person."""
    return service.warrant_out(
        service.add_warrant(session=db, principal=principal, person_id=person_id, data=data)
    )


@router.post("/warrants/{warrant_id}/execute", response_model=WarrantOut)
def execute_warrant(principal: CurrentPrincipal, db: Db, warrant_id: uuid.UUID) -> WarrantOut:
    """Record that a warrant was executed, now, by this user (409 when expired or executed)."""
    return service.warrant_out(
        service.execute_warrant(session=db, principal=principal, warrant_id=warrant_id)
    )


@router.post("/persons/{person_id}/missing", response_model=MissingOut, status_code=201)
def report_missing(principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, body: Raw) -> MissingOut:
    """Report a person missing (the reporter's phone checked: 422 bad_phone)."""
    principal.require(service.MANAGE)
    data = service.parse(MissingIn, body)
    return MissingOut.model_validate(
        service.report_missing(session=db, principal=principal, person_id=person_id, data=data)
    )


@router.post("/missing/{report_id}/found", response_model=MissingOut)
def mark_found(principal: CurrentPrincipal, db: Db, report_id: uuid.UUID) -> MissingOut:
    """A missing person found: the report is closed."""
    return MissingOut.model_validate(service.mark_found(session=db, principal=principal, report_id=report_id))


@router.post("/persons/{person_id}/links", status_code=201)
def add_link(principal: CurrentPrincipal, db: Db, person_id: uuid.UUID, data: LinkIn) -> dict[str, str]:
    """Link a person to another (associate, relative, co-accused, gang member)."""
    link = service.add_link(session=db, principal=principal, person_id=person_id, data=data)
    return {"id": str(link.id)}


@router.get("/vehicles", response_model=list[VehicleOut])
def list_vehicles(
    principal: CurrentPrincipal, db: Db, plate: Annotated[str, Query(max_length=40)] = ""
) -> list[VehicleOut]:
    """The vehicles with a plate (folded as plate reads are), or the latest within scope."""
    found = (
        service.vehicles_of_plate(session=db, principal=principal, plate=plate)
        if plate
        else service.list_vehicles(session=db, principal=principal)
    )
    return [VehicleOut.model_validate(v) for v in found]


@router.post("/vehicles", response_model=VehicleOut, status_code=201)
def create_vehicle(principal: CurrentPrincipal, db: Db, data: VehicleNew) -> VehicleOut:
    """A new vehicle's record; its earlier plate reads are attached as sightings."""
    return VehicleOut.model_validate(service.create_vehicle(session=db, principal=principal, data=data))


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut)
def get_vehicle(principal: CurrentPrincipal, db: Db, vehicle_id: uuid.UUID) -> VehicleOut:
    """A vehicle's record."""
    return VehicleOut.model_validate(
        service.get_vehicle(session=db, principal=principal, vehicle_id=vehicle_id)
    )


@router.put("/vehicles/{vehicle_id}", response_model=VehicleOut)
def update_vehicle(
    principal: CurrentPrincipal, db: Db, vehicle_id: uuid.UUID, data: VehicleNew
) -> VehicleOut:
    """Change a vehicle's record (its owner too)."""
    return VehicleOut.model_validate(
        service.update_vehicle(session=db, principal=principal, vehicle_id=vehicle_id, data=data)
    )


@router.post("/vehicles/{vehicle_id}/stolen", response_model=StolenOut, status_code=201)
def report_stolen(principal: CurrentPrincipal, db: Db, vehicle_id: uuid.UUID, data: StolenIn) -> StolenOut:
    """Report a vehicle stolen: its plate goes on the stolen-vehicles hotlist."""
    return StolenOut.model_validate(
        service.report_stolen(session=db, principal=principal, vehicle_id=vehicle_id, data=data)
    )


@router.post("/stolen/{report_id}/recover", response_model=StolenOut)
def recover_stolen(principal: CurrentPrincipal, db: Db, report_id: uuid.UUID) -> StolenOut:
    """A stolen vehicle recovered: its plate comes off the hotlist."""
    return StolenOut.model_validate(
        service.recover_stolen(session=db, principal=principal, report_id=report_id)
    )


@router.get("/firs", response_model=list[FirOut])
def list_firs(principal: CurrentPrincipal, db: Db) -> list[FirOut]:
    """The latest FIRs within scope."""
    return [FirOut.model_validate(f) for f, _ in service.list_firs(session=db, principal=principal)]


@router.post("/firs", response_model=FirOut, status_code=201)
def add_fir(principal: CurrentPrincipal, db: Db, data: FirIn) -> FirOut:
    """Register an FIR (numbered next in its police station's year when no number is given)."""
    return FirOut.model_validate(service.add_fir(session=db, principal=principal, data=data))


@router.get("/firs/{fir_id}", response_model=FirOut)
def get_fir(principal: CurrentPrincipal, db: Db, fir_id: uuid.UUID) -> FirOut:
    """An FIR within scope."""
    return FirOut.model_validate(service.get_fir(session=db, principal=principal, fir_id=fir_id))


@router.post("/firs/{fir_id}/status", response_model=FirOut)
def set_fir_status(principal: CurrentPrincipal, db: Db, fir_id: uuid.UUID, data: FirStatusIn) -> FirOut:
    """Move an FIR through investigation and court (each step a row of its history)."""
    service.set_fir_status(session=db, principal=principal, fir_id=fir_id, status=data.status, note=data.note)
    return FirOut.model_validate(service.get_fir(session=db, principal=principal, fir_id=fir_id))


@router.post("/firs/{fir_id}/parties", status_code=201)
def add_party(principal: CurrentPrincipal, db: Db, fir_id: uuid.UUID, data: PartyIn) -> dict[str, str]:
    """Name a person in an FIR as complainant, accused, victim or witness."""
    party = service.add_party(
        session=db, principal=principal, fir_id=fir_id, person_id=data.person_id, role=data.role
    )
    return {"id": str(party.id)}


@router.get("/linked", response_model=LinkedOut)
def linked(
    principal: CurrentPrincipal,
    db: Db,
    plate: Annotated[str, Query(max_length=40)] = "",
    incident_id: uuid.UUID | None = None,
) -> LinkedOut:
    """The records linked to a plate or an incident: vehicles, and persons by name with why."""
    found = service.linked(session=db, principal=principal, plate=plate, incident_id=incident_id)
    return LinkedOut(
        vehicles=[VehicleOut.model_validate(v) for v in found.vehicles],
        persons=[(p.id, p.name, why) for p, why in found.persons],
    )


@router.get("/break-glass", response_model=list[BreakGlassOut])
def list_break_glass(principal: CurrentPrincipal, db: Db, unreviewed: bool = True) -> list[BreakGlassOut]:
    """Break-glass reads of records of the reviewer's districts (records.review)."""
    return [
        BreakGlassOut.model_validate(g)
        for g in service.list_break_glass(session=db, principal=principal, unreviewed=unreviewed)
    ]


@router.post("/break-glass/{glass_id}/review", response_model=BreakGlassOut)
def review_break_glass(
    principal: CurrentPrincipal, db: Db, glass_id: uuid.UUID, data: ReviewIn
) -> BreakGlassOut:
    """Judge a break-glass read justified or unjustified, with a note (audited)."""
    glass = service.review_break_glass(
        session=db, principal=principal, glass_id=glass_id, verdict=data.verdict, note=data.note
    )
    return BreakGlassOut.model_validate(glass)
