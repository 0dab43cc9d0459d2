"""Traffic enforcement at work, where the cameras run: analytics events from the bus turned into violations,
evidence packets assembled from the recordings, and signal states learnt from controllers on MQTT and from
the lamps in cameras' pictures.

Over-speed violations are made where speeds and section passages are stored (`traffic.flows` calls
`service.record_speeds` and `service.record_passages` in those transactions).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safecity.config import Settings
from safecity.core import mqtt
from safecity.core.bus import Bus, Message, subscribe_when_ready
from safecity.core.db import READ_ONLY, transaction, utcnow
from safecity.events.schemas import EventOut
from safecity.traffic.violations import evidence
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import SignalLight
from safecity.traffic.violations.schemas import SignalStateIn
from safecity.traffic.violations.signals import LampTracker, read_lamp
from safecity.video.ingest import FrameSlot

logger = logging.getLogger(__name__)

SUBJECT = "events.analytics.>"  # as analytics publish them (analytics.flows.subject)
# One durable shared by every worker: JetStream hands each event to one of them, whichever camera it came
# from. That is right here: making a violation from an event reads the database only (the recording is
# needed later, by the camera's own worker: EvidenceAssembler.cameras), and an event whose worker died
# before acking is redelivered to a living one, where a per-worker filter would lose it.
DURABLE = "traffic-violations"
RETRY_DELAY = 5.0
MAX_BATCH = 200  # events checked in one transaction
GATHER_S = 0.02  # after the first, events arriving within this long join its batch
EVIDENCE_EVERY_S = 1.0
EVIDENCE_BATCH = 200  # violations read per round (their bursts built in parallel as they are read)
FAILED_BACKOFF_S = 30.0  # a packet that failed to build is tried again after this long
LAMP_REFRESH_S = 10.0  # how soon a signal drawn or removed is watched (or not)
LAMP_STALE_S = 2.0  # a camera with no newer frame than this shows the signal's state as unknown
RECONNECT_S = 5.0


# --- violations from analytics events ----------------------------------------------------------------


def _from_events(session_factory: sessionmaker[Session], found: list[EventOut], max_age_s: float) -> int:
    """Every event's violations in one transaction (one commit for a burst, a few statements for it)."""
    with transaction(session_factory) as session:
        return len(violations.from_events(session=session, events=found, max_signal_age_s=max_age_s))


def _keep_loaded(session: Session) -> list[object]:
    """Keep every row the session loads alive while it lasts (the list returned holds them). Its identity
    map holds rows only weakly, so the camera, rules and signal that every event (or packet) of a batch
    refers to would be dropped after each and read again for the next.
    """
    rows: list[object] = []
    sa_event.listen(session, "loaded_as_persistent", lambda _session, row: rows.append(row))
    return rows


async def handle_events(
    messages: list[Message], session_factory: sessionmaker[Session], max_age_s: float
) -> None:
    """Turn delivered analytics events into their violations, then acknowledge them; redelivered while the
    database is away, a malformed one dropped.
    """
    wanted: list[tuple[Message, EventOut]] = []
    for message in messages:
        try:
            event = EventOut.model_validate_json(message.data)
        except ValidationError:
            logger.warning(
                "malformed analytics event on %s (msg_id %s) dropped", message.subject, message.msg_id
            )
            await message.ack()
            continue
        if event.kind in violations.EVENT_OFFENCES:
            wanted.append((message, event))
        else:
            await message.ack()
    if not wanted:
        return
    try:
        made = await asyncio.to_thread(_from_events, session_factory, [e for _, e in wanted], max_age_s)
    except SQLAlchemyError:
        logger.exception("%d events not checked for violations; delivered again later", len(wanted))
        for message, _ in wanted:
            await message.nak(delay=RETRY_DELAY)
        return
    if made:
        logger.info("%d violation(s) from %d event(s)", made, len(wanted))
    for message, _ in wanted:
        await message.ack()


