"""REST API of hotlists (/api/v1/hotlists): lists, their plates, CSV import, hits, precision."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from safecity.analytics.plates.hotlists import flows, service
from safecity.analytics.plates.hotlists.models import HitStatus, HotlistHit
from safecity.analytics.plates.hotlists.schemas import (
    DismissHitIn,
    EntryIn,
    EntryOut,
    HitOut,
    HotlistIn,
    HotlistOut,
    HotlistUpdate,
    ImportIn,
    ImportReport,
    IncidentOpenedOut,
    OpenIncidentIn,
    PrecisionOut,
)
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert
from safecity.events.alerts.schemas import AlertOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/hotlists", tags=["hotlists"])
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "the picture"}}


@router.get("", response_model=list[HotlistOut])
def list_hotlists(principal: CurrentPrincipal, db: Db) -> list[HotlistOut]:
    """The lists that apply in the caller's districts."""
    return service.list_hotlists(session=db, principal=principal)


@router.post("", response_model=HotlistOut, status_code=201)
def create_hotlist(body: HotlistIn, principal: CurrentPrincipal, db: Db) -> HotlistOut:
    """Start a list (hotlists.manage); without district_ids it covers all the caller's districts."""
    return service.out(db, service.create_hotlist(session=db, principal=principal, data=body))


@router.get("/precision", response_model=list[PrecisionOut])
def precision(
    principal: CurrentPrincipal,
    db: Db,
    by: Literal["list", "camera"] = "list",
    hotlist_id: uuid.UUID | None = None,
) -> list[PrecisionOut]:
    """Confirmed / (confirmed + dismissed) hits per list or per camera, in the caller's districts."""
    return service.precision(session=db, principal=principal, by=by, hotlist_id=hotlist_id)


@router.get("/hits", response_model=list[HitOut])
def list_hits(
    principal: CurrentPrincipal,
    db: Db,
    status: HitStatus | None = None,
    hotlist_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HitOut]:
    """Hits in the caller's districts, latest first."""
    found = service.list_hits(
        session=db, principal=principal, status=status, hotlist_id=hotlist_id, limit=limit
    )
    return [HitOut.model_validate(h) for h in found]


