"""Traffic work that spans domains: speeds measured in the analytics' flush thread, section control from
the bus's plate sightings, and the periodic congestion evaluation of road segments with its alerts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates.schemas import SightingOut
from safecity.core import periodic
from safecity.core.bus import Bus, Message, subscribe_when_ready
from safecity.core.db import transaction, utcnow
from safecity.events.alerts import service as alerts
from safecity.traffic import service as traffic
from safecity.traffic.speeds import SpeedBook, VehicleSpeed, buckets
from safecity.traffic.violations import service as violations

logger = logging.getLogger(__name__)

SOURCE = "traffic"
SPEEDING_SEVERITY = 2
CONGESTION_SEVERITY = 3
EVALUATE_EVERY_S = 60.0
SECTIONS_DURABLE = "traffic-sections"


# --- speeds between two lines (called by the analytics' flush, on its worker thread) -----------------


def flush_speeds(
    book: SpeedBook,
    session_factory: sessionmaker[Session],
    *,
    bus: Bus | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> list[VehicleSpeed]:
    """Refresh the book's calibrations, pair its crossings into speeds and add them to the stored buckets
    (kept for the next flush on failure); vehicles over their calibration's limit are alerted on `loop`.
    Returns the speeds written.
    """
    if book.idle:  # nothing crossed, nothing waits: no need to ask the database
        return []
    try:
        with session_factory() as session:
            book.set_calibrations(traffic.calibrations(session=session))
    except Exception:  # the counts are flushed after this, whatever happens here
        logger.exception("speed calibrations could not be read; measuring with the previous ones")
    speeds = book.measure()
    if not speeds:
        return []
    try:
        with transaction(session_factory) as session:
            traffic.add_speeds(session=session, rows=buckets(speeds))
            violations.record_speeds(session=session, speeds=speeds)  # over-speed under enforcement rules
    except Exception:
        logger.exception("vehicle speeds could not be written; kept for the next try")
        book.put_back(speeds)
        return []
    speeding = [s for s in speeds if s.calibration.speed_limit_kmh and s.kmh > s.calibration.speed_limit_kmh]
    if speeding and bus is not None and loop is not None:
        asyncio.run_coroutine_threadsafe(
            alert_speeding(speeding, session_factory=session_factory, bus=bus), loop
        )
    return speeds


async def alert_speeding(
    speeds: list[VehicleSpeed], *, session_factory: sessionmaker[Session], bus: Bus
) -> None:
    """One alert per calibration whose vehicles drove over its limit (repeats refresh the open alert)."""
    fastest: dict[object, VehicleSpeed] = {}
    for speed in speeds:
        if speed.calibration.id not in fastest or speed.kmh > fastest[speed.calibration.id].kmh:
            fastest[speed.calibration.id] = speed
    for speed in fastest.values():
        calibration = speed.calibration
        try:
            await alerts.raise_and_publish(
                session_factory=session_factory,
                bus=bus,
                kind="traffic.speeding",
                severity=SPEEDING_SEVERITY,
                title=f"{speed.class_name} at {speed.kmh:.0f} km/h (limit {calibration.speed_limit_kmh:.0f})",
                source=SOURCE,
                camera_id=calibration.camera_id,
                detail={
                    "calibration_id": str(calibration.id),
                    "kmh": round(speed.kmh, 1),
                    "class": speed.class_name,
                    "at": speed.at.isoformat(),
                },
                dedup_key=f"traffic:speeding:{calibration.id}",
            )
        except Exception:
            logger.exception("speeding alert of calibration %s not raised", calibration.id)


# --- section control: plates read at both ends of a section -----------------------------------------


def _match(session_factory: sessionmaker[Session], sighting: SightingOut) -> int:
    if sighting.plate is None or sighting.camera_id is None:
        return 0
    with transaction(session_factory) as session:
        found = traffic.match_sighting(
            session=session,
            sighting_id=sighting.id,
            camera_id=sighting.camera_id,
            plate=sighting.plate,
            seen_at=sighting.seen_at,
            vehicle_class=sighting.vehicle_class,
        )
        violations.record_passages(session=session, passages=found)  # over-speed under enforcement rules
        return len(found)


async def _handle(message: Message, session_factory: sessionmaker[Session]) -> None:
    try:
        sighting = SightingOut.model_validate_json(message.data)
    except ValidationError:
        logger.warning("malformed plate sighting on %s (msg_id %s) dropped", message.subject, message.msg_id)
        await message.ack()
        return
    try:
        await asyncio.to_thread(_match, session_factory, sighting)
    except SQLAlchemyError:
        logger.exception("sighting %s not matched against sections; redelivered later", sighting.id)
        await message.nak(delay=5.0)
        return
    await message.ack()


async def section_control_from_bus(
    *,
    bus: Bus,
    session_factory: sessionmaker[Session],
    stop: asyncio.Event,
    subject: str = "plates.sighting.>",
    durable: str = SECTIONS_DURABLE,
) -> None:
    """Match every plate sighting published on the bus against the sections ending at its camera, until
    `stop` is set: a durable consumer, so sightings published while the server was down are matched after.
    """
    subscription = await subscribe_when_ready(bus, subject, durable=durable, stop=stop)
    if subscription is None:
        return
    try:
        while not stop.is_set():
            message = await subscription.next(timeout=0.5)
            if message is not None:
                await _handle(message, session_factory)
    finally:
        await subscription.close()


# --- congestion of road segments --------------------------------------------------------------------


def _evaluate(session_factory: sessionmaker[Session], now: dt.datetime) -> list[traffic.TrafficAlert]:
    wanted: list[traffic.TrafficAlert] = []
    with session_factory() as session:
        for segment in traffic.all_segments(session=session):
            try:
                _, found = traffic.evaluate_segment(session=session, segment=segment, now=now)
                session.commit()
                wanted.extend(found)
            except SQLAlchemyError:
                session.rollback()
                logger.exception("segment %s could not be evaluated", segment.id)
    return wanted


async def evaluate_congestion(
    *, session_factory: sessionmaker[Session], bus: Bus, now: dt.datetime | None = None
) -> list[traffic.TrafficAlert]:
    """Evaluate every segment as of `now` (default: now; in a thread) and raise the alerts of jams and
    stopped lanes that began.
    """
    wanted = await asyncio.to_thread(_evaluate, session_factory, now or utcnow())
    for alert in wanted:
        try:
            await alerts.raise_and_publish(
                session_factory=session_factory,
                bus=bus,
                kind=alert.kind,
                severity=CONGESTION_SEVERITY,
                title=alert.title,
                source=SOURCE,
                camera_id=alert.camera_id,
                detail=alert.detail,
                dedup_key=alert.dedup_key,
            )
        except Exception:
            logger.exception("traffic alert %s not raised", alert.dedup_key)
    return wanted


async def run_congestion(
    *,
    session_factory: sessionmaker[Session],
    bus: Bus,
    stop: asyncio.Event,
    every_s: float = EVALUATE_EVERY_S,
) -> None:
    """Evaluate the segments every `every_s` seconds until `stop` is set; the first time one interval after
    start-up, when there is a fresh interval's traffic to judge (and start-up touches no segment).
    """
    await periodic.repeat(
        stop,
        every_s,
        lambda: evaluate_congestion(session_factory=session_factory, bus=bus),
        what="evaluating the segments' congestion",
    )