async def violations_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    max_signal_age_s: float,
    subject: str = SUBJECT,
    durable: str = DURABLE,
) -> None:
    """Check every analytics event on the bus against the enforcement rules until `stop` is set: a durable
    consumer, so events published while this process was down are checked after. The events waiting at a
    moment are checked together (up to MAX_BATCH), in one transaction.
    """
    subscription = await subscribe_when_ready(bus, subject, durable=durable, stop=stop)
    if subscription is None:
        return
    try:
        while not stop.is_set():
            message = await subscription.next(timeout=0.5)
            if message is None:
                continue
            batch = [message]
            while len(batch) < MAX_BATCH and (more := await subscription.next(timeout=GATHER_S)) is not None:
                batch.append(more)
            await handle_events(batch, session_factory, max_signal_age_s)
    finally:
        await subscription.close()


# --- evidence packets ----------------------------------------------------------------------------------


@dataclass
class EvidenceAssembler:
    """Builds the packets of COLLECTING violations whose recording is ready, in bursts (a camera's
    violations close in time share the reading and decoding of their recording), several bursts at once
    in threads.
    """

    settings: Settings
    session_factory: sessionmaker[Session]
    failed: dict[uuid.UUID, float] = field(default_factory=dict)  # violation → when its build failed
    burst_most: int = evidence.BURST_MOST  # violations built together (1: each on its own)
    # The cameras whose packets this process builds (None: every camera's). With many workers each builds
    # its own cameras' packets: the recordings are its own, freshest on its disk or the shared store's
    # cache, and no two workers decode the same footage for a packet only one of them can store
    # (finish_burst keeps the first). A camera that moves takes its waiting packets to its new worker.
    cameras: Callable[[], frozenset[uuid.UUID] | None] = lambda: None

    def _plans(self, ids: list[uuid.UUID], now: dt.datetime) -> Iterator[violations.EvidencePlan]:
        """The packets that can be built now, read in one session as they are wanted (blocking)."""
        cfg = self.settings.challans
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)  # reads only: no write lock on SQLite
            _loaded = _keep_loaded(session)
            violations.preload(session=session, violation_ids=ids)
            for violation_id in ids:
                try:
                    plan = violations.plan_evidence(
                        session=session,
                        violation_id=violation_id,
                        now=now,
                        clip_s=cfg.evidence_clip_s,
                        wait_s=cfg.evidence_wait_s,
                        plate_wait_s=cfg.evidence_plate_wait_s,
                    )
                except SQLAlchemyError:
                    raise
                except Exception:  # one broken packet must not hold up the others
                    logger.exception(
                        "violation %s: evidence could not be planned; tried again later", violation_id
                    )
                    self.failed[violation_id] = time.monotonic()
                    continue
                if plan is not None:
                    yield plan

    def assemble_burst(self, plans: list[violations.EvidencePlan]) -> int:
        """Build a burst's packets and queue its violations in one transaction; how many were queued
        (blocking). A packet that could not be built is tried again after FAILED_BACKOFF_S.
        """
        try:
            built = evidence.build_burst(
                plans,
                recordings_dir=self.settings.recordings_dir,
                snapshots_dir=self.settings.snapshots_dir,
                evidence_dir=self.settings.evidence_dir,
                clip_s=self.settings.challans.evidence_clip_s,
            )
            ready = [(b.plan, b.manifest, evidence.manifest_sha256(b.manifest)) for b in built if b.manifest]
            with transaction(self.session_factory) as session:
                finished = violations.finish_burst(session=session, packets=ready)
                rows = [(*packet, row) for packet, row in zip(ready, finished, strict=True)]
        except Exception:  # the database may be away: the burst is tried again later
            logger.exception("%d violations' evidence could not be assembled; tried again later", len(plans))
            built, rows = [evidence.Built(plan, None) for plan in plans], []
        for b in built:
            if b.manifest is None:
                self.failed[b.plan.violation_id] = time.monotonic()
        for plan, manifest, digest, row in rows:
            if row is not None:
                logger.info(
                    "violation %s: evidence %s (%s), %s",
                    plan.violation_id,
                    digest[:12],
                    "complete" if manifest["complete"] else f"missing {', '.join(manifest['missing'])}",
                    row.status.value,
                )
        return sum(row is not None for *_, row in rows)

    def assemble_due(self, *, now: dt.datetime | None = None, pool: ThreadPoolExecutor | None = None) -> int:
        """Build the packets that can be built now; how many violations reached the queue (blocking).

        The bursts are handed to the pool as they are read, so building starts while the rest are read.
        """
        now = now or utcnow()
        since = time.monotonic() - FAILED_BACKOFF_S
        self.failed = {k: v for k, v in self.failed.items() if v > since}
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            ids = violations.due_for_evidence(
                session=session,
                before=now - dt.timedelta(seconds=self.settings.challans.evidence_clip_s),
                limit=EVIDENCE_BATCH,
                camera_ids=self.cameras(),
            )
        ids = [i for i in ids if i not in self.failed]
        bursts = evidence.bursts(
            self._plans(ids, now), clip_s=self.settings.challans.evidence_clip_s, most=self.burst_most
        )
        if pool is None:
            return sum(self.assemble_burst(burst) for burst in bursts)
        running: list[Future[int]] = []
        try:
            for burst in bursts:
                running.append(pool.submit(self.assemble_burst, burst))
        finally:
            wait(running)  # those started finish, even if reading the rest failed
        return sum(f.result() for f in running)

    async def run(self, *, stop: asyncio.Event, every_s: float = EVIDENCE_EVERY_S) -> None:
        """Assemble what is due every `every_s` seconds until `stop` is set."""
        with ThreadPoolExecutor(
            self.settings.challans.evidence_workers, thread_name_prefix="evidence"
        ) as pool:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.assemble_due, pool=pool)
                except Exception:  # the database may be away for a moment: try again next round
                    logger.exception("violations' evidence could not be assembled")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every_s)


