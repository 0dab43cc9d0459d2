"""The live incident feed: every committed change of an incident is published on `incidents.<id>`, and the
screens showing that incident reload its parts (status, units, SOP steps, timeline) without a page reload.

Every change of an incident adds a line to its timeline (`service.add_timeline`), which notes the incident
in its session; once that session commits, the note is published on the bus (never before: a screen must
not show what was rolled back), whichever process, thread or worker made the change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from safecity.auth.principal import Principal
from safecity.core.bus.base import Bus, BusError
from safecity.core.db import utcnow
from safecity.events.feed import DEFAULT_TUNING, Feed, FeedTuning
from safecity.incidents.schemas import IncidentChange

logger = logging.getLogger(__name__)

READ = "incidents.read"
CHANGES = "incident_changes"  # session.info key: {incident id: district id} changed in this transaction
SUBJECT = "incidents.changed"


def note_change(session: Session, incident_id: uuid.UUID, district_id: uuid.UUID) -> None:
    """Remember that the incident changed in this session's transaction (published after its commit)."""
    session.info.setdefault(CHANGES, {})[incident_id] = district_id


def _visible(principal: Principal, change: IncidentChange) -> bool:
    return principal.can(READ) and principal.sees_district(change.district_id)


class IncidentFeed(Feed[IncidentChange]):
    """Changes of incidents (`incidents.>`), to whoever may read incidents in their district."""

    def __init__(self, bus: Bus, *, durable: str, tuning: FeedTuning = DEFAULT_TUNING) -> None:
        super().__init__(
            bus,
            durable=durable,
            subject="incidents.>",
            model=IncidentChange,
            visible=_visible,
            changed_at=lambda change: change.changed_at,
            event_name="incident",
            tuning=tuning,
        )


async def publish_changes(bus: Bus, changes: dict[uuid.UUID, uuid.UUID]) -> None:
    """Publish one IncidentChange per incident; a bus failure is logged (screens catch up on reload)."""
    now = utcnow()
    for incident_id, district_id in changes.items():
        change = IncidentChange(incident_id=incident_id, district_id=district_id, changed_at=now)
        try:
            await bus.publish(f"incidents.{incident_id}", change.model_dump_json().encode())
        except BusError as exc:
            logger.warning("change of incident %s not published to the live feed: %s", incident_id, exc)


def publish_after_commit(
    session_factory: sessionmaker[Session], bus: Bus, loop: asyncio.AbstractEventLoop
) -> Callable[[], None]:
    """Publish the incidents each committed transaction of `session_factory` changed, on `loop`.

    Returns the function that stops it. Commits happen on worker threads as well as on the loop.
    """

    running: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    def start(changes: dict[uuid.UUID, uuid.UUID]) -> None:
        task = loop.create_task(publish_changes(bus, changes), name="incident-changes")
        running.add(task)
        task.add_done_callback(running.discard)

    def committed(session: Session) -> None:
        changes = session.info.pop(CHANGES, None)
        if changes and not loop.is_closed():
            loop.call_soon_threadsafe(start, changes)

    def rolled_back(session: Session) -> None:
        session.info.pop(CHANGES, None)

    event.listen(session_factory, "after_commit", committed)
    event.listen(session_factory, "after_rollback", rolled_back)

    def stop() -> None:
        event.remove(session_factory, "after_commit", committed)
        event.remove(session_factory, "after_rollback", rolled_back)

    return stop
