"""Adjudicator pages: the queue of appeals (oldest deadline first, overdue flagged) and one appeal with the
evidence, the citizen's statement and attachment, and the decision form.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.core.errors import InvalidInput, SafecityError
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.traffic.appeals import flows, service
from safecity.traffic.appeals.models import AppealStatus
from safecity.traffic.appeals.schemas import MIN_REASON_CHARS, DecisionIn
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, refuse, render

router = APIRouter(include_in_schema=False)


@router.get("/traffic/appeals", response_class=HTMLResponse)
def queue_page(page: CurrentPage, db: Db, status: str = "pending") -> Response:
    """Appeals in the adjudicator's districts, oldest deadline first."""
    chosen = AppealStatus(status) if status in {s.value for s in AppealStatus} else None
    found = service.list_appeals(session=db, principal=page.principal, status=chosen)
    return render(page, "appeals/queue.html", appeals=found, status=status, statuses=list(AppealStatus))


@router.get("/traffic/appeals/{appeal_id}", response_class=HTMLResponse)
def appeal_page(page: CurrentPage, db: Db, appeal_id: uuid.UUID) -> Response:
    """One appeal: its challan, the evidence, the statement and attachment, the decision (form or made)."""
    appeal = service.get_appeal(session=db, principal=page.principal, appeal_id=appeal_id)
    return render(
        page,
        "appeals/detail.html",
        appeal=appeal,
        deliveries=service.decision_deliveries(session=db, appeal_id=appeal.id),
        min_reason=MIN_REASON_CHARS,
    )


@router.post("/traffic/appeals/{appeal_id}/decision")
def decide_submit(
    page: CurrentPage,
    db: Db,
    background: BackgroundTasks,
    appeal_id: uuid.UUID,
    outcome: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    services = get_services(page.request)
    try:
        try:
            data = DecisionIn.model_validate({"outcome": outcome, "reason": reason})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(problems) from None
        appeal, _, alert = service.decide(
            session=db,
            principal=page.principal,
            appeal_id=appeal_id,
            data=data,
            policy=services.settings.challans,
        )
    except SafecityError as exc:
        return refuse(db, exc, page)
    if alert is not None:  # after the commit: the consoles see the camera suspended
        background.add_task(alerts.publish_or_log, services.bus, AlertOut.model_validate(alert))
    background.add_task(
        flows.send_decision,
        session_factory=services.session_factory,
        settings=services.settings.challans,
        appeal_id=appeal.id,
    )
    return Response(status_code=204, headers={"HX-Redirect": f"/traffic/appeals/{appeal.id}"})
