"""Work across domains: sightings from the bus matched against the hotlists into hits and console alerts,
and a confirmed hit opened as an incident in one step.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics import flows as analytics_flows
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import HitStatus, HotlistEntry, ListKind
from safecity.analytics.plates.schemas import SightingOut
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.bus.base import Bus, Message, Subscription, subscribe_when_ready
from safecity.core.db import READ_ONLY, transaction
from safecity.core.errors import Conflict, NotFound
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident

logger = logging.getLogger(__name__)

SOURCE = "hotlists"
SUBJECT = "plates.>"
DURABLE = "hotlist-matcher"
REFRESH_S = 1.0  # how soon a list changed in the UI or by import starts to match
RETRY_DELAY = 1.0
MAX_EARLY_DELIVERIES = 5  # a sighting published before its row is committed is retried this often
MAX_PENDING = 1000  # matched sightings waiting for the writer; beyond, the bus holds them
MAX_BATCH = 100  # hits stored in one transaction


@dataclass(frozen=True)
class _Pending:
    """A matched sighting waiting for its hits to be stored."""

    message: Message
    sighting: SightingOut
    matches: list[hotlists.Match]
    arrived: float


@dataclass
class HotlistMatcher:
    """Matches each readable sighting on the bus against the in-memory index of the enabled lists.

    Most sightings match nothing and cost a few dictionary look-ups on the event loop. Matched ones go to
    one writer task, which stores the hits waiting at that moment with their alerts in one transaction (in
    a worker thread: one commit for a burst, not one each), then publishes the alerts and acknowledges.
    """

    session_factory: sessionmaker[Session]
    bus: Bus
    index: hotlists.HotlistIndex = field(default_factory=hotlists.HotlistIndex)
    version: tuple[int, object] | None = field(default=None, init=False)
    # Seconds from a matching sighting's arrival to its alerts being published, for the latest hits.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1000), init=False)
    _checked: float = field(default=0.0, init=False)
    _pending: asyncio.Queue[_Pending] = field(
        default_factory=lambda: asyncio.Queue(maxsize=MAX_PENDING), init=False
    )

    async def refresh(self) -> None:
        """Reload the index if a list or its plates changed since the last load."""
        self._checked = time.monotonic()
        version, index = await asyncio.to_thread(self._load, self.version, self.index)
        if index is not None:
            self.index, self.version = index, version
            logger.info("hotlist index loaded: %d plates", index.size)

    def _load(
        self, known: tuple[int, object] | None, previous: hotlists.HotlistIndex
    ) -> tuple[tuple[int, object], hotlists.HotlistIndex | None]:
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)  # reads only: no write lock on SQLite
            version = hotlists.index_version(session=session)
            if version == known:
                return version, None
            return version, hotlists.load_index(session=session, previous=previous)

    async def _refresh_if_due(self) -> None:
        # Checked as sightings arrive, never while idle (an idle matcher touches no database). The check is
        # one small query and a reload happens only when a list or its plates changed; the sighting that
        # finds the change waits for it, so a plate listed before the vehicle passes is always matched.
        if self.version is None or time.monotonic() - self._checked >= REFRESH_S:
            await self._safe_refresh()

    async def _safe_refresh(self) -> None:
        try:
            await self.refresh()
        except SQLAlchemyError:
            logger.exception("the hotlist index could not be reloaded; matching with the one loaded")

    async def run(self, *, stop: asyncio.Event, subject: str = SUBJECT, durable: str = DURABLE) -> None:
        """Consume sightings until `stop` is set; each is acknowledged once its hits are stored."""
        subscription = await subscribe_when_ready(self.bus, subject, durable=durable, stop=stop)
        if subscription is None:
            return
        writer = asyncio.create_task(self._write(), name="hotlist-hits")
        try:
            await self._consume(subscription, stop)
            await self._pending.join()  # what was matched is stored before the matcher stops
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await subscription.close()

    async def _consume(self, subscription: Subscription, stop: asyncio.Event) -> None:
        while not stop.is_set():
            message = await subscription.next(timeout=0.5)
            if message is not None:
                await self.handle(message)

    async def handle(self, message: Message) -> None:
        """Match one delivered sighting: a miss is acknowledged at once, a match queued for the writer.

        The queue is bounded: when the database falls behind, this waits, and the bus holds the rest.
        """
        arrived = time.monotonic()
        try:
            sighting = SightingOut.model_validate_json(message.data)
        except ValidationError as exc:
            problems = sorted(
                {f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in exc.errors()}
            )
            logger.warning(
                "malformed sighting on %s (msg_id %s) dropped: %s", message.subject, message.msg_id, problems
            )
            await message.ack()
            return
        await self._refresh_if_due()
        matches = (
            self.index.match(sighting.plate, district_id=sighting.district_id, at=sighting.seen_at)
            if sighting.plate
            else []
        )
        if not matches:
            await message.ack()
            return
        await self._pending.put(_Pending(message, sighting, matches, arrived))

    async def _write(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                await self._store_batch(batch)
            except Exception:  # the matcher must go on; the messages come back unacknowledged
                logger.exception("hits of %d sightings failed", len(batch))
            finally:
                for _ in batch:
                    self._pending.task_done()

    async def _store_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await asyncio.to_thread(self._store, batch)
        except SQLAlchemyError as exc:
            logger.error(
                "hits of %d sightings not stored (%s); delivered again", len(batch), type(exc).__name__
            )
            for item in batch:
                await item.message.nak(delay=RETRY_DELAY)
            return
        for item, raised in zip(batch, outcomes, strict=True):
            if raised is None:  # its sighting is not stored (yet)
                if item.message.delivery < MAX_EARLY_DELIVERIES:
                    await item.message.nak(delay=RETRY_DELAY)
                else:
                    logger.warning(
                        "sighting %s matched a hotlist but is not stored; dropped", item.sighting.id
                    )
                    await item.message.ack()
                continue
            for alert in raised:
                await alerts.publish_or_log(self.bus, alert)
            await item.message.ack()
            if raised:
                self.latencies.append(time.monotonic() - item.arrived)

    def _store(self, batch: list[_Pending]) -> list[list[AlertOut] | None]:
        """Each sighting's hits and their alerts, all in one transaction (one savepoint each).

        An alert never points at a hit that is not there; a sighting not yet stored is left out (None).
        """
        outcomes: list[list[AlertOut] | None] = []
        with transaction(self.session_factory) as session:
            for item in batch:
                try:
                    with session.begin_nested():
                        # The sighting store may not have stored it yet (on NATS it stores what the cameras
                        # publish, as this does; after an outage it has a backlog): whichever comes first
                        # stores it, the other finds it there.
                        analytics_flows.record_sightings(
                            session=session, sightings=[analytics_flows.as_stored(item.sighting)]
                        )
                        outcomes.append(self._store_one(session, item))
                except (NotFound, IntegrityError, ValidationError):  # not storable (yet), or stored meanwhile
                    outcomes.append(None)
        return outcomes

    @staticmethod
    def _store_one(session: Session, item: _Pending) -> list[AlertOut]:
        by_entry = {m.listed.entry_id: m.listed for m in item.matches}
        hits = hotlists.record_hits(session=session, sighting_id=item.sighting.id, matches=item.matches)
        raised = []
        for hit in hits:
            listed = by_entry[hit.entry_id] if hit.entry_id else None
            if listed is None:
                continue
            kind = hotlists.KIND_LABELS[listed.rule.kind]
            camera = session.get(Camera, hit.camera_id) if hit.camera_id else None
            where = f" at {camera.name}" if camera else ""
            alert = alerts.raise_alert(
                session=session,
                kind=f"hotlist.{listed.rule.kind.value}",
                severity=listed.rule.severity,
                title=f"{kind} vehicle {hit.read_plate}{where} ({listed.rule.name})"[:200],
                source=SOURCE,
                camera_id=camera.id if camera else None,
                district_id=None if camera else hit.district_id,
                detail=hotlists.hit_detail(hit, listed),
            )
            hit.alert_id = alert.id
            raised.append(AlertOut.model_validate(alert))
        session.flush()
        return raised


def open_incident(
    *, session: Session, principal: Principal, hit_id: uuid.UUID, priority: int = 2
) -> Incident:
    """Open an incident from a confirmed hit, pre-filled with the plate, the list, the camera and the place.

    The incident is opened from the hit's alert (linked, as any escalation), so it appears where the
    alert's incidents do; the hit records the incident. A hit opened once is a Conflict the second time.
    """
    principal.require(incidents.MANAGE)
    hit = hotlists.get_hit(session=session, principal=principal, hit_id=hit_id, lock=True)
    if hit.status != HitStatus.CONFIRMED:
        raise Conflict("confirm that the crop shows the listed plate first", code="hit_not_confirmed")
    if hit.incident_id is not None:
        raise Conflict("an incident was opened from this hit already", code="already_opened")
    if hit.alert_id is None:
        raise NotFound("this hit has no alert to open an incident from", code="no_alert")
    kind = ListKind(hit.hotlist_kind)
    camera = session.get(Camera, hit.camera_id) if hit.camera_id else None
    where = camera.name if camera else "an unknown camera"
    incident = incidents.escalate_alert(
        session=session,
        principal=principal,
        alert_id=hit.alert_id,
        category=Category.VEHICLE_THEFT if kind == ListKind.STOLEN else Category.OTHER,
        priority=priority,
        title=f"{hotlists.KIND_LABELS[kind]} vehicle {hit.listed_plate} seen at {where}",
    )
    entry = session.get(HotlistEntry, hit.entry_id) if hit.entry_id else None
    lines = [
        f"Plate {hit.listed_plate} (read as {hit.read_plate}, {hit.matched} match) on hotlist "
        f"'{hit.hotlist_name}' ({hotlists.KIND_LABELS[kind].lower()}).",
        f"Seen at {where} at {hit.seen_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f" ({camera.latitude:.5f}, {camera.longitude:.5f})." if camera else "."),
        f"Hit confirmed by {hit.handled_by_name}: /hotlists/hits/{hit.id}",
    ]
    if entry is not None:
        lines.append(
            f"Listed because: {entry.reason or '—'}; reference {entry.reference or '—'}; "
            f"vehicle {entry.description or '—'}."
        )
    incident.description = "\n".join(lines)
    incidents.add_timeline(
        session=session,
        incident=incident,
        actor=principal,
        kind="link",
        text=f"Opened from hotlist hit /hotlists/hits/{hit.id}",
        detail={"hit_id": str(hit.id), "plate": hit.listed_plate},
    )
    hit.incident_id = incident.id
    session.flush()
    audit.record(
        session=session,
        action="hotlists.hit.incident",
        outcome="success",
        actor=principal,
        object_type="hotlist_hit",
        object_id=str(hit.id),
        district_id=hit.district_id,
        detail={"incident": incident.number},
    )
    return incident
