"""The demo's vehicles: a unit sent to an incident drives there and reports itself on scene."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from dispatch_world import QISSA_KHWANI, SADDAR, dispatcher, incident, unit
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.core.db import utcnow
from safecity.core.geo import haversine_m
from safecity.dispatch import positions, simulator
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Unit, UnitStatus
from safecity.incidents.models import Status


def _parked_at(session: Session, car: Unit, place: tuple[float, float]) -> Unit:
    """The unit's last report: at `place` a minute ago (the simulator reports with the real clock)."""
    a_minute_ago = utcnow() - dt.timedelta(minutes=1)
    positions.report_position(session=session, unit_id=car.id, lat=place[0], lon=place[1], at=a_minute_ago)
    session.refresh(car)
    return car


def test_a_dispatched_unit_drives_to_the_incident_and_arrives(session: Session, factory: Factory) -> None:
    district = factory.district()
    desk = dispatcher(districts=frozenset({district.id}))
    call = incident(session, desk, district.id, QISSA_KHWANI)
    car = _parked_at(session, unit(session, desk, district.id), SADDAR)
    assignment = dispatch.assign(session=session, principal=desk, incident_id=call.id, unit_id=car.id)
    start = haversine_m(SADDAR[0], SADDAR[1], *QISSA_KHWANI)

    rng = random.Random(7)
    simulator.step(session=session, seconds=10, rng=rng)
    session.refresh(car)
    closer = haversine_m(car.latitude or 0, car.longitude or 0, *QISSA_KHWANI)
    assert start - closer == pytest.approx(simulator.SPEED_MPS * 10, rel=0.05)

    for _ in range(60):  # about 2.2 km at 12 m/s in 10 s steps
        simulator.step(session=session, seconds=10, rng=rng)
    session.expire_all()
    assert car.status is UnitStatus.ON_SCENE
    assert assignment.arrived_at is not None
    assert call.status is Status.ON_SCENE


def test_an_available_unit_patrols_nearby(session: Session, factory: Factory) -> None:
    district = factory.district()
    desk = dispatcher(districts=frozenset({district.id}))
    car = _parked_at(session, unit(session, desk, district.id), SADDAR)
    simulator.step(session=session, seconds=3, rng=random.Random(1))
    session.refresh(car)
    moved = haversine_m(car.latitude or 0, car.longitude or 0, *SADDAR)
    assert 0 < moved <= simulator.PATROL_M + 1
