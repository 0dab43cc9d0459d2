"""Case pages (/cases): the list, a new case, and the case page (read with a purpose) with its items by
kind, notes, tasks, team, shares, timeline and custody log; and the "add to case" form other pages post to.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics.plates.service import require_purpose
from safecity.auth.models import User
from safecity.cameras.models import Camera
from safecity.core.errors import InvalidInput, NotFound, SafecityError
from safecity.evidence import service
from safecity.evidence.models import Case, CaseItem, CaseStatus, ItemKind
from safecity.evidence.schemas import CaseIn, CaseUpdate, ItemIn, TaskIn
from safecity.org.models import District
from safecity.web.deps import Db
from safecity.web.i18n import N_
from safecity.web.pages import CurrentPage, Page, refuse, render, typed_moment

router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    ItemKind.INCIDENT: N_("Incidents"),
    ItemKind.EVENT: N_("Events"),
    ItemKind.PLATE_SIGHTING: N_("Plate reads"),
    ItemKind.FACE_MATCH: N_("Face matches"),
    ItemKind.PERSON: N_("Persons (records)"),
    ItemKind.OBJECT_TRACK: N_("Objects seen"),
    ItemKind.RECORDING: N_("Recorded footage"),
}


def case_url(case_id: uuid.UUID, purpose: str = "") -> str:
    """The address of a case's page, with the purpose it is read for."""
    return f"/cases/{case_id}" + (f"?{urlencode({'purpose': purpose})}" if purpose else "")


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())


