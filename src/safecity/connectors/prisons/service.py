"""Prison events: a poll of a feed stores each new event once (an escape raises an alert to the prison's
district), and a person's events for the records pages.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.connectors.prisons.models import PrisonEvent
from safecity.connectors.prisons.schemas import PollReport, PrisonEventIn
from safecity.connectors.prisons.sources import PrisonSource
from safecity.core.db import utcnow
from safecity.core.identifiers import format_cnic, normalise_cnic
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert
from safecity.events.alerts.schemas import AlertOut
from safecity.org.models import District

logger = logging.getLogger(__name__)

ESCAPE_ALERT = "prisons.escape"
ALERT_SOURCE = "prisons"


def poll(
    *, session: Session, source: PrisonSource, now: dt.datetime | None = None
) -> tuple[PollReport, list[AlertOut]]:
    """Ask the feed for what happened since its last stored event and store what is new; does not commit.

    Returns the report and the alerts raised for escapes (publish them after the commit).
    Raises a ConnectorError when the feed cannot answer (nothing is stored then).
    """
    now = now or utcnow()
    last = session.scalar(select(func.max(PrisonEvent.at)).where(PrisonEvent.source == source.name))
    since = last or now - source.backfill
    events, refused = source.events_since(since=since)
    new, raised = 0, []
    for event in events:
        row = _store(session, source.name, event, now)
        if row is None:
            continue
        new += 1
        if event.event == "escaped":
            alert = _escape_alert(session, row)
            row.alert_id = alert.id
            raised.append(AlertOut.model_validate(alert))
    session.flush()
    report = PollReport(
        source=source.name,
        since=since,
        new=new,
        known=len(events) - new,
        refused=refused,
        escapes=len(raised),
    )
    if new or refused:
        audit.record(
            session=session,
            action="prisons.poll",
            outcome="success" if not refused else "failure",
            object_type="prison_events",
            object_id=source.name,
            detail=report.model_dump(mode="json"),
        )
        logger.info(
            "prisons feed %s: %d new events (%d escapes), %d refused", source.name, new, len(raised), refused
        )
    return report, raised


def _store(session: Session, source: str, event: PrisonEventIn, now: dt.datetime) -> PrisonEvent | None:
    """The new row, or None when the event is held already (by its id; a concurrent poller's too)."""
    held = session.scalar(
        select(PrisonEvent.id).where(PrisonEvent.source == source, PrisonEvent.remote_id == event.id)
    )
    if held is not None:
        return None
    row = PrisonEvent(
        id=uuid.uuid4(),
        source=source,
        remote_id=event.id,
        cnic=event.cnic,
        name=event.name,
        prison=event.prison,
        event=event.event,
        at=event.at,
        district_code=event.district.upper(),
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _escape_alert(session: Session, row: PrisonEvent) -> Alert:
    """A critical alert to the prison's district (the whole province when the feed named none we know)."""
    district = (
        session.scalars(select(District).where(District.code == row.district_code)).first()
        if row.district_code
        else None
    )
    return alerts.raise_alert(
        session=session,
        kind=ESCAPE_ALERT,
        severity=4,
        title=f"Escape from {row.prison}: {row.name} ({row.cnic})"[:200],
        source=ALERT_SOURCE,
        district_id=district.id if district else None,
        detail={
            "prison_event_id": str(row.id),
            "cnic": row.cnic,
            "prison": row.prison,
            "at": row.at.isoformat(),
        },
        dedup_key=f"escape:{row.source}:{row.remote_id}",
    )


def events_for(*, session: Session, cnic: str) -> list[PrisonEvent]:
    """A person's prison events, newest first (for the records pages; the caller checks the reader's right
    and audits the read). InvalidInput (bad_cnic) for a malformed CNIC."""
    key = format_cnic(normalise_cnic(cnic))
    return list(
        session.scalars(select(PrisonEvent).where(PrisonEvent.cnic == key).order_by(PrisonEvent.at.desc()))
    )
