"""The operators' alert page: a live list of alerts, newest first, with acknowledgement."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from safecity.core.errors import SafecityError
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertStatus
from safecity.events.alerts.schemas import AlertOut
from safecity.events.models import Severity
from safecity.web.deps import Db, get_services
from safecity.web.pages import CurrentPage, Page, flash, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 200
SEVERITY_NAMES = {int(s): s.name.lower() for s in Severity}
CHANGED_EVENT = "alert-changed"  # the htmx event alerts.js listens to, carrying the alert's new state


def feed_context(
    page: Page, db: Session, status: str = "new", order: Literal["newest", "queue"] = "newest"
) -> dict[str, Any]:
    """What the live alert table needs: the current alerts and the feed position to resume from."""
    # The feed's position is read before the list: whatever the hub hands out after this moment is
    # replayed to the page's stream, so nothing falls between the list and the live feed.
    position = get_services(page.request).alert_feed.position
    found = alerts.list_alerts(
        session=db,
        principal=page.principal,
        status=None if status == "all" else AlertStatus(status),
        limit=PAGE_SIZE,
        order=order,
    )
    return {
        "alerts": found,
        "status": status,
        "position": position,
        "zone": page.timezone.key,
        "severity_names": SEVERITY_NAMES,
        "can_handle": page.principal.can(alerts.HANDLE),
    }


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    page: CurrentPage, db: Db, status: Literal["new", "acknowledged", "dismissed", "all"] = "new"
) -> Response:
    return render(page, "events/alerts.html", **feed_context(page, db, status))


@router.post("/alerts/{alert_id}/ack")
def acknowledge_submit(
    page: CurrentPage,
    db: Db,
    alert_id: uuid.UUID,
    background: BackgroundTasks,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _handled(
        page,
        db,
        background,
        lambda: alerts.acknowledge(
            session=db, principal=page.principal, alert_id=alert_id, note=note or None
        ),
    )


@router.post("/alerts/{alert_id}/dismiss")
def dismiss_submit(
    page: CurrentPage,
    db: Db,
    alert_id: uuid.UUID,
    background: BackgroundTasks,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _handled(
        page,
        db,
        background,
        lambda: alerts.dismiss(session=db, principal=page.principal, alert_id=alert_id, reason=reason),
    )


def _handled(page: Page, db: Session, background: BackgroundTasks, action: Callable[[], Alert]) -> Response:
    try:
        alert = action()
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    out = AlertOut.model_validate(alert)
    background.add_task(alerts.publish_or_log, get_services(page.request).bus, out)
    # The page updates the row at once from this header; other screens get it through the live feed.
    # json.dumps escapes non-ASCII, so a title in Urdu still makes a valid header.
    trigger = json.dumps({CHANGED_EVENT: out.model_dump(mode="json")})
    return Response(status_code=204, headers={"HX-Trigger": trigger})
