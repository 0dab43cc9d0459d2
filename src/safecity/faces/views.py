"""REST API of face recognition (/api/v1/faces): watchlists and their entries, enrolment of photos,
authorisations (request, approve, revoke), the published error rates and the oversight report.

A watchlist or authorisation of another district is 404, the same as one that is not there. Enrolment
answers 200 with a report of every photo (accepted, or refused with a stable code such as `no_face`,
`several_faces`, `poor_quality`, `too_large`, `watchlist_expired`); approving one's own request is 403
`self_approval`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from safecity.faces import service
from safecity.faces.schemas import (
    AuthorisationIn,
    AuthorisationOut,
    EnrolIn,
    EnrolmentOut,
    EnrolmentReport,
    EntryIn,
    EntryOut,
    EntryRemove,
    EvaluationOut,
    MonthOut,
    RatesOut,
    RevokeIn,
    WatchlistIn,
    WatchlistOut,
    WatchlistUpdate,
)
from safecity.incidents import service as incidents
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/faces", tags=["faces"])

JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "the face"}}


def _authorisations(db: Db, rows: list[Any]) -> list[AuthorisationOut]:
    targets = service.authorisation_targets(session=db, authorisation_ids=[a.id for a in rows])
    return [service.authorisation_out(a, targets[a.id]) for a in rows]


@router.get("/watchlists", response_model=list[WatchlistOut])
def list_watchlists(principal: CurrentPrincipal, db: Db) -> list[WatchlistOut]:
    """The watchlists of the caller's districts."""
    return [
        WatchlistOut.model_validate(w) for w, _ in service.list_watchlists(session=db, principal=principal)
    ]


@router.post("/watchlists", response_model=WatchlistOut, status_code=201)
def create_watchlist(principal: CurrentPrincipal, db: Db, body: WatchlistIn) -> WatchlistOut:
    """A new watchlist with its legal basis, review date and expiry (faces.enrol)."""
    return WatchlistOut.model_validate(service.create_watchlist(session=db, principal=principal, data=body))


@router.get("/watchlists/{watchlist_id}", response_model=WatchlistOut)
def get_watchlist(principal: CurrentPrincipal, db: Db, watchlist_id: uuid.UUID) -> WatchlistOut:
    """One watchlist."""
    return WatchlistOut.model_validate(
        service.get_watchlist(session=db, principal=principal, watchlist_id=watchlist_id)
    )


@router.patch("/watchlists/{watchlist_id}", response_model=WatchlistOut)
def update_watchlist(
    principal: CurrentPrincipal, db: Db, watchlist_id: uuid.UUID, body: WatchlistUpdate
) -> WatchlistOut:
    """Change a watchlist's name, legal basis, review date or expiry (faces.enrol)."""
    watchlist = service.update_watchlist(
        session=db, principal=principal, watchlist_id=watchlist_id, data=body
    )
    return WatchlistOut.model_validate(watchlist)


@router.get("/watchlists/{watchlist_id}/entries", response_model=list[EntryOut])
def list_entries(principal: CurrentPrincipal, db: Db, watchlist_id: uuid.UUID) -> list[EntryOut]:
    """A watchlist's current entries with how many photos each has enrolled (the read is audited)."""
    views = service.list_entries(session=db, principal=principal, watchlist_id=watchlist_id)
    return [
        EntryOut.model_validate(v.entry).model_copy(update={"enrolments": len(v.enrolments)}) for v in views
    ]


@router.post("/watchlists/{watchlist_id}/entries", response_model=EntryOut, status_code=201)
def add_entry(principal: CurrentPrincipal, db: Db, watchlist_id: uuid.UUID, body: EntryIn) -> EntryOut:
    """Put a person of the records on a watchlist (faces.enrol)."""
    entry = service.add_entry(session=db, principal=principal, watchlist_id=watchlist_id, data=body)
    return EntryOut.model_validate(entry)


@router.post("/entries/{entry_id}/remove", response_model=EntryOut)
def remove_entry(principal: CurrentPrincipal, db: Db, entry_id: uuid.UUID, body: EntryRemove) -> EntryOut:
    """Take a person off a watchlist; their enrolled faces are deleted (faces.enrol)."""
    entry = service.remove_entry(session=db, principal=principal, entry_id=entry_id, reason=body.reason)
    return EntryOut.model_validate(entry)


@router.get("/entries/{entry_id}/enrolments", response_model=list[EnrolmentOut])
def list_enrolments(principal: CurrentPrincipal, db: Db, entry_id: uuid.UUID) -> list[EnrolmentOut]:
    """The photos enrolled for an entry (their hash and quality; the faces through /chip.jpg)."""
    enrolments = service.entry_enrolments(session=db, principal=principal, entry_id=entry_id)
    return [EnrolmentOut.model_validate(e) for e in enrolments]


