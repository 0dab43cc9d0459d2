"""REST API of alerts (/api/v1/alerts): list, read, raise (external systems), acknowledge, live stream."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request

from safecity.core.schemas import IsoDateTime
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertStatus
from safecity.events.alerts.schemas import AckIn, AlertIn, AlertOut, DismissIn, PreferencesIn, PreferencesOut
from safecity.events.models import Severity
from safecity.events.views import add_stream
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    principal: CurrentPrincipal,
    db: Db,
    status: AlertStatus | None = None,
    since: IsoDateTime | None = None,
    camera_id: uuid.UUID | None = None,
    min_severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Alerts within the caller's districts, latest raised first."""
    found = alerts.list_alerts(
        session=db,
        principal=principal,
        status=status,
        since=since,
        camera_id=camera_id,
        min_severity=min_severity,
        limit=limit,
    )
    return [AlertOut.model_validate(a) for a in found]


add_stream(
    router,
    "/alerts/stream",
    feed=lambda services: services.alert_feed,
    permission=alerts.READ,
    what="New alerts and acknowledgements (`event: alert`, AlertOut JSON)",
)


@router.get("/alerts/preferences", response_model=PreferencesOut)
def get_preferences(request: Request, principal: CurrentPrincipal, db: Db) -> PreferencesOut:
    """How the console calls the caller's attention (the configured defaults until they choose)."""
    defaults = list(get_services(request).settings.alerts.attention_severities)
    return alerts.get_preferences(session=db, principal=principal, defaults=defaults)


@router.put("/alerts/preferences", response_model=PreferencesOut)
def put_preferences(principal: CurrentPrincipal, db: Db, data: PreferencesIn) -> PreferencesOut:
    """Choose which severities sound and notify on the caller's console, or mute it; audited."""
    return alerts.set_preferences(session=db, principal=principal, data=data)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(principal: CurrentPrincipal, db: Db, alert_id: uuid.UUID) -> AlertOut:
    """One alert within the caller's districts."""
    return AlertOut.model_validate(alerts.get_alert(session=db, principal=principal, alert_id=alert_id))


@router.post("/alerts", response_model=AlertOut, status_code=201)
def raise_alert(
    request: Request, principal: CurrentPrincipal, db: Db, data: AlertIn, background: BackgroundTasks
) -> AlertOut:
    """Raise an alert from an external system (a token with `alerts.raise`); a `dedup_key` folds repeats."""
    return _published(request, background, alerts.raise_external(session=db, principal=principal, data=data))


@router.post("/alerts/{alert_id}/dismiss", response_model=AlertOut)
def dismiss(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    alert_id: uuid.UUID,
    data: DismissIn,
    background: BackgroundTasks,
) -> AlertOut:
    """Dismiss a new alert as a false alarm, with the reason."""
    alert = alerts.dismiss(session=db, principal=principal, alert_id=alert_id, reason=data.reason)
    return _published(request, background, alert)


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
def acknowledge(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    alert_id: uuid.UUID,
    data: AckIn,
    background: BackgroundTasks,
) -> AlertOut:
    """Acknowledge a new alert, with an optional note; acknowledging twice is a 409."""
    alert = alerts.acknowledge(session=db, principal=principal, alert_id=alert_id, note=data.note)
    return _published(request, background, alert)


def _published(request: Request, background: BackgroundTasks, alert: Alert) -> AlertOut:
    """The alert as returned, and put on the bus for the live feeds once the request has committed."""
    out = AlertOut.model_validate(alert)
    # Background tasks run after the request's commit: the feed never shows what was not stored.
    background.add_task(alerts.publish_or_log, get_services(request).bus, out)
    return out
