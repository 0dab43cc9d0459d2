"""Alerts over time: new alerts left unacknowledged past their severity's limit go to a supervisor."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from safecity.config import AlertSettings
from safecity.core import periodic
from safecity.core.bus.base import Bus
from safecity.core.db import transaction
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut

logger = logging.getLogger(__name__)


async def escalate_once(
    *,
    session_factory: sessionmaker[Session],
    bus: Bus,
    settings: AlertSettings,
    now: dt.datetime | None = None,
) -> list[AlertOut]:
    """One pass: escalate what is overdue, commit, then publish each escalated alert to the live feeds."""
    limits = alerts.severity_limits(settings.escalate_after_s.items())
    if not limits:
        return []

    def store() -> list[AlertOut]:
        with transaction(session_factory) as session:
            found = alerts.escalate_overdue(
                session=session, limits=limits, role=settings.escalate_to_role, now=now
            )
            return [AlertOut.model_validate(a) for a in found]

    escalated = await asyncio.to_thread(store)
    for out in escalated:
        logger.info(
            "alert %s (%s) escalated to %s after going unacknowledged",
            out.id,
            out.kind,
            out.escalated_to_role,
        )
        await alerts.publish_or_log(bus, out)
    return escalated


async def run_escalations(
    *, session_factory: sessionmaker[Session], bus: Bus, settings: AlertSettings, stop: asyncio.Event
) -> None:
    """Escalate overdue alerts every `settings.escalate_every_s` seconds until `stop` is set."""
    await periodic.repeat(
        stop,
        settings.escalate_every_s,
        lambda: escalate_once(session_factory=session_factory, bus=bus, settings=settings),
        what="escalating overdue alerts",
    )
