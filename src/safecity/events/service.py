"""The event store: batched idempotent writes, scoped search, and the bus consumer that feeds it."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
import math
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    SmallInteger,
    String,
    Uuid,
    and_,
    bindparam,
    cast,
    column,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from safecity.auth.principal import Principal
from safecity.core.bus import store as bus_store
from safecity.core.bus.base import Bus
from safecity.core.bus.store import StoreConsumer
from safecity.core.errors import InvalidInput, NotFound
from safecity.core.storage import contained
from safecity.events.models import Event
from safecity.events.schemas import EventIn

logger = logging.getLogger(__name__)

MAX_SEARCH_LIMIT = 1000
Per = Literal["hour", "day"]
PERIODS: dict[Per, dt.timedelta] = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
MAX_BUCKETS = 1000  # per count_over_time call: a chart's worth
# Rows per PostgreSQL statement: enough to amortise the statement, bounded so the JSON document is too.
PG_CHUNK = 5000

_as_json = TypeAdapter(list[EventIn])

# PostgreSQL: one INSERT … SELECT FROM json_to_recordset(:rows) per chunk. psycopg runs a Core
# executemany as one statement per row; this is one statement per chunk, and pydantic serialises the
# chunk in Rust, so no Python runs per row. Measured in bench/bench_event_store.py.
_recordset = (
    func.json_to_recordset(cast(bindparam("rows", type_=String), JSON))
    .table_valued(
        column("id", Uuid),
        column("occurred_at", DateTime(timezone=True)),
        column("kind", String),
        column("source", String),
        column("district_id", Uuid),
        column("camera_id", Uuid),
        column("severity", SmallInteger),
        column("payload", JSON),
    )
    .render_derived(with_types=True)
)
_PG_INSERT = (
    postgresql.insert(Event)
    .from_select([c.name for c in _recordset.c], select(*_recordset.c))
    .on_conflict_do_nothing(index_elements=[Event.id])
)
# SQLite: a Core executemany, run by sqlite3's C loop inside one transaction (no round trips to save).
_SQLITE_INSERT = sqlite.insert(Event).on_conflict_do_nothing(index_elements=[Event.id])


def record_many(*, session: Session, events: Sequence[EventIn]) -> int:
    """Store events, skipping ids already stored; returns how many were new. Does not commit."""
    if not events:
        return 0
    session.flush()  # rows the caller added (a district, say) must exist before events refer to them
    connection = session.connection().execution_options(preserve_rowcount=True)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        stored = 0
        for start in range(0, len(events), PG_CHUNK):
            document = _as_json.dump_json(list(events[start : start + PG_CHUNK])).decode()
            stored += connection.execute(_PG_INSERT, {"rows": document}).rowcount
        return stored
    if dialect == "sqlite":
        rows = [
            {
                "id": e.id,
                "occurred_at": e.occurred_at,
                "kind": e.kind,
                "source": e.source,
                "district_id": e.district_id,
                "camera_id": e.camera_id,
                "severity": int(e.severity),
                "payload": e.payload,
            }
            for e in events
        ]
        return connection.execute(_SQLITE_INSERT, rows).rowcount
    raise NotImplementedError(f"the event store runs on SQLite or PostgreSQL, not {dialect}")


def search(
    *,
    session: Session,
    principal: Principal,
    kind: str | None = None,
    kind_prefix: str | None = None,
    district_id: uuid.UUID | None = None,
    camera_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[Event]:
    """Events within the principal's districts, newest first; `since` inclusive, `until` exclusive.

    `kind` matches exactly; `kind_prefix` ("analytics.") matches every kind that starts with it.
    Pages by keyset on (time, id): `before` = the last event shown gives the next (older) page,
    `after` = the first event shown gives the previous (newer) one.
    """
    principal.require("alerts.read")
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
    query = select(Event).where(
        *_conditions(principal, kind, kind_prefix, district_id, camera_id, since, until)
    )
    if after is not None:  # read upwards from the first event shown, then show newest first
        at, event_id = after
        query = query.where(
            or_(Event.occurred_at > at, and_(Event.occurred_at == at, Event.id < event_id))
        ).order_by(Event.occurred_at, Event.id.desc())
        return list(reversed(session.scalars(query.limit(limit)).all()))
    if before is not None:
        at, event_id = before
        query = query.where(or_(Event.occurred_at < at, and_(Event.occurred_at == at, Event.id > event_id)))
    query = query.order_by(Event.occurred_at.desc(), Event.id).limit(limit)
    return list(session.scalars(query))


def _conditions(
    principal: Principal,
    kind: str | None,
    kind_prefix: str | None,
    district_id: uuid.UUID | None,
    camera_id: uuid.UUID | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a search: the principal's districts, then each filter that is given."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput(f"'{name}' needs a time zone")
    conditions = [principal.district_filter(Event.district_id)]
    if kind is not None:
        conditions.append(Event.kind == kind)
    if kind_prefix is not None:
        conditions.append(Event.kind.startswith(kind_prefix, autoescape=True))
    if district_id is not None:
        conditions.append(Event.district_id == district_id)
    if camera_id is not None:
        conditions.append(Event.camera_id == camera_id)
    if since is not None:
        conditions.append(Event.occurred_at >= since)
    if until is not None:
        conditions.append(Event.occurred_at < until)
    return conditions


def count_over_time(
    *,
    session: Session,
    principal: Principal,
    since: dt.datetime,
    until: dt.datetime,
    per: Per,
    timezone: ZoneInfo,
    kind: str | None = None,
    kind_prefix: str | None = None,
    district_id: uuid.UUID | None = None,
    camera_id: uuid.UUID | None = None,
) -> list[tuple[dt.datetime, int]]:
    """Events within the principal's districts per local hour or day that [since, until) touches.

    Takes the filters of `search`. Returns (local start of the bucket, events in it) for every bucket,
    empty ones included; the first and last buckets count only the part inside the period.
    """
    principal.require("alerts.read")
    conditions = _conditions(principal, kind, kind_prefix, district_id, camera_id, since, until)
    if since >= until:
        raise InvalidInput("'since' must be before 'until'")
    if until - since > MAX_BUCKETS * PERIODS[per]:
        raise InvalidInput(f"a period of at most {MAX_BUCKETS} {per}s can be counted per {per}")
    edges = _bucket_edges(since, until, per, timezone)
    # The database counts per slot of seconds since the first edge: the slot is the longest length every
    # edge is a multiple of (an hour or a day, unless the zone's offset or a clock change makes it less),
    # so no slot straddles two buckets, and it returns a row per non-empty slot, however many events.
    origin = int(edges[0].timestamp())
    offsets = [int(edge.timestamp()) - origin for edge in edges]
    slot_s = math.gcd(*offsets)
    slot = ((_epoch_seconds(session) - origin) // slot_s).label("slot")
    counts = [0] * (len(edges) - 1)
    for number, n in session.execute(select(slot, func.count()).where(*conditions).group_by(slot)):
        counts[bisect.bisect_right(offsets, int(number) * slot_s) - 1] += n
    return [(edge.astimezone(timezone), n) for edge, n in zip(edges[:-1], counts, strict=True)]


def _bucket_edges(since: dt.datetime, until: dt.datetime, per: Per, zone: ZoneInfo) -> list[dt.datetime]:
    """UTC starts of the local hours or days from the one holding `since` to the first not before `until`."""
    local = since.astimezone(zone)
    edges: list[dt.datetime] = []
    if per == "hour":
        # Stepped in UTC: a local hour is an hour long even where the clocks change.
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        while not edges or edges[-1] < until:
            edges.append(start + len(edges) * PERIODS["hour"])
    else:
        day = local.date()
        while not edges or edges[-1] < until:
            edges.append(dt.datetime.combine(day + dt.timedelta(days=len(edges)), dt.time(), zone))
    return [edge.astimezone(dt.UTC) for edge in edges]


def _epoch_seconds(session: Session) -> ColumnElement[int]:
    """An event's time as whole seconds since 1970, rounded down, in the session's SQL dialect."""
    seconds = extract("epoch", Event.occurred_at)
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(seconds), BigInteger)  # PostgreSQL's is fractional
    return seconds  # SQLite's strftime('%s') is whole seconds already


def get_event(*, session: Session, principal: Principal, event_id: uuid.UUID) -> Event:
    """One event within the principal's districts (NotFound outside them, as if it did not exist)."""
    principal.require("alerts.read")
    event = session.get(Event, event_id)
    if event is None or not principal.sees_district(event.district_id):
        raise NotFound("no such event")
    return event


