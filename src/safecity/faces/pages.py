"""The face recognition pages: watchlists (/faces) with their entries and enrolment of photos, the
authorisations (/faces/authorisations), the published error rates (/faces/rates, for everyone signed in:
operators must know how often the system is wrong) and the oversight report (/faces/oversight, CSV too).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, SafecityError
from safecity.core.identifiers import format_cnic
from safecity.faces import service
from safecity.faces.models import AuthorisationKind, WatchlistKind
from safecity.faces.schemas import (
    MAX_ENROL_PHOTO_BYTES,
    MAX_ENROL_PHOTOS,
    AuthorisationIn,
    EntryIn,
    WatchlistIn,
    WatchlistUpdate,
)
from safecity.org import service as org
from safecity.records import service as records
from safecity.web.deps import Db, get_services
from safecity.web.i18n import N_
from safecity.web.pages import CurrentPage, Page, htmx_action, refuse, render, typed_moment

router = APIRouter(include_in_schema=False)

Line = Annotated[str, Form(max_length=600)]

KINDS = {
    WatchlistKind.WANTED: N_("Wanted persons"),
    WatchlistKind.MISSING: N_("Missing persons"),
    WatchlistKind.INTEREST: N_("Persons of interest"),
}
STATES = {
    "active": N_("active"),
    "review_due": N_("review due"),
    "expired": N_("expired"),
    "pending": N_("pending"),
    "approved": N_("approved, not started"),
    "current": N_("current"),
    "revoked": N_("revoked"),
}
# The oversight report's columns, in the order of the audit actions they count.
COLUMNS = {
    "requested": N_("Authorisations requested"),
    "approved": N_("Approved"),
    "revoked": N_("Revoked"),
    "enrolments": N_("Enrolments"),
    "searches": N_("Searches"),
    "matches": N_("Matches"),
    "confirmations": N_("Confirmations"),
    "rejections": N_("Rejections"),
}


def _day(value: str, page: Page, name: str) -> dt.datetime | None:
    """A date typed in a form, as the end of that day in the user's zone."""
    moment = typed_moment(f"{value}T23:59:59" if value and "T" not in value else value, page, name)
    return moment.astimezone(dt.UTC) if moment is not None else None


@router.get("/faces", response_class=HTMLResponse)
def watchlists_page(page: CurrentPage, db: Db) -> Response:
    principal = page.principal
    watchlists = service.list_watchlists(session=db, principal=principal)
    may_enrol = principal.can(service.ENROL)
    districts = (
        org.list_districts(session=db, actor=principal) if may_enrol and principal.can("org.read") else []
    )
    return render(
        page,
        "faces/index.html",
        watchlists=watchlists,
        kinds=KINDS,
        states=STATES,
        state=service.watchlist_state,
        may_enrol=may_enrol,
        districts=districts,
    )


@router.post("/faces/watchlists")
def watchlist_submit(
    page: CurrentPage,
    db: Db,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=24)],
    legal_basis: Line,
    review_on: Annotated[str, Form(max_length=10)],
    expires_on: Annotated[str, Form(max_length=10)] = "",
    district_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    try:
        data = records.parse(
            WatchlistIn,
            {
                "name": name,
                "kind": kind,
                "legal_basis": legal_basis,
                "review_at": _day(review_on, page, "review_on"),
                "expires_at": _day(expires_on, page, "expires_on"),
                "district_id": district_id or None,
            },
        )
        watchlist = service.create_watchlist(session=db, principal=page.principal, data=data)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return Response(status_code=204, headers={"HX-Redirect": f"/faces/watchlists/{watchlist.id}"})