# --- signal states from controllers on MQTT --------------------------------------------------------------


def apply_signal_message(session_factory: sessionmaker[Session], topic: str, payload: bytes) -> bool:
    """Apply one controller message (`<prefix>/<signal id>`, JSON {"light", "at"?}); whether it changed
    the signal's state. Raises ValueError, ValidationError or SafecityError for a message to skip.
    """
    signal_id = uuid.UUID(topic.rsplit("/", 1)[-1])
    state = SignalStateIn.model_validate(json.loads(payload))
    with transaction(session_factory) as session:
        return violations.controller_report(
            session=session, signal_id=signal_id, light=state.light, at=state.at, source="mqtt"
        )


async def consume_signals(
    *,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    host: str,
    port: int,
    prefix: str = "safecity/signals",
    ready: asyncio.Event | None = None,
    client_factory: mqtt.ClientFactory | None = None,
    reconnect_s: float = RECONNECT_S,
) -> None:
    """Apply signal controllers' states from MQTT topic `<prefix>/+` until `stop` is set; a bad message is
    logged (never its contents) and skipped, a lost broker reconnected to.
    """
    await mqtt.consume(
        topics=[f"{prefix}/+"],
        handle=lambda topic, payload: apply_signal_message(session_factory, topic, payload),
        what="signal controllers",
        stop=stop,
        host=host,
        port=port,
        reconnect_s=reconnect_s,
        client_factory=client_factory,
        ready=ready,
    )


# --- signal states read from the lamps ------------------------------------------------------------------


class Slots(Protocol):
    """Where cameras' newest frames are (the ingest supervisor)."""

    def slot(self, camera_id: uuid.UUID) -> FrameSlot | None:
        """The camera's frame slot, if it is ingested here."""


