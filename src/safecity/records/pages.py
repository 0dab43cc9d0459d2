"""The records pages (/records): find and open persons (with a purpose, breaking glass beyond one's
districts), vehicles and FIRs; enter and change them; the records linked to a plate or an incident in one
click; who read a record (auditors); break-glass reviews (supervisors)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safecity.core.errors import PermissionDenied, SafecityError
from safecity.core.identifiers import format_cnic
from safecity.org import service as org
from safecity.records import service
from safecity.records.models import FirStatus, LinkKind, PartyRole, Sensitivity
from safecity.records.schemas import (
    MAX_PHOTO_BYTES,
    FirIn,
    LinkIn,
    MissingIn,
    PersonIn,
    PersonNew,
    StolenIn,
    VehicleNew,
    WarrantIn,
    sections,
)
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, flash, htmx_action, refuse, render, typed_moment

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=5000)]


def _media(page: Page) -> Path:
    return service.media_dir(get_services(page.request).settings.data_dir)


def person_url(person_id: uuid.UUID, purpose: str = "", reason: str = "") -> str:
    """The address of a person's page, with the purpose (and break-glass reason) it is read for."""
    query = {k: v for k, v in (("purpose", purpose), ("reason", reason)) if v}
    return f"/records/persons/{person_id}" + (f"?{urlencode(query)}" if query else "")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _go(url: str) -> Response:
    return Response(status_code=204, headers={"HX-Redirect": url})


@router.get("/records", response_class=HTMLResponse)
def records_page(page: CurrentPage, db: Db, q: Annotated[str, Query(max_length=120)] = "") -> Response:
    principal = page.principal
    principal.require(service.READ)
    return render(
        page,
        "records/index.html",
        q=q,
        persons=service.list_persons(session=db, principal=principal, text=q),
        firs=service.list_firs(session=db, principal=principal, limit=20),
        vehicles=service.list_vehicles(session=db, principal=principal, limit=20),
        can_manage=principal.can(service.MANAGE),
        can_review=principal.can(service.REVIEW),
    )


# --- persons ---------------------------------------------------------------------------------------


def _person_form(page: Page, db: Db, **context: Any) -> Response:
    return render(
        page,
        "records/person_form.html",
        districts=org.list_districts(session=db, actor=page.principal),
        sensitivities=[s.value for s in Sensitivity],
        may_sensitive=page.principal.can(service.SENSITIVE),
        **context,
    )


@router.get("/records/persons/new", response_class=HTMLResponse)
def new_person_page(page: CurrentPage, db: Db) -> Response:
    page.principal.require(service.MANAGE)
    return _person_form(page, db, person=None, record=None, purpose="")


def _person_values(
    name: Annotated[str, Form(max_length=200)],
    cnic: Annotated[str, Form(max_length=40)] = "",
    name_ur: Annotated[str, Form(max_length=200)] = "",
    father_name: Annotated[str, Form(max_length=200)] = "",
    father_name_ur: Annotated[str, Form(max_length=200)] = "",
    relation: Annotated[str, Form(max_length=3)] = "s/o",
    gender: Annotated[str, Form(max_length=1)] = "",
    date_of_birth: Annotated[str, Form(max_length=10)] = "",
    identifying_marks: Text = "",
    sensitivity: Annotated[str, Form(max_length=16)] = "none",
    aliases: Text = "",
    phones: Text = "",
    addresses: Text = "",
    notes: Text = "",
) -> dict[str, Any]:
    """The person form's fields as PersonIn takes them (the new and the edit form are the same form)."""
    return {
        "cnic": cnic or None,
        "name": name,
        "name_ur": name_ur,
        "father_name": father_name,
        "father_name_ur": father_name_ur,
        "relation": relation or "s/o",
        "gender": gender,
        "date_of_birth": date_of_birth or None,
        "identifying_marks": identifying_marks,
        "sensitivity": sensitivity or "none",
        "aliases": _lines(aliases),
        "phones": _lines(phones),
        "addresses": _lines(addresses),
        "notes": notes,
    }


PersonValues = Annotated[dict[str, Any], Depends(_person_values)]