@router.get("/hits/{hit_id}", response_model=HitOut)
def get_hit(hit_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> HitOut:
    """One hit in the caller's districts."""
    return HitOut.model_validate(service.get_hit(session=db, principal=principal, hit_id=hit_id))


def _picture(
    request: Request, principal: CurrentPrincipal, db: Db, hit_id: uuid.UUID, part: Literal["crop", "vehicle"]
) -> FileResponse:
    path = service.hit_picture(
        session=db,
        principal=principal,
        hit_id=hit_id,
        part=part,
        snapshots_dir=get_services(request).settings.snapshots_dir,
    )
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/hits/{hit_id}/crop.jpg", response_class=FileResponse, responses=JPEG)
def crop(request: Request, hit_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> FileResponse:
    """The plate crop of the hit's sighting (404 `no_picture` when there is none)."""
    return _picture(request, principal, db, hit_id, "crop")


@router.get("/hits/{hit_id}/vehicle.jpg", response_class=FileResponse, responses=JPEG)
def vehicle(request: Request, hit_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> FileResponse:
    """The vehicle picture of the hit's sighting (404 `no_picture` when there is none)."""
    return _picture(request, principal, db, hit_id, "vehicle")


def _judged(request: Request, background: BackgroundTasks, hit: HotlistHit, alert: Alert | None) -> HitOut:
    if alert is not None:  # the consoles see the alert handled
        background.add_task(alerts.publish_or_log, get_services(request).bus, AlertOut.model_validate(alert))
    return HitOut.model_validate(hit)


@router.post("/hits/{hit_id}/confirm", response_model=HitOut)
def confirm(
    request: Request, background: BackgroundTasks, hit_id: uuid.UUID, principal: CurrentPrincipal, db: Db
) -> HitOut:
    """Confirm that the crop shows the listed plate (alerts.handle); the alert is acknowledged."""
    hit, alert = service.confirm_hit(session=db, principal=principal, hit_id=hit_id)
    return _judged(request, background, hit, alert)


@router.post("/hits/{hit_id}/dismiss", response_model=HitOut)
def dismiss(
    request: Request,
    background: BackgroundTasks,
    hit_id: uuid.UUID,
    body: DismissHitIn,
    principal: CurrentPrincipal,
    db: Db,
) -> HitOut:
    """Dismiss a hit with its reason (misread, different_vehicle, list_out_of_date, other + note)."""
    hit, alert = service.dismiss_hit(session=db, principal=principal, hit_id=hit_id, data=body)
    return _judged(request, background, hit, alert)


@router.post("/hits/{hit_id}/incident", response_model=IncidentOpenedOut, status_code=201)
def open_incident(
    hit_id: uuid.UUID, body: OpenIncidentIn, principal: CurrentPrincipal, db: Db
) -> IncidentOpenedOut:
    """Open an incident from a confirmed hit, pre-filled from it (incidents.manage)."""
    incident = flows.open_incident(session=db, principal=principal, hit_id=hit_id, priority=body.priority)
    return IncidentOpenedOut.model_validate(incident)


@router.get("/{hotlist_id}", response_model=HotlistOut)
def get_hotlist(hotlist_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> HotlistOut:
    """One list the caller sees."""
    return service.out(db, service.get_hotlist(session=db, principal=principal, hotlist_id=hotlist_id))


@router.patch("/{hotlist_id}", response_model=HotlistOut)
def update_hotlist(
    hotlist_id: uuid.UUID, body: HotlistUpdate, principal: CurrentPrincipal, db: Db
) -> HotlistOut:
    """Change some of a list's settings (enabled, expiry, instructions, districts, match mode …)."""
    hotlist = service.update_hotlist(session=db, principal=principal, hotlist_id=hotlist_id, data=body)
    return service.out(db, hotlist)


@router.delete("/{hotlist_id}", status_code=204)
def delete_hotlist(hotlist_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Remove a list without hits (a list with hits is disabled instead: 409 `hotlist_has_hits`)."""
    service.delete_hotlist(session=db, principal=principal, hotlist_id=hotlist_id)
    return Response(status_code=204)


@router.get("/{hotlist_id}/entries", response_model=list[EntryOut])
def list_entries(
    hotlist_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    plate: Annotated[str | None, Query(max_length=16, pattern="^[A-Za-z0-9]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_ENTRY_LIST)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EntryOut]:
    """A list's plates (starting with `plate`), by plate; the read is audited."""
    found = service.list_entries(
        session=db, principal=principal, hotlist_id=hotlist_id, plate=plate, limit=limit, offset=offset
    )
    return [EntryOut.model_validate(e) for e in found]


@router.post("/{hotlist_id}/entries", response_model=EntryOut, status_code=201)
def add_entry(hotlist_id: uuid.UUID, body: EntryIn, principal: CurrentPrincipal, db: Db) -> EntryOut:
    """Put a plate on a list (409 `duplicate_plate` if it is there)."""
    return EntryOut.model_validate(
        service.add_entry(session=db, principal=principal, hotlist_id=hotlist_id, data=body)
    )


@router.delete("/{hotlist_id}/entries/{entry_id}", status_code=204)
def remove_entry(hotlist_id: uuid.UUID, entry_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> Response:
    """Take a plate off a list."""
    service.remove_entry(session=db, principal=principal, hotlist_id=hotlist_id, entry_id=entry_id)
    return Response(status_code=204)


@router.post(
    "/{hotlist_id}/entries/import",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "bad rows: nothing was imported"}},
)
def import_entries(
    hotlist_id: uuid.UUID, body: ImportIn, principal: CurrentPrincipal, db: Db, dry_run: bool = True
) -> Response:
    """Import plates from CSV text (plate,reason,reference,description,expires_at); a dry run stores nothing.

    A real run is all or nothing: with any bad row, every bad row is reported (422) and nothing is stored.
    """
    report = service.import_csv(
        session=db, principal=principal, hotlist_id=hotlist_id, text=body.csv, dry_run=dry_run
    )
    status = 422 if report.errors and not dry_run else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)
