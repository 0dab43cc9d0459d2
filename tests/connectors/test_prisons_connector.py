"""The prisons feed against a real HTTP feed on 127.0.0.1: each event is stored once by its id (a re-poll
from the last event's time stores nothing twice), an escape raises one critical alert to the prison's
district (on the supervisors' console, through the background loop), a malformed event is refused and the
rest kept, and a feed that hangs, fails, answers HTML or refuses us stores nothing and says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from safecity.connectors import flows
from safecity.connectors.base import (
    ConnectorBadResponse,
    ConnectorRefused,
    ConnectorTimeout,
    ConnectorUnavailable,
)
from safecity.connectors.hub import ConnectorHub
from safecity.connectors.models import ConnectorSetting
from safecity.connectors.prisons import service as prisons
from safecity.connectors.prisons.models import PrisonEvent
from safecity.connectors.prisons.sources import RestPrisons, RestPrisonsConfig
from safecity.core.bus.memory import MemoryBus
from safecity.core.crypto import SecretBox
from safecity.core.errors import InvalidInput
from safecity.events.alerts.models import Alert
from safecity.events.feed import AlertFeed
from safecity.org.models import District

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def event(remote_id: str, kind: str, at: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": remote_id,
        "cnic": "1730112345672",
        "name": "Gul Zaman",
        "prison": "Central Jail Peshawar",
        "event": kind,
        "at": at,
        **overrides,
    }


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service("/prisons/v1") as found:
        yield found


def feed(service: Service, **changes: object) -> RestPrisons:
    config = {
        "url": service.url,
        "token": TOKEN,
        "timeout_s": 0.4,
        "retries": 0,
        "breaker_failures": 5,
        **changes,
    }
    return RestPrisons(RestPrisonsConfig.model_validate(config))


def test_events_are_stored_once_and_an_escape_alerts_the_prisons_district(
    service: Service, session: Session, factory: Factory
) -> None:
    district = factory.district()
    service.answer(
        "events",
        [
            event("P-1", "released", "2026-12-05T08:00:00+05:00"),
            event(
                "P-2",
                "escaped",
                "2026-12-05T23:30:00Z",
                name="Sher Khan",
                cnic="17301-7654321-3",
                district=district.code,
            ),
            event("P-3", "escaped", "yesterday", name="Malformed Time"),
            event("P-4", "transferred", "2026-12-05T10:00:00Z", cnic="12345"),
        ],
    )
    source = feed(service)
    report, raised = prisons.poll(session=session, source=source, now=NOW)
    assert (report.new, report.known, report.refused, report.escapes) == (2, 0, 2, 1)
    assert service.requests[0].query == {"since": [(NOW - dt.timedelta(days=7)).isoformat()]}
    assert service.requests[0].authorisation == f"Bearer {TOKEN}"
    (alert,) = raised
    assert (alert.kind, alert.severity, alert.district_id) == ("prisons.escape", 4, district.id)
    assert "Sher Khan" in alert.title and "Central Jail Peshawar" in alert.title
    released = prisons.events_for(session=session, cnic="17301-1234567-2")
    assert [(e.event, e.at) for e in released] == [
        ("released", dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC))
    ]
    escaped = prisons.events_for(session=session, cnic="1730176543213")
    assert escaped[0].alert_id == alert.id and escaped[0].district_code == district.code
    # The next poll asks from the last event's time; what it answers again is known, not new.
    again, raised_again = prisons.poll(session=session, source=source, now=NOW)
    assert (again.new, again.known, raised_again) == (0, 2, [])
    assert service.requests[1].query == {"since": ["2026-12-05T23:30:00+00:00"]}
    assert session.scalars(select(Alert).where(Alert.kind == "prisons.escape")).all() == [
        session.get(Alert, alert.id)
    ]
    assert len(session.scalars(select(PrisonEvent)).all()) == 2


def test_a_malformed_cnic_asked_for_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        prisons.events_for(session=session, cnic="17301-1234567")
    assert refused.value.code == "bad_cnic"


@pytest.mark.parametrize(
    ("answer", "status", "delay", "error", "message"),
    [
        ([], 200, 2.0, ConnectorTimeout, "did not answer"),
        ("<html><h1>502 Bad Gateway</h1></html>", 200, 0, ConnectorBadResponse, "not JSON"),
        ('[{"id": "P-1", ', 200, 0, ConnectorBadResponse, "not JSON"),
        ({"events": []}, 200, 0, ConnectorBadResponse, "other than a list"),
        ({"error": "token expired"}, 401, 0, ConnectorRefused, "refused our credentials"),
        ({"error": "database down"}, 500, 0, ConnectorUnavailable, "HTTP 500"),
    ],
)
def test_a_failing_feed_stores_nothing_and_says_why(
    service: Service,
    session: Session,
    answer: Any,
    status: int,
    delay: float,
    error: type[Exception],
    message: str,
) -> None:
    service.answer("events", answer, status=status, delay_s=delay)
    source = feed(service)
    with pytest.raises(error, match=message):
        prisons.poll(session=session, source=source, now=NOW)
    assert session.scalars(select(PrisonEvent)).all() == []
    assert source.health().failures == 1 and source.health().last_error


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.mark.anyio
async def test_the_background_loop_polls_a_configured_feed_and_the_escape_reaches_the_console(
    service: Service, own_db: tuple[str, sessionmaker[Session]], bus: MemoryBus
) -> None:
    _, factory = own_db
    box = SecretBox("k" * 32, "connectors")

    def world() -> tuple[District, Any]:
        with factory() as session:
            people = Factory(session, SecretBox("k" * 32, "mfa"))
            district = people.district()
            supervisor = people.principal(people.user("supervisor", districts=[district]))
            session.add(
                ConnectorSetting(
                    name="IG Prisons",
                    type="prisons.rest",
                    config={"url": service.url, "poll_every_s": 1, "timeout_s": 1},
                    secrets={"token": box.encrypt(TOKEN)},
                    revision=1,
                )
            )
            session.commit()
            return district, supervisor

    district, supervisor = await asyncio.to_thread(world)
    service.answer("events", [event("E-9", "escaped", "2026-12-06T01:00:00Z", district=district.code)])
    console = AlertFeed(bus, durable="test-prisons-console")
    await console.start()
    stop = asyncio.Event()
    hub = ConnectorHub(box, factory)
    try:
        with console.listen(supervisor) as listener:
            loop = asyncio.create_task(flows.run(session_factory=factory, bus=bus, hub=hub, stop=stop))
            item = await listener.next(timeout=15)
            assert item is not None, "the escape did not reach the supervisor's console"
            assert item.value.kind == "prisons.escape" and item.value.district_id == district.id
            stop.set()
            await loop
    finally:
        stop.set()
        hub.close()
        await console.stop()
    assert service.requests[0].authorisation == f"Bearer {TOKEN}"

    def stored() -> list[str]:
        with factory() as session:
            return [e.remote_id for e in session.scalars(select(PrisonEvent))]

    assert await asyncio.to_thread(stored) == ["E-9"]