@router.post("/records/persons")
def new_person_submit(
    page: CurrentPage,
    db: Db,
    values: PersonValues,
    district_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    try:
        data = service.parse(PersonNew, {**values, "district_id": district_id or None})
        person = service.create_person(session=db, principal=page.principal, data=data)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return _go(person_url(person.id, "entered this record"))


@router.get("/records/persons/{person_id}", response_class=HTMLResponse)
def person_page(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    purpose: Annotated[str, Query(max_length=400)] = "",
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    principal = page.principal
    person = service.get_person(session=db, principal=principal, person_id=person_id)
    outside = not principal.sees_district(person.district_id)
    if not purpose.strip():
        return render(
            page, "records/purpose.html", person_id=person_id, outside=outside, purpose="", reason=""
        )
    try:
        record = service.read_person(
            session=db, principal=principal, person_id=person_id, purpose=purpose, reason=reason
        )
    except SafecityError as exc:
        if isinstance(exc, PermissionDenied) and exc.code != "break_glass_required":
            raise
        db.rollback()
        return render(
            page,
            "records/purpose.html",
            status_code=exc.status,
            person_id=person_id,
            outside=outside,
            purpose=purpose,
            reason=reason,
            error=exc.message,
        )
    sightings = [
        {
            "lat": s.latitude,
            "lon": s.longitude,
            "label": f"{s.camera_name or 'camera'} · {page_time(page, s.at)}",
        }
        for s in record.sightings
        if s.latitude is not None and s.longitude is not None
    ]
    return render(
        page,
        "records/person.html",
        r=record,
        p=record.person,
        cnic=format_cnic(record.person.cnic) if record.person.cnic else "",
        purpose=" ".join(purpose.split()),
        reason=reason,
        sightings_geo=sightings,
        warrant_state=service.warrant_state,
        can_manage=principal.can(service.MANAGE) and principal.sees_district(record.person.district_id),
        can_audit=principal.can(service.AUDIT_READ),
        link_kinds=[k.value for k in LinkKind],
        stations=org.list_stations(session=db, actor=principal) if principal.can("org.read") else [],
    )


def page_time(page: Page, value: Any) -> str:
    """A time as the page shows it (local time zone)."""
    return str(value.astimezone(page.timezone).strftime("%Y-%m-%d %H:%M"))


@router.get("/records/persons/{person_id}/edit", response_class=HTMLResponse)
def edit_person_page(
    page: CurrentPage, db: Db, person_id: uuid.UUID, purpose: Annotated[str, Query(max_length=400)] = ""
) -> Response:
    page.principal.require(service.MANAGE)
    if not purpose.strip():
        return RedirectResponse(person_url(person_id), status_code=303)
    record = service.read_person(session=db, principal=page.principal, person_id=person_id, purpose=purpose)
    return _person_form(page, db, person=record.person, record=record, purpose=purpose)


@router.post("/records/persons/{person_id}")
def edit_person_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    values: PersonValues,
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    try:
        service.update_person(
            session=db, principal=page.principal, person_id=person_id, data=service.parse(PersonIn, values)
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return _go(person_url(person_id, purpose or "changed this record"))


@router.post("/records/persons/{person_id}/photos")
def photo_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    photo: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    data = photo.file.read(MAX_PHOTO_BYTES + 1)
    return htmx_action(
        db,
        lambda: service.add_photo(
            session=db, principal=page.principal, person_id=person_id, data=data, photos_dir=_media(page)
        ),
        person_url(person_id, purpose),
        audit_refusal=page,
    )


@router.post("/records/persons/{person_id}/identity")
def identity_submit(
    page: CurrentPage, db: Db, person_id: uuid.UUID, purpose: Annotated[str, Form(max_length=400)] = ""
) -> Response:
    # On success the page reloads: the service's values show with their source, differences side by side.
    return htmx_action(
        db,
        lambda: service.verify_identity(
            session=db,
            principal=page.principal,
            person_id=person_id,
            identity=get_services(page.request).identity,
            purpose=purpose,
            photos_dir=_media(page),
        ),
        person_url(person_id, purpose),
        audit_refusal=page,
    )


@router.get("/records/photos/{photo_id}")
def photo_file(page: CurrentPage, db: Db, photo_id: uuid.UUID) -> Response:
    data, media_type = service.photo_bytes(
        session=db, principal=page.principal, photo_id=photo_id, photos_dir=_media(page)
    )
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/records/persons/{person_id}/reads", response_class=HTMLResponse)
def reads_page(page: CurrentPage, db: Db, person_id: uuid.UUID) -> Response:
    entries = service.readers(session=db, principal=page.principal, person_id=person_id)
    return render(page, "records/reads.html", person_id=person_id, entries=entries)


def _parsed_action(
    db: Db, page: Page, model: Any, values: Callable[[], dict[str, Any]], act: Any, redirect: str
) -> Response:
    """Validate a form as `model` (`values` may refuse too), then run `act(data)`; a refusal is shown in
    the page's flash area."""
    try:
        data = service.parse(model, values())
    except SafecityError as exc:
        return refuse(db, exc, page)
    return htmx_action(db, lambda: act(data), redirect, audit_refusal=page)


@router.post("/records/persons/{person_id}/warrants")
def warrant_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    court: Annotated[str, Form(max_length=160)],
    issued_on: Annotated[str, Form(max_length=10)],
    kind: Annotated[str, Form(max_length=16)] = "arrest",
    expires_on: Annotated[str, Form(max_length=10)] = "",
    bailable: Annotated[str, Form(max_length=3)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    values = {
        "court": court,
        "kind": kind,
        "issued_on": issued_on,
        "expires_on": expires_on or None,
        "bailable": bool(bailable),
    }
    return _parsed_action(
        db,
        page,
        WarrantIn,
        lambda: values,
        lambda data: service.add_warrant(
            session=db, principal=page.principal, person_id=person_id, data=data
        ),
        person_url(person_id, purpose),
    )


@router.post("/records/warrants/{warrant_id}/execute")
def execute_submit(
    page: CurrentPage, db: Db, warrant_id: uuid.UUID, back: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    return htmx_action(
        db,
        lambda: service.execute_warrant(session=db, principal=page.principal, warrant_id=warrant_id),
        _back(back),
        audit_refusal=page,
    )


def _back(url: str) -> str:
    """Where a form goes afterwards: a page of the records only, never another site."""
    return url if url.startswith("/records/") and not url.startswith("//") else "/records"


@router.post("/records/persons/{person_id}/missing")
def missing_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    last_seen_at: Annotated[str, Form(max_length=40)],
    last_seen_place: Annotated[str, Form(max_length=200)] = "",
    reporter_name: Annotated[str, Form(max_length=120)] = "",
    reporter_phone: Annotated[str, Form(max_length=32)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def values() -> dict[str, Any]:
        return {
            "last_seen_at": typed_moment(last_seen_at, page, "last_seen_at"),
            "last_seen_place": last_seen_place,
            "reporter_name": reporter_name,
            "reporter_phone": reporter_phone,
        }

    return _parsed_action(
        db,
        page,
        MissingIn,
        values,
        lambda data: service.report_missing(
            session=db, principal=page.principal, person_id=person_id, data=data
        ),
        person_url(person_id, purpose),
    )


@router.post("/records/missing/{report_id}/found")
def found_submit(
    page: CurrentPage, db: Db, report_id: uuid.UUID, back: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    return htmx_action(
        db,
        lambda: service.mark_found(session=db, principal=page.principal, report_id=report_id),
        _back(back),
        audit_refusal=page,
    )


@router.post("/records/persons/{person_id}/links")
def link_submit(
    page: CurrentPage,
    db: Db,
    person_id: uuid.UUID,
    other_id: Annotated[str, Form(max_length=40)],
    kind: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=1000)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    return _parsed_action(
        db,
        page,
        LinkIn,
        lambda: {"other_id": other_id, "kind": kind, "note": note},
        lambda data: service.add_link(session=db, principal=page.principal, person_id=person_id, data=data),
        person_url(person_id, purpose),
    )


# --- vehicles --------------------------------------------------------------------------------------


@router.get("/records/vehicles/new", response_class=HTMLResponse)
def new_vehicle_page(page: CurrentPage, db: Db, owner_id: uuid.UUID | None = None) -> Response:
    page.principal.require(service.MANAGE)
    return render(
        page,
        "records/vehicle_form.html",
        owner_id=owner_id,
        districts=org.list_districts(session=db, actor=page.principal),
    )


@router.post("/records/vehicles")
def new_vehicle_submit(
    page: CurrentPage,
    db: Db,
    registration: Annotated[str, Form(max_length=24)],
    district_id: Annotated[str, Form(max_length=40)] = "",
    owner_id: Annotated[str, Form(max_length=40)] = "",
    chassis_no: Annotated[str, Form(max_length=32)] = "",
    engine_no: Annotated[str, Form(max_length=32)] = "",
    make: Annotated[str, Form(max_length=40)] = "",
    model: Annotated[str, Form(max_length=40)] = "",
    colour: Annotated[str, Form(max_length=24)] = "",
) -> Response:
    values = {
        "registration": registration,
        "district_id": district_id or None,
        "owner_id": owner_id or None,
        "chassis_no": chassis_no,
        "engine_no": engine_no,
        "make": make,
        "model": model,
        "colour": colour,
    }
    try:
        vehicle = service.create_vehicle(
            session=db, principal=page.principal, data=service.parse(VehicleNew, values)
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return _go(f"/records/vehicles/{vehicle.id}")


@router.get("/records/vehicles/{vehicle_id}", response_class=HTMLResponse)
def vehicle_page(page: CurrentPage, db: Db, vehicle_id: uuid.UUID) -> Response:
    principal = page.principal
    vehicle = service.get_vehicle(session=db, principal=principal, vehicle_id=vehicle_id)
    owner = (
        service.get_person(session=db, principal=principal, person_id=vehicle.owner_id)
        if vehicle.owner_id
        else None
    )
    sightings = service.vehicle_sightings(session=db, vehicle_id=vehicle.id)
    return render(
        page,
        "records/vehicle.html",
        v=vehicle,
        owner=owner,
        facts=service.facts(session=db, entity="vehicle", entity_id=vehicle.id),
        stolen=service.stolen_reports(session=db, vehicle_id=vehicle.id),
        sightings=sightings,
        sightings_geo=[
            {
                "lat": s.latitude,
                "lon": s.longitude,
                "label": f"{s.camera_name or 'camera'} · {page_time(page, s.at)}",
            }
            for s in sightings
            if s.latitude is not None and s.longitude is not None
        ],
        can_manage=principal.can(service.MANAGE) and principal.sees_district(vehicle.district_id),
    )


@router.post("/records/vehicles/{vehicle_id}/stolen")
def stolen_submit(
    page: CurrentPage,
    db: Db,
    vehicle_id: uuid.UUID,
    stolen_at: Annotated[str, Form(max_length=40)],
    place: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _parsed_action(
        db,
        page,
        StolenIn,
        lambda: {"stolen_at": typed_moment(stolen_at, page, "stolen_at"), "place": place},
        lambda data: service.report_stolen(
            session=db, principal=page.principal, vehicle_id=vehicle_id, data=data
        ),
        f"/records/vehicles/{vehicle_id}",
    )


@router.post("/records/stolen/{report_id}/recover")
def recover_submit(
    page: CurrentPage, db: Db, report_id: uuid.UUID, back: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    return htmx_action(
        db,
        lambda: service.recover_stolen(session=db, principal=page.principal, report_id=report_id),
        _back(back),
        audit_refusal=page,
    )


# --- FIRs ------------------------------------------------------------------------------------------


@router.get("/records/firs/new", response_class=HTMLResponse)
def new_fir_page(page: CurrentPage, db: Db, incident_id: uuid.UUID | None = None) -> Response:
    page.principal.require(service.MANAGE)
    return render(
        page,
        "records/fir_form.html",
        incident_id=incident_id,
        sections=sections(),
        stations=org.list_stations(session=db, actor=page.principal),
    )


@router.post("/records/firs")
def new_fir_submit(
    page: CurrentPage,
    db: Db,
    police_station_id: Annotated[str, Form(max_length=40)],
    registered_on: Annotated[str, Form(max_length=10)],
    sections_: Annotated[list[str], Form(alias="sections")],
    number: Annotated[str, Form(max_length=8)] = "",
    summary: Text = "",
    property_: Annotated[str, Form(alias="property", max_length=2000)] = "",
    incident_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    values = {
        "police_station_id": police_station_id,
        "registered_on": registered_on,
        "sections": sections_,
        "number": number or None,
        "summary": summary,
        "property": property_,
        "incident_id": incident_id or None,
    }
    try:
        fir = service.add_fir(session=db, principal=page.principal, data=service.parse(FirIn, values))
    except SafecityError as exc:
        return refuse(db, exc, page)
    return _go(f"/records/firs/{fir.id}")


@router.get("/records/firs/{fir_id}", response_class=HTMLResponse)
def fir_page(page: CurrentPage, db: Db, fir_id: uuid.UUID) -> Response:
    principal = page.principal
    fir = service.get_fir(session=db, principal=principal, fir_id=fir_id)
    return render(
        page,
        "records/fir.html",
        fir=fir,
        label=service.fir_label(db, fir.id),
        titles=sections(),
        history=service.fir_history(session=db, fir_id=fir.id),
        parties=service.fir_parties(session=db, principal=principal, fir_id=fir.id),
        statuses=[s.value for s in FirStatus],
        roles=[r.value for r in PartyRole],
        can_manage=principal.can(service.MANAGE),
    )


@router.post("/records/firs/{fir_id}/status")
def fir_status_submit(
    page: CurrentPage,
    db: Db,
    fir_id: uuid.UUID,
    status: Annotated[FirStatus, Form()],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return htmx_action(
        db,
        lambda: service.set_fir_status(
            session=db, principal=page.principal, fir_id=fir_id, status=status, note=note
        ),
        f"/records/firs/{fir_id}",
        audit_refusal=page,
    )


@router.post("/records/firs/{fir_id}/parties")
def party_submit(
    page: CurrentPage,
    db: Db,
    fir_id: uuid.UUID,
    person_id: Annotated[uuid.UUID, Form()],
    role: Annotated[PartyRole, Form()],
) -> Response:
    return htmx_action(
        db,
        lambda: service.add_party(
            session=db, principal=page.principal, fir_id=fir_id, person_id=person_id, role=role
        ),
        f"/records/firs/{fir_id}",
        audit_refusal=page,
    )


# --- linked records: one click from an alert, an incident, a unit's call ----------------------------


@router.get("/records/linked", response_class=HTMLResponse)
def linked_page(
    page: CurrentPage,
    db: Db,
    plate: Annotated[str, Query(max_length=40)] = "",
    incident_id: uuid.UUID | None = None,
    purpose: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    """The records linked to a plate or an incident; a plate's one owner opens at once, with the purpose."""
    found = service.linked(session=db, principal=page.principal, plate=plate, incident_id=incident_id)
    if plate and purpose.strip() and len(found.persons) == 1:
        return RedirectResponse(person_url(found.persons[0][0].id, purpose), status_code=303)
    return render(
        page, "records/linked.html", found=found, plate=plate, incident_id=incident_id, purpose=purpose
    )


# --- break-glass reviews ---------------------------------------------------------------------------


@router.get("/records/break-glass", response_class=HTMLResponse)
def break_glass_page(page: CurrentPage, db: Db, reviewed: bool = False) -> Response:
    reads = service.list_break_glass(session=db, principal=page.principal, unreviewed=not reviewed)
    return render(page, "records/break_glass.html", reads=reads, reviewed=reviewed)


@router.post("/records/break-glass/{glass_id}/review")
def review_submit(
    page: CurrentPage,
    db: Db,
    glass_id: uuid.UUID,
    verdict: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        service.review_break_glass(
            session=db, principal=page.principal, glass_id=glass_id, verdict=verdict, note=note
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return flash(f"Marked {verdict}.")
