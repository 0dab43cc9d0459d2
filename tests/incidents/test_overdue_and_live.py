"""Incidents that tell the room: a P1 waiting past its target raises one alert on the console (a real
database and bus, the flow the application runs), and committed changes reach the live incident feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, wait_until_async
from safecity.auth.principal import Principal
from safecity.core.bus.memory import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.events.alerts import service as alerts
from safecity.events.feed import AlertFeed
from safecity.incidents import feed as incident_feed
from safecity.incidents import flows
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident, IncidentEvent
from safecity.incidents.schemas import IncidentIn

TARGETS = {1: 60, 2: 180, 3: 600, 4: 1800}


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


def _world(factory: sessionmaker[Session]) -> tuple[uuid.UUID, uuid.UUID, Principal, Principal]:
    """A district with a call-taker and a supervisor; returns ids and principals."""
    with factory() as session:
        people = Factory(session, SecretBox("x" * 32, "mfa"))
        district = people.district()
        operator = people.principal(people.user("operator", districts=[district]))
        supervisor = people.principal(people.user("supervisor", districts=[district]))
        other = people.district()
        session.commit()
        return district.id, other.id, operator, supervisor


def _open(
    factory: sessionmaker[Session],
    principal: Principal,
    district_id: uuid.UUID,
    priority: int,
    waited: dt.timedelta,
) -> uuid.UUID:
    """An incident logged `waited` ago (as if the call came then) and committed."""
    with factory() as session:
        incident = incidents.create_incident(
            session=session,
            principal=principal,
            data=IncidentIn(district_id=district_id, category=Category.STREET_CRIME, priority=priority),
        )
        incident.created_at = utcnow() - waited
        session.commit()
        return incident.id


@pytest.mark.anyio
async def test_an_overdue_p1_raises_one_alert_on_the_supervisors_console(
    own_db: tuple[str, sessionmaker[Session]], bus: MemoryBus
) -> None:
    _, factory = own_db
    district_id, _, operator, supervisor = await asyncio.to_thread(_world, factory)
    waiting_p1 = await asyncio.to_thread(_open, factory, operator, district_id, 1, dt.timedelta(minutes=20))
    young_p3 = await asyncio.to_thread(_open, factory, operator, district_id, 3, dt.timedelta(minutes=2))
    console = AlertFeed(bus, durable="test-console")
    await console.start()
    stop = asyncio.Event()
    try:
        with console.listen(supervisor) as listener:
            flow = asyncio.create_task(
                flows.run_overdue(
                    session_factory=factory, bus=bus, targets_s=TARGETS, stop=stop, every_s=0.05
                )
            )
            item = await listener.next(timeout=10)
            assert item is not None, "no alert reached the console"
            assert item.value.kind == "incident.overdue" and item.value.severity == 4
            assert item.value.detail["incident_id"] == str(waiting_p1)
            assert "P1" in item.value.title and "no unit sent" in item.value.title
            # Several more rounds: the alert is raised once, and the young P3 is not late.
            await asyncio.sleep(0.4)
            assert await listener.next(timeout=0.2) is None
            stop.set()
            await flow
    finally:
        stop.set()
        await console.stop()

    def check() -> None:
        with factory() as session:
            raised = alerts.list_alerts(session=session, principal=supervisor, status=None, limit=50)
            assert [a.kind for a in raised] == ["incident.overdue"]
            kinds = session.scalars(
                select(IncidentEvent.kind).where(IncidentEvent.incident_id == waiting_p1)
            ).all()
            assert kinds.count("overdue") == 1
            young = session.get_one(Incident, young_p3)
            assert "overdue" not in [e.kind for e in young.events]

    await asyncio.to_thread(check)


def test_only_incidents_still_waiting_for_a_unit_are_overdue(factory: Factory, session: Session) -> None:
    district = factory.district()
    boss = factory.principal(factory.user("dispatcher", districts=[district]))
    dispatch.ensure_agencies(session=session)
    mobile = dispatch.create_unit(
        session=session,
        principal=boss,
        data=UnitIn(
            agency="police",
            call_sign=f"U-{uuid.uuid4().hex[:6]}",
            vehicle_registration="PSW-1",
            vehicle_type="car",
            district_id=district.id,
            status=UnitStatus.AVAILABLE,
        ),
    )
    sent, waiting = (
        incidents.create_incident(
            session=session,
            principal=boss,
            data=IncidentIn(district_id=district.id, category=Category.FIRE, priority=2),
        )
        for _ in range(2)
    )
    dispatch.assign(session=session, principal=boss, incident_id=sent.id, unit_id=mobile.id)
    later = utcnow() + dt.timedelta(minutes=30)
    raised = flows.raise_overdue(session=session, targets_s=TARGETS, now=later)
    assert [a.detail["incident_id"] for a in raised] == [str(waiting.id)]
    assert raised[0].severity == 3  # P2: high, not critical
    assert flows.raise_overdue(session=session, targets_s=TARGETS, now=later) == []  # once


@pytest.mark.anyio
async def test_committed_changes_reach_the_incident_feed_and_rolled_back_ones_do_not(
    own_db: tuple[str, sessionmaker[Session]], bus: MemoryBus
) -> None:
    _, factory = own_db
    district_id, other_id, operator, supervisor = await asyncio.to_thread(_world, factory)
    live = incident_feed.IncidentFeed(bus, durable="test-incidents")
    await live.start()
    stop_publishing = incident_feed.publish_after_commit(factory, bus, asyncio.get_running_loop())
    try:
        with live.listen(supervisor) as listener:
            incident_id = await asyncio.to_thread(_open, factory, operator, district_id, 2, dt.timedelta())
            item = await listener.next(timeout=10)
            assert item is not None and item.value.incident_id == incident_id

            def note(text: str, *, commit: bool) -> None:
                with factory() as session:
                    incidents.add_note(
                        session=session, principal=operator, incident_id=incident_id, text=text
                    )
                    session.commit() if commit else session.rollback()

            await asyncio.to_thread(note, "never happened", commit=False)
            assert await listener.next(timeout=0.3) is None
            await asyncio.to_thread(note, "caller rang again", commit=True)
            item = await listener.next(timeout=10)
            assert item is not None and item.value.incident_id == incident_id
        # Someone of another district hears nothing of it.
        stranger = Principal(
            user_id=uuid.uuid4(),
            username="stranger",
            permissions=frozenset({"incidents.read"}),
            district_ids=frozenset({other_id}),
        )
        with live.listen(stranger) as theirs:
            await asyncio.to_thread(note, "third call", commit=True)
            await wait_until_async(lambda: live.position.endswith("-3"))
            assert await theirs.next(timeout=0.2) is None
    finally:
        stop_publishing()
        await live.stop()