def snapshot_file(
    *, session: Session, principal: Principal, event_id: uuid.UUID, snapshots_dir: Path
) -> Path:
    """The event's snapshot JPEG: its payload names a path inside `snapshots_dir`, never outside it."""
    event = get_event(session=session, principal=principal, event_id=event_id)
    relative = event.payload.get("snapshot")
    if not isinstance(relative, str) or not relative:
        raise NotFound("this event has no snapshot", code="no_snapshot")
    path = contained(snapshots_dir, relative)
    if path is None or not path.is_file():
        raise NotFound("the event's snapshot is not there", code="no_snapshot")
    return path


EVENT_STORE = "event-store"  # the store's durable consumer, shared by every process that runs it


def _commit(session_factory: sessionmaker[Session], events: list[EventIn]) -> int:
    with session_factory() as session:
        stored = record_many(session=session, events=events)
        session.commit()
    return stored


async def store_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    subject: str = "events.>",
    durable: str = EVENT_STORE,
    batch_size: int = 500,
    max_wait: float = 0.2,
    ack_wait: float = 30.0,
    stop: asyncio.Event,
) -> None:
    """Store events from the bus in batches until `stop` is set: commit first, then acknowledge.

    On NATS this is how events reach the store: producers publish only, so an event outlives a database
    outage or a crash in the stream. On the in-process bus producers store their events before publishing
    them, and this finds them stored (a replay is skipped by its id).
    """
    consumer = StoreConsumer(
        what="event",
        parse=EventIn.model_validate_json,
        commit=partial(_commit, session_factory),
        key=lambda event: event.id,
    )
    await consumer.run(
        bus=bus,
        subject=subject,
        durable=durable,
        stop=stop,
        batch_size=batch_size,
        max_wait=max_wait,
        ack_wait=ack_wait,
    )


def store_here(*, bus: Bus, session_factory: sessionmaker[Session], event: EventIn) -> bool:
    """Store the event at once if the bus keeps messages only in this process (see `store.store_here`)."""
    return bus_store.store_here(
        bus=bus, store=partial(_commit, session_factory, [event]), what="event", key=str(event.id)
    )


async def submit(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    subject: str,
    event: EventIn,
    published: bytes,
    stored: bool,
) -> None:
    """Publish an event as `published` on `subject`, after `store_here` (see `store.hand_over`)."""
    await bus_store.hand_over(
        bus=bus,
        subject=subject,
        msg_id=str(event.id),
        data=published,
        store=partial(_commit, session_factory, [event]),
        stored=stored,
        what="event",
    )
