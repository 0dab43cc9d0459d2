"""Incident work that spans domains: closing an incident frees its units; incidents that wait for a unit
past their priority's target raise an alert on the console (once each).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Mapping

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.auth.principal import Principal
from safecity.core import periodic
from safecity.core.bus.base import Bus
from safecity.core.db import transaction, utcnow
from safecity.dispatch import service as dispatch
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.incidents import service as incidents
from safecity.incidents.models import Incident, IncidentEvent, Status

logger = logging.getLogger(__name__)

OVERDUE_KIND = "incident.overdue"  # the alert's kind, and the timeline line's kind that says it was raised
TIMELINE_KIND = "overdue"


def change_status(
    *,
    session: Session,
    principal: Principal,
    incident_id: uuid.UUID,
    status: Status,
    reason: str,
    version: int,
    open_steps_reason: str = "",
) -> Incident:
    """Move the incident's status (incidents.service.change_status); resolving or closing it also frees
    the units still working it: available again and recommended for the next incident."""
    incident = incidents.change_status(
        session=session,
        principal=principal,
        incident_id=incident_id,
        status=status,
        reason=reason,
        version=version,
        open_steps_reason=open_steps_reason,
    )
    if status in incidents.CLOSING:
        dispatch.release_units(session=session, actor=principal, incident=incident)
    return incident


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def raise_overdue(
    *, session: Session, targets_s: Mapping[int, int], now: dt.datetime | None = None
) -> list[AlertOut]:
    """Raise one alert for each new incident that waits for a unit past its priority's target, unless
    one was raised for it already (the timeline says so); does not commit. Returns the alerts raised.
    """
    now = now or utcnow()
    said = exists().where(IncidentEvent.incident_id == Incident.id, IncidentEvent.kind == TIMELINE_KIND)
    late = or_(
        *(
            and_(Incident.priority == priority, Incident.created_at <= now - dt.timedelta(seconds=target))
            for priority, target in targets_s.items()
        )
    )
    query = (
        select(Incident)
        .where(Incident.status == Status.NEW, late, ~said)
        .order_by(Incident.priority, Incident.created_at)
        .limit(200)
        # Web processes each run this check: one takes an incident, the others skip it (PostgreSQL).
        .with_for_update(skip_locked=True)
    )
    raised: list[AlertOut] = []
    for incident in session.scalars(query).all():
        target = targets_s[incident.priority]
        waited = (now - incident.created_at).total_seconds()
        alert = alerts.raise_alert(
            session=session,
            kind=OVERDUE_KIND,
            severity=4 if incident.priority == 1 else 3,
            title=(
                f"{incident.number}: P{incident.priority} {incident.category.value.replace('_', ' ')} "
                f"waiting {_minutes(waited)} with no unit sent (target {_minutes(target)})"
            )[:200],
            source="incidents",
            district_id=incident.district_id,
            detail={
                "incident_id": str(incident.id),
                "number": incident.number,
                "priority": incident.priority,
                "target_s": target,
                "waited_s": round(waited),
                "link": f"/incidents/{incident.id}",
            },
            dedup_key=f"overdue:{incident.id}",
        )
        incidents.add_timeline(
            session=session,
            incident=incident,
            actor=None,
            kind=TIMELINE_KIND,
            text=f"No unit sent within the P{incident.priority} target of {_minutes(target)}: alert raised",
            detail={"alert_id": str(alert.id), "target_s": target},
        )
        raised.append(AlertOut.model_validate(alert))
    if raised:
        logger.info("%d incidents overdue for dispatch", len(raised))
    return raised


async def run_overdue(
    *,
    session_factory: sessionmaker[Session],
    bus: Bus,
    targets_s: Mapping[int, int],
    stop: asyncio.Event,
    every_s: float = 15.0,
) -> None:
    """Check for incidents overdue for dispatch every `every_s` seconds until `stop` is set; each alert is
    published to the console after its commit (the first check after `every_s`). A failing round is logged
    and tried again next time."""

    def sweep() -> list[AlertOut]:
        with transaction(session_factory) as session:
            return raise_overdue(session=session, targets_s=targets_s)

    async def check() -> None:
        for alert in await asyncio.to_thread(sweep):
            await alerts.publish_or_log(bus, alert)

    await periodic.repeat(stop, every_s, check, what="the overdue-dispatch check")