def act(page: Page, db: Session, action: Callable[[], str]) -> Response:
    """Run a page action of cases or their exports, which answers the address to show next: htmx follows
    HX-Redirect, a plain form post (another page's) a 303. Refused (a form that does not validate
    included), it is undone and the reason shown (a refused permission audited as in the API)."""
    try:
        try:
            url = action()
        except ValidationError as exc:
            raise InvalidInput(_problems(exc)) from None
    except SafecityError as exc:
        return refuse(db, exc, page)
    if page.request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _moment(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


def item_href(item: CaseItem) -> str:
    """Where an item's link leads: its own page, or the camera's playback at its moment."""
    if item.kind == ItemKind.INCIDENT and item.ref_id:
        return f"/incidents/{item.ref_id}"
    if item.kind == ItemKind.FACE_MATCH and item.ref_id:
        return f"/faces/matches/{item.ref_id}"
    if item.kind == ItemKind.PERSON and item.ref_id:
        return f"/records/persons/{item.ref_id}"
    if item.camera_id is not None:
        query = urlencode({"at": _moment(item.start)}) if item.start else ""
        return f"/cameras/{item.camera_id}" + (f"?{query}" if query else "") + "#playback"
    return ""


@router.get("/cases", response_class=HTMLResponse)
def cases_page(page: CurrentPage, db: Db, mine: bool = False, status: str = "") -> Response:
    wanted = CaseStatus(status) if status in {s.value for s in CaseStatus} else None
    found = service.list_cases(session=db, principal=page.principal, mine=mine, status=wanted)
    districts = {row.id: row.name for row in db.execute(select(District.id, District.name))}
    leads = service.usernames(session=db, user_ids={c.lead_id for c in found})
    return render(
        page,
        "evidence/cases.html",
        cases=found,
        districts=districts,
        leads=leads,
        mine=mine,
        status=wanted,
        statuses=list(CaseStatus),
        can_open=page.principal.can(service.INVESTIGATE),
    )


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(page: CurrentPage, db: Db) -> Response:
    page.principal.require(service.INVESTIGATE)
    query = select(District).where(page.principal.district_filter(District.id)).order_by(District.name)
    return render(page, "evidence/new.html", districts=list(db.scalars(query)))


@router.post("/cases/new")
def new_case_submit(
    page: CurrentPage,
    db: Db,
    title: Annotated[str, Form(max_length=200)] = "",
    summary: Annotated[str, Form(max_length=5000)] = "",
    district_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:

    def create() -> str:
        data = CaseIn.model_validate({"title": title, "summary": summary, "district_id": district_id or None})
        case = service.create_case(session=db, principal=page.principal, data=data)
        return case_url(case.id, f"opened case {case.number}")

    return act(page, db, create)


def _case_context(page: Page, db: Session, case: Case, purpose: str) -> dict[str, Any]:
    items = service.list_items(session=db, case_id=case.id)
    grouped: dict[ItemKind, list[CaseItem]] = {}
    for item in items:
        grouped.setdefault(item.kind, []).append(item)
    notes = service.notes(session=db, case_id=case.id)
    tasks = service.tasks(session=db, case_id=case.id)
    members = service.members(session=db, case_id=case.id)
    shares = service.shares(session=db, case_id=case.id)
    custody = service.custody(session=db, case_id=case.id)
    names = service.usernames(
        session=db,
        user_ids={case.lead_id, case.created_by}
        | {m.user_id for m in members}
        | {n.author_id for n in notes}
        | {t.assignee_id for t in tasks}
        | {t.done_by for t in tasks}
        | {s.shared_by for s in shares}
        | {i.added_by for i in items},
    )
    districts = list(db.scalars(select(District).order_by(District.name)))
    camera_ids = {i.camera_id for i in items if i.camera_id}
    rows = db.execute(select(Camera.id, Camera.name).where(Camera.id.in_(camera_ids)))
    cameras = {row.id: row.name for row in rows}
    principal = page.principal
    return {
        "case": case,
        "purpose": purpose,
        "grouped": [(kind, KIND_LABELS[kind], grouped[kind]) for kind in ItemKind if kind in grouped],
        "item_href": item_href,
        "notes": notes,
        "tasks": tasks,
        "members": members,
        "shares": shares,
        "custody": custody,
        "timeline": service.timeline(session=db, case=case),
        "names": names,
        "cameras": cameras,
        "district_names": {d.id: d.name for d in districts},
        "share_districts": [d for d in districts if d.id != case.district_id],
        "kinds": list(ItemKind),
        "kind_labels": KIND_LABELS,
        "can_work": case.status == CaseStatus.OPEN
        and service.may_work(session=db, principal=principal, case=case),
        "can_direct": service.directs(principal, case),
        "can_share": service.may_share(principal, case),
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    page: CurrentPage, db: Db, case_id: uuid.UUID, purpose: Annotated[str, Query(max_length=400)] = ""
) -> Response:
    case = service.get_case(session=db, principal=page.principal, case_id=case_id)
    if not purpose.strip():
        return render(page, "evidence/purpose.html", case=case, purpose="")
    try:
        stated = require_purpose(purpose)
    except InvalidInput as exc:
        return render(
            page, "evidence/purpose.html", status_code=422, case=case, purpose=purpose, error=exc.message
        )
    service.view_case(session=db, principal=page.principal, case_id=case.id, purpose=stated)
    return render(page, "evidence/case.html", **_case_context(page, db, case, stated))


def add_to_case_context(page: Page, db: Session) -> dict[str, Any]:
    """What the "add to case" partial (evidence/_add_to_case.html) needs: the open cases one may add to.

    A page that includes the partial passes this, plus `kind` and `ref_id` (or `camera_id`, `start`,
    `end` for footage) of what it shows.
    """
    if not page.principal.can(service.INVESTIGATE):
        return {"add_to_cases": []}
    return {"add_to_cases": service.workable_cases(session=db, principal=page.principal)}


@router.post("/cases/items")
def add_to_case_submit(
    page: CurrentPage,
    db: Db,
    case_id: Annotated[str, Form(max_length=40)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    ref_id: Annotated[str, Form(max_length=40)] = "",
    camera_id: Annotated[str, Form(max_length=40)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The "add to case" partial's post: the case is one of the form's fields."""
    try:
        chosen = uuid.UUID(case_id)
    except ValueError:
        return refuse(db, InvalidInput("choose the case", field="case_id"), page)
    return add_item_submit(page, db, chosen, kind, ref_id, camera_id, start, end, reason)


@router.post("/cases/{case_id}/items")
def add_item_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    kind: Annotated[str, Form(max_length=32)] = "",
    ref_id: Annotated[str, Form(max_length=40)] = "",
    camera_id: Annotated[str, Form(max_length=40)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Add an item to a case: the case page's form, and the "add to case" form of other pages."""

    def add() -> str:
        data = ItemIn.model_validate(
            {
                "kind": kind,
                "ref_id": ref_id or None,
                "camera_id": camera_id or None,
                "start": typed_moment(start, page, "start"),
                "end": typed_moment(end, page, "end"),
                "reason": reason,
            }
        )
        service.add_item(session=db, principal=page.principal, case_id=case_id, data=data)
        return case_url(case_id, purpose or reason)

    return act(page, db, add)


@router.post("/cases/{case_id}/items/{item_id}/remove")
def remove_item_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    item_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def remove() -> str:
        service.remove_item(
            session=db, principal=page.principal, case_id=case_id, item_id=item_id, reason=reason
        )
        return case_url(case_id, purpose or reason)

    return act(page, db, remove)


@router.post("/cases/{case_id}/notes")
def note_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    text: Annotated[str, Form(max_length=5000)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def note() -> str:
        if not text.strip():
            raise InvalidInput("write the note", field="text")
        service.add_note(session=db, principal=page.principal, case_id=case_id, text=text)
        return case_url(case_id, purpose or "added a note")

    return act(page, db, note)


@router.post("/cases/{case_id}/tasks")
def task_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    title: Annotated[str, Form(max_length=300)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
    due: Annotated[str, Form(max_length=10)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def task() -> str:
        assignee_id = _user_id(db, assignee) if assignee.strip() else None
        data = TaskIn.model_validate({"title": title, "assignee_id": assignee_id, "due": due or None})
        service.add_task(session=db, principal=page.principal, case_id=case_id, data=data)
        return case_url(case_id, purpose or "added a task")

    return act(page, db, task)


@router.post("/cases/{case_id}/tasks/{task_id}/done")
def task_done_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    task_id: uuid.UUID,
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def done() -> str:
        service.complete_task(session=db, principal=page.principal, case_id=case_id, task_id=task_id)
        return case_url(case_id, purpose or "completed a task")

    return act(page, db, done)


def _user_id(db: Session, username: str) -> uuid.UUID:
    user_id = db.scalar(select(User.id).where(User.username == username.strip()))
    if user_id is None:
        raise NotFound(f"no user called {username.strip()!r}")
    return user_id


@router.post("/cases/{case_id}/members")
def member_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    username: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def member() -> str:
        service.add_member(
            session=db, principal=page.principal, case_id=case_id, user_id=_user_id(db, username)
        )
        return case_url(case_id, purpose or "added a team member")

    return act(page, db, member)


@router.post("/cases/{case_id}/members/{user_id}/remove")
def member_remove_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def remove() -> str:
        service.remove_member(
            session=db, principal=page.principal, case_id=case_id, user_id=user_id, reason=reason
        )
        if user_id == page.principal.user_id:  # off the team: the case may no longer be theirs to read
            return "/cases"
        return case_url(case_id, purpose or reason)

    return act(page, db, remove)


@router.post("/cases/{case_id}/shares")
def share_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    district_id: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def share() -> str:
        try:
            district = uuid.UUID(district_id)
        except ValueError:
            raise InvalidInput("choose the district to share with", field="district_id") from None
        service.share_case(
            session=db, principal=page.principal, case_id=case_id, district_id=district, reason=reason
        )
        return case_url(case_id, purpose or reason)

    return act(page, db, share)


@router.post("/cases/{case_id}/shares/{district_id}/remove")
def unshare_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    district_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def unshare() -> str:
        service.unshare_case(
            session=db, principal=page.principal, case_id=case_id, district_id=district_id, reason=reason
        )
        return case_url(case_id, purpose or reason)

    return act(page, db, unshare)


@router.post("/cases/{case_id}/edit")
def edit_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    title: Annotated[str, Form(max_length=200)] = "",
    summary: Annotated[str, Form(max_length=5000)] = "",
    lead: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def edit() -> str:
        lead_id = _user_id(db, lead) if lead.strip() else None
        data = CaseUpdate.model_validate({"title": title, "summary": summary, "lead_id": lead_id})
        service.update_case(session=db, principal=page.principal, case_id=case_id, data=data)
        return case_url(case_id, purpose or "changed the case's details")

    return act(page, db, edit)


@router.post("/cases/{case_id}/close")
def close_submit(
    page: CurrentPage,
    db: Db,
    case_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
) -> Response:

    def close() -> str:
        service.close_case(session=db, principal=page.principal, case_id=case_id, reason=reason)
        return case_url(case_id, purpose or reason)

    return act(page, db, close)
