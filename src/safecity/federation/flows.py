"""The federation's two loops: a district centre's uplink to the province, and the province's store.

Uplink: durable consumers on the district's own bus (alerts, incidents, plate sightings) turn each record
into a signed message on the province's NATS (`federation.<centre>.<kind>`, its id the record's, so
JetStream suppresses a repeat) and acknowledge it locally only once the province's JetStream has stored it.
While the link is down the records wait in the district's own streams and go when it returns; nothing in
the district's work waits on the province.

Province: the store's consumer of `federation.>` checks each message (known centre, its key's signature,
a well-formed record), stores what passes once per (centre, original id) and refuses the rest (counted,
audited, logged, acknowledged so that it holds nothing up; never stored).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates.schemas import SightingOut
from safecity.cameras.models import Camera
from safecity.config import CentreSettings, FederationSettings
from safecity.core import periodic
from safecity.core.bus import Bus, BusError, Message, NatsBus, subscribe_when_ready
from safecity.core.bus.store import StoreConsumer, next_batch
from safecity.core.db import READ_ONLY, transaction, utcnow
from safecity.events.alerts import service as alerts
from safecity.events.alerts.schemas import AlertOut
from safecity.federation import service as federation
from safecity.federation.schemas import AlertRecord, HitRecord, IncidentRecord, Kind, PlateReadRecord, Record
from safecity.incidents.models import Incident
from safecity.incidents.schemas import IncidentChange

logger = logging.getLogger(__name__)

# What the province receives from a district: its bus subject and the record kind it carries.
UPLINKS: tuple[tuple[str, Kind], ...] = (
    ("alerts.>", "alert"),
    ("incidents.>", "incident"),
    ("plates.sighting.>", "sighting"),
)
BATCH = 100
# Records fetched but not yet at the province go back to the district's stream after this long; a longer
# outage only means they are fetched again (and deduplicated at the province).
ACK_WAIT_S = 120.0
PUBLISH_TIMEOUT_S = 5.0  # one try at the province before the link is taken as down and tried again later


Outgoing = tuple[str, bytes, str | None]


@dataclass
class Uplink:
    """A district centre's link to the province: forwards what the province needs, nothing lost."""

    settings: FederationSettings
    session_factory: sessionmaker[Session]
    bus: Bus
    # The district's camera names by id, read once each (a camera renamed shows its new name after a restart).
    _camera_names: dict[uuid.UUID, str | None] = field(default_factory=dict)

    @property
    def centre(self) -> str:
        """This district centre's code (`federation.centre`)."""
        if self.settings.centre is None:
            raise RuntimeError("federation.centre is not set: this stack is no district centre")
        return self.settings.centre

    async def run(self, *, stop: asyncio.Event) -> None:
        """Forward until `stop` is set, connecting to the province (again and again while it is away)."""
        province = NatsBus(
            self.settings.province_url.get_secret_value(), streams=(), publish_timeout=PUBLISH_TIMEOUT_S
        )
        while not stop.is_set():
            try:
                await province.start()
                break
            except BusError as exc:
                logger.warning("federation: province not reachable yet, retrying: %s", exc)
                if await periodic.stopped(stop, self.settings.retry_s):
                    return
        try:
            await asyncio.gather(*(self._forward(province, subject, kind, stop) for subject, kind in UPLINKS))
        finally:
            await province.close()

    async def _forward(self, province: Bus, subject: str, kind: Kind, stop: asyncio.Event) -> None:
        durable = f"federation-uplink-{kind}"
        subscription = await subscribe_when_ready(
            self.bus, subject, durable=durable, stop=stop, ack_wait=ACK_WAIT_S
        )
        if subscription is None:
            return
        try:
            while not stop.is_set():
                messages = await next_batch(subscription, batch_size=BATCH, max_wait=0.2, stop=stop)
                if not messages:
                    continue
                try:
                    outgoing = await asyncio.to_thread(self._outgoing, kind, messages)
                except Exception:
                    # The district's own database away, say: the batch comes back, the uplink goes on.
                    logger.exception("federation: %d %ss not prepared; tried again", len(messages), kind)
                    for message in messages:
                        await message.nak(delay=self.settings.retry_s)
                    continue
                if not await self._deliver(province, outgoing, stop):
                    return  # stopping: the batch stays unacknowledged, delivered by the next run
                for message in messages:
                    await message.ack()
        finally:
            await subscription.close()

    async def _deliver(self, province: Bus, outgoing: list[Outgoing], stop: asyncio.Event) -> bool:
        """Publish to the province, trying again while the link is down; False if stopped first."""
        while not stop.is_set():
            try:
                await province.publish_many(outgoing)
                return True
            except BusError as exc:
                logger.warning(
                    "federation: link to the province down, %d records wait: %s", len(outgoing), exc
                )
                await periodic.stopped(stop, self.settings.retry_s)
        return False

    def _outgoing(self, kind: Kind, messages: list[Message]) -> list[Outgoing]:
        """The signed messages of a batch; a record that cannot be read is left out (logged). Blocking."""
        out: list[Outgoing] = []
        convert: Callable[[Session, bytes], tuple[Record, str] | None] = {
            "alert": _alert_record,
            "incident": _incident_record,
            "sighting": self._sighting_record,
        }[kind]
        now = utcnow()
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            for message in messages:
                try:
                    made = convert(session, message.data)
                except ValidationError:
                    logger.warning(
                        "federation: %s %s on %s unreadable, not sent", kind, message.msg_id, message.subject
                    )
                    continue
                if made is None:
                    continue
                record, version = made
                data = federation.sign(
                    centre=self.centre,
                    key=self.settings.key.get_secret_value(),
                    kind=kind,
                    record=record,
                    sent_at=now,
                )
                msg_id = f"{self.centre}:{kind}:{version}"
                out.append((federation.subject(self.centre, kind), data, msg_id))
        return out

    def _sighting_record(self, session: Session, data: bytes) -> tuple[Record, str]:
        sighting = SightingOut.model_validate_json(data)
        camera_id = sighting.camera_id
        if camera_id is not None and camera_id not in self._camera_names:
            camera = session.get(Camera, camera_id)
            self._camera_names[camera_id] = camera.name if camera is not None else None
        record = PlateReadRecord(
            id=sighting.id,
            plate=sighting.plate,
            confidence=sighting.confidence,
            jurisdiction=sighting.jurisdiction,
            camera_id=camera_id,
            camera_name=self._camera_names.get(camera_id) if camera_id is not None else None,
            seen_at=sighting.seen_at,
        )
        return record, str(sighting.id)


