"""Demo vehicles: units patrol near where they are and drive to the incidents they are sent to.

Only for the demo (`dispatch.simulate_units`, which `make run` turns on): a real deployment hears its
units over MQTT or the API. The moves go through the same service calls a unit's reports go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.db import utcnow
from safecity.core.geo import haversine_m
from safecity.dispatch import service
from safecity.dispatch.models import Assignment, Unit, UnitStatus
from safecity.dispatch.positions import report_position
from safecity.incidents.models import Incident

logger = logging.getLogger(__name__)

SPEED_MPS = 12.0  # about 43 km/h through city traffic
ARRIVED_M = 40.0
PATROL_M = 60.0  # how far a patrolling unit wanders each step
DEGREE_M = 111_320.0  # metres in a degree of latitude


def _toward(lat: float, lon: float, to_lat: float, to_lon: float, metres: float) -> tuple[float, float]:
    """The point `metres` along the straight line from (lat, lon) towards (to_lat, to_lon), not past it."""
    distance = haversine_m(lat, lon, to_lat, to_lon)
    if distance <= metres:
        return to_lat, to_lon
    share = metres / distance
    return lat + (to_lat - lat) * share, lon + (to_lon - lon) * share


def step(*, session: Session, seconds: float, rng: random.Random) -> None:
    """Move every unit with a position by one time step: to its incident if sent, else a little patrol."""
    now = utcnow()
    # Positions are written by UPDATE statements: read them afresh, not from objects loaded earlier.
    query = select(Unit).where(Unit.latitude.is_not(None), Unit.longitude.is_not(None))
    for unit in session.scalars(query.execution_options(populate_existing=True)):
        lat, lon = float(unit.latitude or 0), float(unit.longitude or 0)
        if unit.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE):
            incident = session.scalars(
                select(Incident)
                .join(Assignment, Assignment.incident_id == Incident.id)
                .where(Assignment.unit_id == unit.id, Assignment.cleared_at.is_(None))
            ).first()
            if incident is None or incident.latitude is None or incident.longitude is None:
                continue
            lat, lon = _toward(lat, lon, incident.latitude, incident.longitude, SPEED_MPS * seconds)
            report_position(session=session, unit_id=unit.id, lat=lat, lon=lon, at=now)
            if haversine_m(lat, lon, incident.latitude, incident.longitude) <= ARRIVED_M:
                service.apply_status(
                    session=session,
                    unit=unit,
                    status=UnitStatus.ON_SCENE,
                    actor=service.unit_actor(unit.call_sign),
                )
        elif unit.status is UnitStatus.AVAILABLE:
            heading = rng.uniform(0, 2 * math.pi)
            lat += PATROL_M * math.cos(heading) / DEGREE_M
            lon += PATROL_M * math.sin(heading) / (DEGREE_M * math.cos(math.radians(lat)))
            report_position(session=session, unit_id=unit.id, lat=lat, lon=lon, at=now)


async def run(
    *, session_factory: sessionmaker[Session], stop: asyncio.Event, interval_s: float = 3.0
) -> None:
    """Move the demo units every `interval_s` seconds until `stop` is set."""
    rng = random.Random()  # noqa: S311 - a demo's wandering, not security

    def one_step() -> None:
        with session_factory() as session:
            step(session=session, seconds=interval_s, rng=rng)
            session.commit()

    while not stop.is_set():
        try:
            await asyncio.to_thread(one_step)
        except Exception:  # the demo keeps going; the next step retries
            logger.exception("demo units could not move")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
