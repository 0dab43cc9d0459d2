"""Pages of dispatch: the units of one's districts in a table and on a map coloured by status."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import HTMLResponse, Response

from safecity.core.errors import SafecityError
from safecity.dispatch import service, views
from safecity.dispatch.models import WORKING, Unit, UnitStatus
from safecity.incidents.models import Incident
from safecity.web.deps import Db
from safecity.web.i18n import N_
from safecity.web.pages import CurrentPage, flash, htmx_action, render

# service.STATUS_LABELS, for the translators (the units page and the dispatch panel show `_(label)`).
STATUS_NAMES = (
    N_("available"),
    N_("dispatched"),
    N_("en route"),
    N_("on scene"),
    N_("returning"),
    N_("off duty"),
    N_("busy"),
    N_("out of service"),
)

router = APIRouter(include_in_schema=False)


def unit_points(units: list[Unit], agencies: dict[uuid.UUID, str]) -> list[dict[str, object]]:
    """Units with a known position as markers for the page's map."""
    return [
        {
            "call_sign": u.call_sign,
            "agency": agencies.get(u.agency_id, ""),
            "status": u.status.value,
            "lat": u.latitude,
            "lon": u.longitude,
        }
        for u in units
        if u.latitude is not None and u.longitude is not None
    ]


@router.get("/units", response_class=HTMLResponse)
def units_page(page: CurrentPage, db: Db) -> Response:
    units = service.list_units(session=db, principal=page.principal, limit=5000)
    agencies = {a.id: a.name for a in service.list_agencies(session=db, principal=page.principal)}
    return render(
        page,
        "dispatch/units.html",
        units=units,
        agencies=agencies,
        points=unit_points(units, agencies),
        working=service.current_incidents(session=db, units=units),
        working_statuses=[s.value for s in WORKING],
        settable=service.SETTABLE,
        labels=service.STATUS_LABELS,
        can_manage=page.principal.can(service.MANAGE),
        counts={s: sum(1 for u in units if u.status == s) for s in UnitStatus},
    )


@router.post("/units/{unit_id}/status")
def unit_status_submit(
    page: CurrentPage, db: Db, unit_id: uuid.UUID, status: Annotated[UnitStatus, Form()]
) -> Response:
    """A dispatcher changes a unit's status from the units page; audited, its incident is told."""
    return htmx_action(
        db,
        lambda: service.set_status(session=db, principal=page.principal, unit_id=unit_id, status=status),
        "/units",
    )


@router.get("/incidents/{incident_id}/dispatch", response_class=HTMLResponse)
def dispatch_panel(page: CurrentPage, db: Db, incident_id: uuid.UUID) -> Response:
    """The incident page's dispatch panel: units sent so far, and the nearest suitable available ones."""
    assignments = service.list_assignments(session=db, principal=page.principal, incident_id=incident_id)
    incident = db.get_one(Incident, incident_id)  # list_assignments checked that the principal sees it
    # A resolved or closed incident takes no more units: no recommendations, no dispatch buttons.
    can_dispatch = page.principal.can("dispatch.manage") and incident.status not in service.CLOSED_STATUSES
    recommended = (
        service.recommend(session=db, principal=page.principal, incident_id=incident_id)
        if can_dispatch and incident.latitude is not None
        else []
    )
    units = {u.id: u for u in service.list_units(session=db, principal=page.principal, limit=5000)}
    return render(
        page,
        "dispatch/_panel.html",
        incident_id=incident_id,
        assignments=assignments,
        recommended=recommended,
        units=units,
        can_dispatch=can_dispatch,
        located=incident.latitude is not None,
    )


@router.post("/incidents/{incident_id}/dispatch/{unit_id}")
def dispatch_submit(
    page: CurrentPage, db: Db, background: BackgroundTasks, incident_id: uuid.UUID, unit_id: uuid.UUID
) -> Response:
    """Send a unit from the incident page; the unit is told once the assignment is committed."""
    try:
        assignment = service.assign(
            session=db, principal=page.principal, incident_id=incident_id, unit_id=unit_id
        )
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    call_sign, message = service.dispatch_message(session=db, assignment=assignment)
    background.add_task(views.notify_or_log, views.get_notifier(page.request), call_sign, message)
    return flash(f"{call_sign} dispatched.")
