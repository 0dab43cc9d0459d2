"""REST API of investigation cases (/api/v1/cases): open, list, read (with a purpose), change, link items,
notes, tasks, team, sharing to another district, closing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from safecity.evidence import service
from safecity.evidence.models import Case, CaseStatus
from safecity.evidence.schemas import (
    CaseDetailOut,
    CaseIn,
    CaseOut,
    CaseUpdate,
    CloseIn,
    CustodyOut,
    ItemIn,
    ItemOut,
    MemberIn,
    MemberOut,
    NoteIn,
    NoteOut,
    ShareIn,
    ShareOut,
    TaskIn,
    TaskOut,
    TimelineOut,
)
from safecity.web.deps import CurrentPrincipal, Db

router = APIRouter(prefix="/api/v1", tags=["cases"])


def detail(session: Session, case: Case) -> CaseDetailOut:
    """A case with everything linked to it, as the API shows it."""
    return CaseDetailOut.model_validate(
        {
            **CaseOut.model_validate(case).model_dump(),
            "items": [
                ItemOut.model_validate(i) for i in service.list_items(session=session, case_id=case.id)
            ],
            "notes": [NoteOut.model_validate(n) for n in service.notes(session=session, case_id=case.id)],
            "tasks": [TaskOut.model_validate(t) for t in service.tasks(session=session, case_id=case.id)],
            "members": [
                MemberOut.model_validate(m) for m in service.members(session=session, case_id=case.id)
            ],
            "shares": [ShareOut.model_validate(s) for s in service.shares(session=session, case_id=case.id)],
            "custody": [
                CustodyOut.model_validate(c) for c in service.custody(session=session, case_id=case.id)
            ],
            "timeline": [TimelineOut.model_validate(e) for e in service.timeline(session=session, case=case)],
        }
    )


@router.get("/cases", response_model=list[CaseOut])
def list_cases(
    principal: CurrentPrincipal,
    db: Db,
    mine: bool = False,
    status: CaseStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 200,
) -> list[CaseOut]:
    """Cases the caller may see (of their districts, shared with them, or on whose team they are)."""
    found = service.list_cases(session=db, principal=principal, mine=mine, status=status, limit=limit)
    return [CaseOut.model_validate(c) for c in found]


@router.post("/cases", response_model=CaseOut, status_code=201)
def create_case(principal: CurrentPrincipal, db: Db, data: CaseIn) -> CaseOut:
    """Open a case (forensics.investigate) in one of the caller's districts, numbered per district, year."""
    return CaseOut.model_validate(service.create_case(session=db, principal=principal, data=data))


@router.get("/cases/{case_id}", response_model=CaseDetailOut)
def get_case(
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    purpose: Annotated[str, Query(max_length=400)] = "",
) -> CaseDetailOut:
    """One case with its items, notes, tasks, team, shares, custody log and timeline; needs a `purpose`,
    recorded as a "viewed" line of its custody log. 404 for a case the caller may not see."""
    case = service.view_case(session=db, principal=principal, case_id=case_id, purpose=purpose)
    return detail(db, case)


@router.patch("/cases/{case_id}", response_model=CaseOut)
def update_case(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: CaseUpdate) -> CaseOut:
    """Change an open case's title, summary or lead (its lead or an investigator of its district)."""
    return CaseOut.model_validate(
        service.update_case(session=db, principal=principal, case_id=case_id, data=data)
    )


@router.post("/cases/{case_id}/items", response_model=ItemOut, status_code=201)
def add_item(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: ItemIn) -> ItemOut:
    """Link an incident, event, plate read, face match, person, object track, or a camera's footage over a
    span (put under evidence lock) to the case, with the reason."""
    return ItemOut.model_validate(
        service.add_item(session=db, principal=principal, case_id=case_id, data=data)
    )


@router.delete("/cases/{case_id}/items/{item_id}", status_code=204)
def remove_item(
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    item_id: uuid.UUID,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Unlink an item with the reason; footage stays under its evidence lock."""
    service.remove_item(session=db, principal=principal, case_id=case_id, item_id=item_id, reason=reason)
    return Response(status_code=204)


@router.post("/cases/{case_id}/notes", response_model=NoteOut, status_code=201)
def add_note(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: NoteIn) -> NoteOut:
    """Write a note on the case."""
    return NoteOut.model_validate(
        service.add_note(session=db, principal=principal, case_id=case_id, text=data.text)
    )


@router.post("/cases/{case_id}/tasks", response_model=TaskOut, status_code=201)
def add_task(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: TaskIn) -> TaskOut:
    """Add a task to the case."""
    return TaskOut.model_validate(
        service.add_task(session=db, principal=principal, case_id=case_id, data=data)
    )


@router.post("/cases/{case_id}/tasks/{task_id}/done", response_model=TaskOut)
def complete_task(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, task_id: uuid.UUID) -> TaskOut:
    """Mark a task done."""
    task = service.complete_task(session=db, principal=principal, case_id=case_id, task_id=task_id)
    return TaskOut.model_validate(task)


@router.post("/cases/{case_id}/members", response_model=MemberOut, status_code=201)
def add_member(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: MemberIn) -> MemberOut:
    """Put a user on the case's team."""
    member = service.add_member(session=db, principal=principal, case_id=case_id, user_id=data.user_id)
    return MemberOut.model_validate(member)


@router.delete("/cases/{case_id}/members/{user_id}", status_code=204)
def remove_member(
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Take a user off the case's team with the reason (the lead stays until another is named)."""
    service.remove_member(session=db, principal=principal, case_id=case_id, user_id=user_id, reason=reason)
    return Response(status_code=204)


@router.post("/cases/{case_id}/shares", response_model=ShareOut, status_code=201)
def share_case(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: ShareIn) -> ShareOut:
    """Share the case with another district's investigators (cases.share), with the reason."""
    share = service.share_case(
        session=db, principal=principal, case_id=case_id, district_id=data.district_id, reason=data.reason
    )
    return ShareOut.model_validate(share)


@router.delete("/cases/{case_id}/shares/{district_id}", status_code=204)
def unshare_case(
    principal: CurrentPrincipal,
    db: Db,
    case_id: uuid.UUID,
    district_id: uuid.UUID,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """End the case's share with a district (cases.share), with the reason."""
    service.unshare_case(
        session=db, principal=principal, case_id=case_id, district_id=district_id, reason=reason
    )
    return Response(status_code=204)


@router.post("/cases/{case_id}/close", response_model=CaseOut)
def close_case(principal: CurrentPrincipal, db: Db, case_id: uuid.UUID, data: CloseIn) -> CaseOut:
    """Close the case with the reason."""
    return CaseOut.model_validate(
        service.close_case(session=db, principal=principal, case_id=case_id, reason=data.reason)
    )