@dataclass
class LampWatcher:
    """Reads each lamp-read signal's light from its camera's newest frame `hz` times a second and stores
    the changes (source "lamp"); a camera without fresh frames shows its signals as unknown.
    """

    session_factory: sessionmaker[Session]
    slots: Slots
    hz: float = 2.0
    signals: list[violations.LampSignal] = field(default_factory=list)
    trackers: dict[uuid.UUID, LampTracker] = field(default_factory=dict)
    _seen: dict[uuid.UUID, int] = field(default_factory=dict)  # the frame each signal was last read in

    def refresh(self) -> None:
        """Watch the lamp-read signals as now defined (blocking)."""
        with self.session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            self.signals = violations.lamp_signals(session=session)
        ids = {s.id for s in self.signals}
        self.trackers = {k: v for k, v in self.trackers.items() if k in ids}

    def sample(self, now: dt.datetime | None = None) -> list[tuple[uuid.UUID, SignalLight, dt.datetime]]:
        """Read every watched signal once; the changes stored (blocking)."""
        now = now or utcnow()
        changes = []
        for signal in self.signals:
            slot = self.slots.slot(signal.camera_id)
            frame = slot.latest() if slot is not None else None
            if frame is None or (now - frame.captured_at).total_seconds() > LAMP_STALE_S:
                light, at = SignalLight.UNKNOWN, now
            elif frame.seq == self._seen.get(signal.id):
                continue  # nothing new to read
            else:
                self._seen[signal.id] = frame.seq
                light, at = read_lamp(frame.image, signal.region).light, frame.captured_at
            change = self.trackers.setdefault(signal.id, LampTracker()).observe(light, at)
            if change is not None:
                changes.append((signal.id, *change))
        if changes:
            with transaction(self.session_factory) as session:
                for signal_id, light, since in changes:
                    violations.record_state(
                        session=session, signal_id=signal_id, light=light, at=since, source="lamp"
                    )
            for signal_id, light, since in changes:
                logger.info("signal %s: %s since %s (lamp)", signal_id, light.value, since.isoformat())
        return changes

    async def run(self, *, stop: asyncio.Event) -> None:
        """Sample until `stop` is set, re-reading the signals every LAMP_REFRESH_S."""
        refreshed = -LAMP_REFRESH_S
        while not stop.is_set():
            try:
                if time.monotonic() - refreshed >= LAMP_REFRESH_S:
                    await asyncio.to_thread(self.refresh)
                    refreshed = time.monotonic()
                await asyncio.to_thread(self.sample)
            except Exception:  # the database may be away for a moment: go on sampling
                logger.exception("signal lamps could not be read")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1 / self.hz)


# --- everything of one process ----------------------------------------------------------------------------


@dataclass
class ViolationsRuntime:
    """The enforcement work of the process that runs the cameras (and their analytics and recordings)."""

    settings: Settings
    session_factory: sessionmaker[Session]
    bus: Bus
    slots: Slots | None = None
    cameras: Callable[[], frozenset[uuid.UUID] | None] = lambda: None  # this process's (None: all)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    async def start(self) -> None:
        """Start consuming events, assembling evidence, and learning signal states."""
        cfg, stop = self.settings.challans, self._stop
        stop.clear()
        work: dict[str, Coroutine[Any, Any, None]] = {
            "violations": violations_from_bus(
                bus=self.bus,
                session_factory=self.session_factory,
                stop=stop,
                max_signal_age_s=cfg.signal_max_age_s,
            ),
            "violations-evidence": EvidenceAssembler(
                self.settings, self.session_factory, cameras=self.cameras
            ).run(stop=stop),
        }
        if cfg.signals_mqtt:
            work["signals-mqtt"] = consume_signals(
                session_factory=self.session_factory,
                stop=stop,
                host=cfg.signals_mqtt_host,
                port=cfg.signals_mqtt_port,
                prefix=cfg.signals_topic_prefix,
            )
        if self.slots is not None:
            watcher = LampWatcher(self.session_factory, self.slots, hz=cfg.lamp_sample_hz)
            work["signals-lamps"] = watcher.run(stop=stop)
        self._tasks = [asyncio.create_task(coro, name=name) for name, coro in work.items()]

    async def stop(self) -> None:
        """Stop every loop (each finishes what it holds)."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
