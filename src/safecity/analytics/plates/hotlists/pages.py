"""Hotlist pages: the lists, one list's plates, settings, import and precision, and a hit to confirm."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.analytics.plates.hotlists import flows, service
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry, HotlistHit, MatchMode
from safecity.analytics.plates.hotlists.schemas import DismissHitIn, EntryIn, HotlistIn, HotlistUpdate
from safecity.core.errors import InvalidInput, SafecityError
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert
from safecity.events.alerts.schemas import AlertOut
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, htmx_action, refuse, render

router = APIRouter(include_in_schema=False)


def _parse(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput("; ".join(problems)) from None


def _day_end(text: str) -> dt.datetime | None:
    """A date field (end of that day, UTC); empty: no expiry."""
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(23, 59, 59), tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput("give the expiry as a date such as 2027-01-31") from None


@router.get("/hotlists", response_class=HTMLResponse)
def hotlists_page(page: CurrentPage, db: Db) -> Response:
    lists = service.list_hotlists(session=db, principal=page.principal)
    return render(
        page,
        "hotlists/list.html",
        lists=lists,
        precision={p.key: p for p in service.precision(session=db, principal=page.principal, by="list")},
        kinds=service.KIND_LABELS,
        modes=list(MatchMode),
        can_manage=page.principal.can(service.MANAGE),
        districts=service.districts_in_scope(session=db, principal=page.principal),
        now=dt.datetime.now(dt.UTC),
    )


@router.post("/hotlists")
def create_submit(
    page: CurrentPage,
    db: Db,
    kind: Annotated[str, Form()],
    name: Annotated[str, Form(max_length=200)],
    agency: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    legal_reference: Annotated[str, Form(max_length=400)] = "",
    instructions: Annotated[str, Form(max_length=2000)] = "",
    expires_on: Annotated[str, Form(max_length=20)] = "",
    match_mode: Annotated[str, Form(max_length=10)] = "exact",
    one_edit: Annotated[str, Form(max_length=5)] = "",
    severity: Annotated[int, Form(ge=0, le=4)] = 3,
    district_ids: Annotated[list[str] | None, Form(max_length=200)] = None,
) -> Response:
    created: list[uuid.UUID] = []

    def create() -> None:
        data = _parse(
            lambda: HotlistIn.model_validate(
                {
                    "kind": kind,
                    "name": name,
                    "agency": agency,
                    "reason": reason,
                    "legal_reference": legal_reference,
                    "instructions": instructions,
                    "expires_at": _day_end(expires_on),
                    "match_mode": match_mode,
                    "max_edits": 1 if one_edit else 0,
                    "severity": severity,
                    "district_ids": district_ids or None,  # none ticked: all of the keeper's
                }
            )
        )
        created.append(service.create_hotlist(session=db, principal=page.principal, data=data).id)

    try:
        create()
    except SafecityError as exc:
        return refuse(db, exc, page)
    return Response(status_code=204, headers={"HX-Redirect": f"/hotlists/{created[0]}"})


# --- hits (before /hotlists/{id}, whose id would not parse "hits") --------------------------------


@router.get("/hotlists/hits/{hit_id}", response_class=HTMLResponse)
def hit_page(page: CurrentPage, db: Db, hit_id: uuid.UUID) -> Response:
    hit = service.get_hit(session=db, principal=page.principal, hit_id=hit_id)
    entry = db.get(HotlistEntry, hit.entry_id) if hit.entry_id else None
    hotlist = db.get(Hotlist, hit.hotlist_id) if hit.hotlist_id else None
    return render(
        page,
        "hotlists/hit.html",
        hit=hit,
        entry=entry,
        hotlist=hotlist,
        sighting=service.sighting_of(session=db, hit=hit),
        dismiss_reasons=service.DISMISS_LABELS,
        can_handle=page.principal.can(alerts.HANDLE),
        can_open=page.principal.can("incidents.manage"),
    )


def _judged(
    page: Page, db: Db, background: BackgroundTasks, action: Callable[[], tuple[HotlistHit, Alert | None]]
) -> Response:
    try:
        hit, alert = action()
    except SafecityError as exc:
        return refuse(db, exc, page)
    if alert is not None:
        background.add_task(
            alerts.publish_or_log, get_services(page.request).bus, AlertOut.model_validate(alert)
        )
    return Response(status_code=204, headers={"HX-Redirect": f"/hotlists/hits/{hit.id}"})


@router.post("/hotlists/hits/{hit_id}/confirm")
def confirm_submit(page: CurrentPage, db: Db, background: BackgroundTasks, hit_id: uuid.UUID) -> Response:
    return _judged(
        page, db, background, lambda: service.confirm_hit(session=db, principal=page.principal, hit_id=hit_id)
    )


@router.post("/hotlists/hits/{hit_id}/dismiss")
def dismiss_submit(
    page: CurrentPage,
    db: Db,
    background: BackgroundTasks,
    hit_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def dismiss() -> tuple[HotlistHit, Alert | None]:
        if not reason:
            raise InvalidInput("choose why the hit is dismissed", code="reason_required")
        data = _parse(lambda: DismissHitIn.model_validate({"reason": reason, "note": note}))
        return service.dismiss_hit(session=db, principal=page.principal, hit_id=hit_id, data=data)

    return _judged(page, db, background, dismiss)


@router.post("/hotlists/hits/{hit_id}/incident")
def incident_submit(page: CurrentPage, db: Db, hit_id: uuid.UUID) -> Response:
    try:
        incident = flows.open_incident(session=db, principal=page.principal, hit_id=hit_id)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return Response(status_code=204, headers={"HX-Redirect": f"/incidents/{incident.id}"})


# --- one list -------------------------------------------------------------------------------------


@router.get("/hotlists/{hotlist_id}", response_class=HTMLResponse)
def hotlist_page(page: CurrentPage, db: Db, hotlist_id: uuid.UUID, plate: str = "") -> Response:
    hotlist = service.get_hotlist(session=db, principal=page.principal, hotlist_id=hotlist_id)
    clean = "".join(c for c in plate.upper() if c.isascii() and c.isalnum())[:16]
    entries = service.list_entries(
        session=db, principal=page.principal, hotlist_id=hotlist.id, plate=clean or None
    )
    can_hits = page.principal.can(alerts.READ)
    return render(
        page,
        "hotlists/detail.html",
        hotlist=service.out(db, hotlist),
        entries=entries,
        plate=clean,
        kinds=service.KIND_LABELS,
        header=",".join(service.CSV_HEADER),
        list_precision=service.precision(
            session=db, principal=page.principal, by="list", hotlist_id=hotlist.id
        ),
        camera_precision=service.precision(
            session=db, principal=page.principal, by="camera", hotlist_id=hotlist.id
        ),
        hits=service.list_hits(session=db, principal=page.principal, hotlist_id=hotlist.id, limit=50)
        if can_hits
        else [],
        can_manage=page.principal.can(service.MANAGE),
    )


@router.post("/hotlists/{hotlist_id}/settings")
def settings_submit(
    page: CurrentPage,
    db: Db,
    hotlist_id: uuid.UUID,
    instructions: Annotated[str, Form(max_length=2000)] = "",
    expires_on: Annotated[str, Form(max_length=20)] = "",
    severity: Annotated[int, Form(ge=0, le=4)] = 3,
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    def update() -> None:
        expiry = _day_end(expires_on)
        data = _parse(
            lambda: HotlistUpdate(
                instructions=instructions,
                expires_at=expiry,
                clear_expiry=expiry is None,
                severity=severity,
                enabled=bool(enabled),
            )
        )
        service.update_hotlist(session=db, principal=page.principal, hotlist_id=hotlist_id, data=data)

    return htmx_action(db, update, f"/hotlists/{hotlist_id}", audit_refusal=page)


@router.post("/hotlists/{hotlist_id}/entries")
def entry_submit(
    page: CurrentPage,
    db: Db,
    hotlist_id: uuid.UUID,
    plate: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    reference: Annotated[str, Form(max_length=240)] = "",
    description: Annotated[str, Form(max_length=400)] = "",
    expires_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    def add() -> None:
        expiry = _day_end(expires_on)
        data = _parse(
            lambda: EntryIn(
                plate=plate, reason=reason, reference=reference, description=description, expires_at=expiry
            )
        )
        service.add_entry(session=db, principal=page.principal, hotlist_id=hotlist_id, data=data)

    return htmx_action(db, add, f"/hotlists/{hotlist_id}", audit_refusal=page)


@router.post("/hotlists/{hotlist_id}/entries/{entry_id}/remove")
def remove_submit(page: CurrentPage, db: Db, hotlist_id: uuid.UUID, entry_id: uuid.UUID) -> Response:
    return htmx_action(
        db,
        lambda: service.remove_entry(
            session=db, principal=page.principal, hotlist_id=hotlist_id, entry_id=entry_id
        ),
        f"/hotlists/{hotlist_id}",
        audit_refusal=page,
    )


@router.post("/hotlists/{hotlist_id}/entries/import", response_class=HTMLResponse)
def import_submit(
    page: CurrentPage,
    db: Db,
    hotlist_id: uuid.UUID,
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        text = service.decode_csv(file.file.read(service.MAX_IMPORT_BYTES + 1))
        report = service.import_csv(
            session=db, principal=page.principal, hotlist_id=hotlist_id, text=text, dry_run=bool(dry_run)
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    if report.errors and not report.dry_run:
        db.rollback()
    return render(page, "hotlists/_import_report.html", report=report)