@router.post("/entries/{entry_id}/enrolments", response_model=EnrolmentReport)
def enrol(
    request: Request, principal: CurrentPrincipal, db: Db, entry_id: uuid.UUID, body: EnrolIn
) -> EnrolmentReport:
    """Enrol photos of the entry's person (faces.enrol): a report of each, accepted or refused and why.

    Runs on a worker thread (a plain route), never on the event loop: the engine takes a moment per photo.
    """
    photos = [(p.name, incidents.decode_base64(p.data_base64)) for p in body.photos]
    services = get_services(request)
    with services.faces.borrow() as engine:
        return service.enrol(
            session=db,
            principal=principal,
            engine=engine,
            box=service.biometric_box(services.settings),
            entry_id=entry_id,
            photos=photos,
        )


@router.get("/enrolments/{enrolment_id}/chip.jpg", response_class=Response, responses=JPEG)
def enrolment_chip(
    request: Request, principal: CurrentPrincipal, db: Db, enrolment_id: uuid.UUID
) -> Response:
    """An enrolled face (faces.read, faces.enrol or faces.confirm; every view is audited)."""
    data = service.chip_image(
        session=db,
        principal=principal,
        box=service.biometric_box(get_services(request).settings),
        enrolment_id=enrolment_id,
    )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.delete("/enrolments/{enrolment_id}", status_code=204)
def delete_enrolment(principal: CurrentPrincipal, db: Db, enrolment_id: uuid.UUID) -> Response:
    """Delete an enrolled photo's face and embedding (faces.enrol)."""
    service.delete_enrolment(session=db, principal=principal, enrolment_id=enrolment_id)
    return Response(status_code=204)


@router.get("/authorisations", response_model=list[AuthorisationOut])
def list_authorisations(principal: CurrentPrincipal, db: Db) -> list[AuthorisationOut]:
    """The authorisations of the caller's districts, newest request first, each with its state."""
    return _authorisations(db, service.list_authorisations(session=db, principal=principal))


@router.post("/authorisations", response_model=AuthorisationOut, status_code=201)
def request_authorisation(principal: CurrentPrincipal, db: Db, body: AuthorisationIn) -> AuthorisationOut:
    """Ask for leave to match (live) or search (retrospective); another person must approve it."""
    authorisation = service.request_authorisation(session=db, principal=principal, data=body)
    return _authorisations(db, [authorisation])[0]


@router.get("/authorisations/{authorisation_id}", response_model=AuthorisationOut)
def get_authorisation(principal: CurrentPrincipal, db: Db, authorisation_id: uuid.UUID) -> AuthorisationOut:
    """One authorisation with its watchlists, cameras and state."""
    authorisation = service.get_authorisation(
        session=db, principal=principal, authorisation_id=authorisation_id
    )
    return _authorisations(db, [authorisation])[0]


@router.post("/authorisations/{authorisation_id}/approve", response_model=AuthorisationOut)
def approve_authorisation(
    principal: CurrentPrincipal, db: Db, authorisation_id: uuid.UUID
) -> AuthorisationOut:
    """Approve another person's request (faces.authorise)."""
    authorisation = service.approve_authorisation(
        session=db, principal=principal, authorisation_id=authorisation_id
    )
    return _authorisations(db, [authorisation])[0]


@router.post("/authorisations/{authorisation_id}/revoke", response_model=AuthorisationOut)
def revoke_authorisation(
    principal: CurrentPrincipal, db: Db, authorisation_id: uuid.UUID, body: RevokeIn
) -> AuthorisationOut:
    """End an authorisation now, with a reason (faces.authorise, or the requester withdrawing it)."""
    authorisation = service.revoke_authorisation(
        session=db, principal=principal, authorisation_id=authorisation_id, reason=body.reason
    )
    return _authorisations(db, [authorisation])[0]


@router.get("/rates", response_model=RatesOut)
def rates(request: Request, principal: CurrentPrincipal, db: Db) -> RatesOut:
    """The same-person threshold in force and the published error rates (anyone signed in)."""
    return RatesOut(
        threshold=get_services(request).settings.faces.threshold,
        evaluations=[EvaluationOut.model_validate(e) for e in service.evaluations(session=db)],
    )


@router.get("/oversight", response_model=list[MonthOut])
def oversight(principal: CurrentPrincipal, db: Db) -> list[MonthOut]:
    """Per month: authorisations, enrolments, searches, matches and their outcomes (faces.oversee)."""
    return [
        MonthOut(month=m.month, counts=m.counts) for m in service.oversight(session=db, principal=principal)
    ]
