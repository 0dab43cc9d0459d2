"""The live analytics event feed: what the pipeline publishes reaches the browsers of its district only."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from safecity.auth.principal import Principal
from safecity.core.bus.memory import MemoryBus
from safecity.core.db import utcnow
from safecity.events.feed import EventFeed, FeedItem, FeedTuning, Listener, sse_stream
from safecity.events.models import Severity
from safecity.events.schemas import EventOut


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def feed(bus: MemoryBus) -> AsyncIterator[EventFeed]:
    feed = EventFeed(bus, durable="test-event-feed", tuning=FeedTuning(queue_size=5, replay_size=8))
    await feed.start()
    yield feed
    await feed.stop()


def viewer(
    districts: frozenset[uuid.UUID] | None, permissions: frozenset[str] = frozenset({"alerts.read"})
) -> Principal:
    return Principal(user_id=uuid.uuid4(), username="viewer", permissions=permissions, district_ids=districts)


def line_event(district_id: uuid.UUID | None, **overrides: Any) -> EventOut:
    """An event as the pipeline publishes it (EventOut JSON on events.analytics.<camera_id>)."""
    camera_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "occurred_at": utcnow(),
        "kind": "analytics.line_crossing",
        "source": "analytics",
        "district_id": district_id,
        "camera_id": camera_id,
        "severity": Severity.MEDIUM,
        "payload": {"rule_name": "Gate line", "camera_name": "Chowk", "snapshot": f"{camera_id}/x.jpg"},
    }
    return EventOut.model_validate({**fields, **overrides})


async def publish(bus: MemoryBus, event: EventOut) -> None:
    await bus.publish(
        f"events.analytics.{event.camera_id}", event.model_dump_json().encode(), msg_id=str(event.id)
    )


async def drain(listener: Listener[EventOut], wait: float = 0.15) -> list[FeedItem[EventOut]]:
    got = []
    while (item := await listener.next(timeout=wait)) is not None:
        got.append(item)
    return got


@pytest.mark.anyio
async def test_each_listener_gets_the_events_of_its_districts(bus: MemoryBus, feed: EventFeed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    in_a, in_b = line_event(a), line_event(b)
    with (
        feed.listen(viewer(frozenset({a}))) as only_a,
        feed.listen(viewer(frozenset({b}))) as only_b,
        feed.listen(viewer(None)) as everywhere,
        feed.listen(viewer(None, frozenset({"cameras.read"}))) as no_alerts,
    ):
        for event in (in_a, in_b, in_a):  # the last is the same message again: suppressed by its id
            await publish(bus, event)
        assert [i.value.id for i in await drain(only_a)] == [in_a.id]
        assert [i.value.id for i in await drain(only_b)] == [in_b.id]
        assert [i.value.id for i in await drain(everywhere)] == [in_a.id, in_b.id]
        assert await drain(no_alerts, wait=0.05) == []
    assert feed.listener_count == 0


@pytest.mark.anyio
async def test_history_and_malformed_events_are_not_pushed(bus: MemoryBus, feed: EventFeed) -> None:
    with feed.listen(viewer(None)) as listener:
        await publish(bus, line_event(None, occurred_at=utcnow() - dt.timedelta(hours=1)))
        await bus.publish("events.analytics.junk", b'{"id": "not an event"}', msg_id="junk-1")
        fresh = line_event(None)
        await publish(bus, fresh)
        assert [i.value.id for i in await drain(listener)] == [fresh.id]


@pytest.mark.anyio
async def test_the_stream_sends_events_as_event_messages(bus: MemoryBus, feed: EventFeed) -> None:
    a = uuid.uuid4()
    chunks: list[str] = []
    async for chunk in sse_stream(feed, viewer(frozenset({a})), max_seconds=0.5, heartbeat=0.2):
        chunks.append(chunk)
        if len(chunks) == 1:
            await publish(bus, line_event(uuid.uuid4()))  # another district's: not sent
            await publish(bus, line_event(a, payload={"rule_name": "Roof", "snapshot": "c/roof.jpg"}))
    (message,) = [c for c in chunks if c.startswith("id: ")]
    event_id, kind, data = message.rstrip("\n").split("\n")
    assert event_id == f"id: {feed.position}" and kind == "event: event"
    sent = json.loads(data.removeprefix("data: "))
    assert sent["district_id"] == str(a) and sent["payload"]["rule_name"] == "Roof" and sent["camera_id"]


@pytest.mark.anyio
async def test_a_feed_whose_subject_has_no_stream_does_not_stop_the_app() -> None:
    bus = MemoryBus(streams=())  # no stream keeps events.analytics.>: subscribing is refused
    await bus.start()
    feed = EventFeed(bus, durable="test-no-stream")
    await feed.start()  # logs and keeps trying, instead of failing the web process's start
    with feed.listen(viewer(None)) as listener:
        assert await listener.next(timeout=0.05) is None
    await feed.stop()
    await bus.close()
