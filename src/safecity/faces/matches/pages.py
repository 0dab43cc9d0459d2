"""Face-match lead pages: the list (pending first) and one lead, the live face beside the enrolled photos,
where examiners confirm or reject it and a confirmed lead opens an incident.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from safecity.cameras.models import Camera
from safecity.core.errors import InvalidInput, SafecityError
from safecity.faces.matches import flows, service, views
from safecity.faces.matches.models import Decision, MatchStatus
from safecity.faces.matches.schemas import DecisionIn
from safecity.faces.models import Watchlist
from safecity.incidents import service as incidents
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, refuse, render

router = APIRouter(include_in_schema=False)


@router.get("/faces/matches", response_class=HTMLResponse)
def matches_page(page: CurrentPage, db: Db, status: str = "") -> Response:
    wanted = MatchStatus(status) if status in {s.value for s in MatchStatus} else None
    found = service.list_matches(session=db, principal=page.principal, status=wanted, limit=200)
    ids = {m.camera_id for m in found if m.camera_id is not None}
    cameras = dict(db.execute(select(Camera.id, Camera.name).where(Camera.id.in_(ids))).tuples().all())
    return render(
        page, "faces/matches.html", matches=found, cameras=cameras, status=wanted, statuses=list(MatchStatus)
    )


@router.get("/faces/matches/{match_id}", response_class=HTMLResponse)
def match_page(page: CurrentPage, db: Db, match_id: uuid.UUID) -> Response:
    match = service.view_match(session=db, principal=page.principal, match_id=match_id)
    camera = db.get(Camera, match.camera_id) if match.camera_id else None
    watchlist = db.get(Watchlist, match.watchlist_id) if match.watchlist_id else None
    at = match.seen_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    enrolled = views.enrolled(page.request, page.principal, db, match_id)
    me = page.principal.user_id
    return render(
        page,
        "faces/match.html",
        m=match,
        camera=camera,
        watchlist=watchlist,
        recording_href=f"/cameras/{match.camera_id}?{urlencode({'at': at})}" if match.camera_id else "",
        enrolled=[enrolment_id for enrolment_id, _ in enrolled],
        reasons=service.reasons(),
        confirmations=sum(1 for d in match.decisions if d.decision == Decision.CONFIRM),
        needed=service.CONFIRMATIONS,
        decided_by_me=any(d.user_id == me for d in match.decisions),
        can_decide=page.principal.can(service.CONFIRM),
        can_open=page.principal.can(incidents.MANAGE),
    )


@router.post("/faces/matches/{match_id}/decide")
def decide_submit(
    page: CurrentPage,
    db: Db,
    match_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=16)] = "",
    reason_code: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        try:
            data = DecisionIn.model_validate(
                {"decision": decision, "reason_code": reason_code or None, "note": note}
            )
        except ValidationError as exc:
            raise InvalidInput("; ".join(str(e["msg"]) for e in exc.errors())) from None
        flows.decide(session=db, principal=page.principal, match_id=match_id, data=data)
    except SafecityError as exc:
        return refuse(db, exc, page)
    return Response(status_code=204, headers={"HX-Redirect": f"/faces/matches/{match_id}"})


@router.post("/faces/matches/{match_id}/incident")
def incident_submit(page: CurrentPage, db: Db, background: BackgroundTasks, match_id: uuid.UUID) -> Response:
    try:
        incident = flows.open_incident(session=db, principal=page.principal, match_id=match_id)
    except SafecityError as exc:
        return refuse(db, exc, page)
    views.publish_alert(page.request, background, service.alert_of(session=db, match_id=match_id))
    return Response(status_code=204, headers={"HX-Redirect": f"/incidents/{incident.id}"})