def _alert_record(_session: Session, data: bytes) -> tuple[Record, str]:
    alert = AlertOut.model_validate_json(data)
    hit = None
    if alert.kind.startswith("hotlist.") and "hit_id" in alert.detail:
        fields = ("read_plate", "listed_plate", "list_name", "list_kind")
        try:
            hit = HitRecord.model_validate(
                {"id": alert.detail["hit_id"], **{f: alert.detail.get(f) for f in fields}}
            )
        except ValidationError:
            # The alert still goes; only its hit, which the province could not store, stays behind.
            logger.warning("federation: the hit of alert %s is unreadable, sent without it", alert.id)
    moments = [m for m in (alert.raised_at, alert.acknowledged_at, alert.escalated_at) if m is not None]
    record = AlertRecord(
        id=alert.id,
        kind=alert.kind,
        severity=int(alert.severity),
        title=alert.title,
        status=alert.status.value,
        camera_name=alert.camera_name,
        repeat_count=alert.repeat_count,
        raised_at=alert.first_raised_at,
        changed_at=max(moments),
        hit=hit,
    )
    return record, alerts.message_id(alert)


def _incident_record(session: Session, data: bytes) -> tuple[Record, str] | None:
    change = IncidentChange.model_validate_json(data)
    incident = session.get(Incident, change.incident_id)
    if incident is None:
        return None  # never committed, or purged: nothing to tell the province
    record = IncidentRecord(
        id=incident.id,
        number=incident.number,
        title=incident.title,
        category=incident.category.value,
        priority=incident.priority,
        status=incident.status.value,
        opened_at=incident.created_at,
        changed_at=incident.updated_at,
    )
    return record, f"{incident.id}:{incident.version}:{incident.updated_at.isoformat()}"


# --- the province's store -----------------------------------------------------------------------------------


def _parse(data: bytes, *, centres: Mapping[str, CentreSettings]) -> federation.Received:
    # The message's digest names it in logs and the audit log: what it claims is not trusted before checked.
    return federation.verify(data, centres=centres, ref=hashlib.sha256(data).hexdigest()[:16])


def _commit(
    received: list[federation.Received],
    *,
    session_factory: sessionmaker[Session],
    centres: Mapping[str, CentreSettings],
) -> int:
    with transaction(session_factory) as session:
        return federation.store(session=session, received=received, centres=centres)


def _key(item: federation.Received) -> str:
    if isinstance(item, federation.Refused):
        return item.ref
    return f"{item.centre}:{item.record.id}"


async def store_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    centres: Mapping[str, CentreSettings],
    stop: asyncio.Event,
) -> None:
    """The province's store of what the district centres send (on its own bus), until `stop` is set."""
    consumer: StoreConsumer[federation.Received] = StoreConsumer(
        what="federated record",
        parse=partial(_parse, centres=centres),
        commit=partial(_commit, session_factory=session_factory, centres=centres),
        key=_key,
    )
    await consumer.run(bus=bus, subject=federation.SUBJECTS, durable="federation-store", stop=stop)