@router.get("/faces/watchlists/{watchlist_id}", response_class=HTMLResponse)
def watchlist_page(page: CurrentPage, db: Db, watchlist_id: uuid.UUID) -> Response:
    principal = page.principal
    watchlist = service.get_watchlist(session=db, principal=principal, watchlist_id=watchlist_id)
    entries = service.list_entries(session=db, principal=principal, watchlist_id=watchlist.id)
    return render(
        page,
        "faces/watchlist.html",
        watchlist=watchlist,
        entries=entries,
        kinds=KINDS,
        states=STATES,
        state=service.watchlist_state(watchlist),
        may_enrol=principal.can(service.ENROL),
        may_see_faces=any(principal.can(p) for p in (service.READ, service.ENROL, service.CONFIRM)),
        cnic=lambda digits: format_cnic(digits) if digits else "—",
        max_photos=MAX_ENROL_PHOTOS,
        max_mb=MAX_ENROL_PHOTO_BYTES // (1024 * 1024),
    )


@router.post("/faces/watchlists/{watchlist_id}/settings")
def watchlist_settings(
    page: CurrentPage,
    db: Db,
    watchlist_id: uuid.UUID,
    review_on: Annotated[str, Form(max_length=10)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
    expire_now: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        data = records.parse(
            WatchlistUpdate,
            {
                "review_at": _day(review_on, page, "review_on"),
                "expires_at": utcnow() if expire_now else _day(expires_on, page, "expires_on"),
            },
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return htmx_action(
        db,
        lambda: service.update_watchlist(
            session=db, principal=page.principal, watchlist_id=watchlist_id, data=data
        ),
        f"/faces/watchlists/{watchlist_id}",
        audit_refusal=page,
    )


@router.post("/faces/watchlists/{watchlist_id}/entries")
def entry_submit(
    page: CurrentPage,
    db: Db,
    watchlist_id: uuid.UUID,
    person: Annotated[str, Form(max_length=60)],
    reason: Line,
    legal_reference: Annotated[str, Form(max_length=300)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def add() -> object:
        try:
            person_id = uuid.UUID(person.strip())
        except ValueError:
            person_id = service.person_by_cnic(session=db, principal=page.principal, cnic=person)
        data = records.parse(
            EntryIn,
            {
                "person_id": person_id,
                "reason": reason,
                "legal_reference": legal_reference,
                "expires_at": _day(expires_on, page, "expires_on"),
            },
        )
        return service.add_entry(session=db, principal=page.principal, watchlist_id=watchlist_id, data=data)

    return htmx_action(db, add, f"/faces/watchlists/{watchlist_id}", audit_refusal=page)


@router.post("/faces/entries/{entry_id}/remove")
def entry_remove(page: CurrentPage, db: Db, entry_id: uuid.UUID, reason: Line = "") -> Response:
    try:
        entry = service.remove_entry(session=db, principal=page.principal, entry_id=entry_id, reason=reason)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return Response(status_code=204, headers={"HX-Redirect": f"/faces/watchlists/{entry.watchlist_id}"})


@router.post("/faces/entries/{entry_id}/enrolments", response_class=HTMLResponse)
def enrol_submit(
    page: CurrentPage, db: Db, entry_id: uuid.UUID, photos: Annotated[list[UploadFile], File()]
) -> Response:
    # A plain (not async) route: FastAPI runs it on a worker thread, so the engine never holds the loop.
    try:
        if len(photos) > MAX_ENROL_PHOTOS:
            raise InvalidInput(f"enrol at most {MAX_ENROL_PHOTOS} photos at a time", code="too_many_photos")
        read = [(p.filename or "photo", p.file.read(MAX_ENROL_PHOTO_BYTES + 1)) for p in photos]
        services = get_services(page.request)
        with services.faces.borrow() as engine:
            report = service.enrol(
                session=db,
                principal=page.principal,
                engine=engine,
                box=service.biometric_box(services.settings),
                entry_id=entry_id,
                photos=read,
            )
    except SafecityError as exc:
        return refuse(db, exc, page)
    return render(page, "faces/_report.html", report=report)


@router.get("/faces/enrolments/{enrolment_id}/chip.jpg")
def chip_file(page: CurrentPage, db: Db, enrolment_id: uuid.UUID) -> Response:
    box = service.biometric_box(get_services(page.request).settings)
    data = service.chip_image(session=db, principal=page.principal, box=box, enrolment_id=enrolment_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


# --- authorisations --------------------------------------------------------------------------------


@router.get("/faces/authorisations", response_class=HTMLResponse)
def authorisations_page(page: CurrentPage, db: Db) -> Response:
    principal = page.principal
    rows = service.list_authorisations(session=db, principal=principal)
    targets = service.authorisation_targets(session=db, authorisation_ids=[a.id for a in rows])
    watchlists = service.list_watchlists(session=db, principal=principal)
    cameras = service.cameras_of(session=db, principal=principal)
    names = {w.id: w.name for w, _ in watchlists} | {c.id: c.name for c in cameras}
    may_request = any(principal.can(p) for p in (service.SEARCH, service.ENROL, service.AUTHORISE))
    now = utcnow()
    return render(
        page,
        "faces/authorisations.html",
        rows=[(a, service.authorisation_status(a, now), targets[a.id]) for a in rows],
        names=names,
        states=STATES,
        watchlists=[w for w, _ in watchlists if service.watchlist_state(w, now) != "expired"],
        cameras=cameras,
        districts=org.list_districts(session=db, actor=principal) if principal.can("org.read") else [],
        kinds=[k.value for k in AuthorisationKind],
        may_request=may_request,
        may_authorise=principal.can(service.AUTHORISE),
    )


@router.post("/faces/authorisations")
def authorisation_submit(
    page: CurrentPage,
    db: Db,
    kind: Annotated[str, Form(max_length=24)],
    legal_basis: Line,
    purpose: Line,
    starts_at: Annotated[str, Form(max_length=20)],
    ends_at: Annotated[str, Form(max_length=20)],
    watchlist_ids: Annotated[list[str] | None, Form()] = None,
    camera_ids: Annotated[list[str] | None, Form()] = None,
    district_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    def ask() -> object:
        data = records.parse(
            AuthorisationIn,
            {
                "kind": kind,
                "legal_basis": legal_basis,
                "purpose": purpose,
                "district_id": district_id or None,
                "watchlist_ids": watchlist_ids or [],
                "camera_ids": camera_ids or [],
                "starts_at": typed_moment(starts_at, page, "starts_at"),
                "ends_at": typed_moment(ends_at, page, "ends_at"),
            },
        )
        return service.request_authorisation(session=db, principal=page.principal, data=data)

    return htmx_action(db, ask, "/faces/authorisations", audit_refusal=page)


@router.post("/faces/authorisations/{authorisation_id}/approve")
def approve_submit(page: CurrentPage, db: Db, authorisation_id: uuid.UUID) -> Response:
    return htmx_action(
        db,
        lambda: service.approve_authorisation(
            session=db, principal=page.principal, authorisation_id=authorisation_id
        ),
        "/faces/authorisations",
        audit_refusal=page,
    )


@router.post("/faces/authorisations/{authorisation_id}/revoke")
def revoke_submit(page: CurrentPage, db: Db, authorisation_id: uuid.UUID, reason: Line = "") -> Response:
    return htmx_action(
        db,
        lambda: service.revoke_authorisation(
            session=db, principal=page.principal, authorisation_id=authorisation_id, reason=reason
        ),
        "/faces/authorisations",
        audit_refusal=page,
    )


# --- error rates and oversight ---------------------------------------------------------------------


@router.get("/faces/rates", response_class=HTMLResponse)
def rates_page(page: CurrentPage, db: Db) -> Response:
    return render(
        page,
        "faces/rates.html",
        threshold=get_services(page.request).settings.faces.threshold,
        evaluations=service.evaluations(session=db),
    )


@router.get("/faces/oversight", response_class=HTMLResponse)
def oversight_page(page: CurrentPage, db: Db) -> Response:
    months = service.oversight(session=db, principal=page.principal)
    return render(page, "faces/oversight.html", months=months, columns=COLUMNS)


@router.get("/faces/oversight.csv")
def oversight_csv(page: CurrentPage, db: Db) -> Response:
    months = service.oversight(session=db, principal=page.principal)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", *COLUMNS])
    for month in months:
        writer.writerow([month.month, *(month.counts[c] for c in COLUMNS)])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="faces-oversight.csv"'},
    )
