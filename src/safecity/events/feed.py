"""Live feeds: one bus consumer per process and subject, fanned out to every connected browser in its scope.

The alert feed carries alerts and their acknowledgements; the event feed carries analytics events. Each
browser gets a bounded queue of its own that drops the oldest when it falls behind, so a slow
connection never holds up the others. Every item carries a position (`<epoch>-<seq>`); a browser that
reconnects with the last one it saw gets what it missed from a short replay ring, or is told to resync
(reload its list) when the gap cannot be filled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import socket
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from safecity.auth.principal import Principal
from safecity.core.bus.base import Bus, BusError, Message, Subscription
from safecity.core.db import utcnow
from safecity.events.alerts.schemas import AlertOut
from safecity.events.alerts.service import READ
from safecity.events.schemas import EventOut

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0  # an SSE comment this often keeps proxies from closing an idle stream
RECONNECT_MS = 1000  # how soon a browser reconnects after the stream ends (EventSource's `retry`)
BUS_RETRY_SECONDS = 1.0
POSITION = r"^[0-9a-f]{1,16}-[0-9]{1,20}$"  # a feed position: <epoch>-<seq>
EVENTS_SUBJECT = "events.analytics.>"  # the analytics publish each event on events.analytics.<camera_id>

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class FeedTuning:
    """How many items each listener queues and the replay ring keeps; how old an item may be to push."""

    queue_size: int = 256
    replay_size: int = 1024
    max_age: float = 120.0


DEFAULT_TUNING = FeedTuning()


@dataclass(frozen=True)
class FeedItem(Generic[T]):
    """One change (an alert's new state, an event) as the feed hands it out."""

    seq: int
    position: str  # "<epoch>-<seq>": the SSE event id, sent back by a reconnecting browser
    value: T
    data: str  # the value as JSON, serialised once for every listener


class Listener(Generic[T]):
    """One connected browser: a bounded queue that drops its oldest item when full."""

    def __init__(self, principal: Principal, size: int, visible: Callable[[Principal, T], bool]) -> None:
        self.principal = principal
        self._visible = visible
        self.dropped = 0
        self.closed = False
        self._queue: deque[FeedItem[T]] = deque(maxlen=size)
        self._wake = asyncio.Event()
        self._resync = False

    def offer(self, item: FeedItem[T]) -> None:
        """Queue the item if the principal may see it; never blocks."""
        if not self._visible(self.principal, item.value):
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            self._resync = True  # the browser missed something: it must reload its list
        self._queue.append(item)
        self._wake.set()

    def ask_resync(self) -> None:
        """Tell the browser to reload its list before the next item."""
        self._resync = True
        self._wake.set()

    def take_resync(self) -> bool:
        """Whether the browser must reload its list (asked once)."""
        resync, self._resync = self._resync, False
        return resync

    async def next(self, timeout: float) -> FeedItem[T] | None:  # noqa: ASYNC109 (a poll, not a deadline)
        """The next queued item, or None if none came within `timeout` seconds (or the feed stopped)."""
        if not self._queue and not self.closed:
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """End this listener's stream."""
        self.closed = True
        self._wake.set()


class Feed(Generic[T]):
    """The process's hub for one subject: reads it as the durable consumer `durable` and fans it out.

    Args:
        bus: where the items are published.
        durable: the name of this process's own consumer (`consumer_name`): unique to the process.
        subject: what to read (NATS wildcards).
        model: the items' type; a message that does not parse as one is logged and dropped.
        visible: whether a principal may see an item.
        changed_at: when an item last changed; items older than `max_age` seconds are not pushed.
        event_name: the SSE `event:` field of the items.
        tuning: how much each listener and the replay ring hold, and how old an item may be to be pushed.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        durable: str,
        subject: str,
        model: type[T],
        visible: Callable[[Principal, T], bool],
        changed_at: Callable[[T], dt.datetime],
        event_name: str,
        tuning: FeedTuning = DEFAULT_TUNING,
    ) -> None:
        self._bus = bus
        self._durable = durable
        self._subject = subject
        self._model = model
        self._visible = visible
        self._changed_at = changed_at
        self.event_name = event_name
        self._queue_size = tuning.queue_size
        # Items older than this (redelivered after an outage, say) are history, which browsers load
        # from the database, not news to push.
        self._max_age = dt.timedelta(seconds=tuning.max_age)
        self._epoch = uuid.uuid4().hex[:8]  # positions of an earlier process mean nothing to this one
        self._seq = 0
        self._recent: deque[FeedItem[T]] = deque(maxlen=tuning.replay_size)
        self._listeners: set[Listener[T]] = set()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def position(self) -> str:
        """The position after the latest item: a page rendered now resumes its stream from here."""
        return f"{self._epoch}-{self._seq}"

    @property
    def listener_count(self) -> int:
        """How many browsers are connected."""
        return len(self._listeners)

    async def start(self) -> None:
        """Subscribe and start fanning out (does nothing if started already).

        A bus that refuses the subscription (no stream for the subject yet, a server away) is asked
        again in the background: a live feed that cannot start must not keep the web process down.
        """
        if self._task is not None:
            return
        try:
            self._subscription = await self._subscribe()
        except BusError as exc:
            logger.warning(
                "feed %s cannot subscribe to %s yet, retrying: %s", self._durable, self._subject, exc
            )
        self._task = asyncio.create_task(self._run(), name=f"feed {self._durable}")
        logger.info("feed %s started on %s", self._durable, self._subject)

    async def stop(self) -> None:
        """Stop reading the bus and end every listener's stream."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        for listener in self._listeners:
            listener.close()

    @contextmanager
    def listen(self, principal: Principal, *, after: str | None = None) -> Iterator[Listener[T]]:
        """A listener for the principal while the block runs; `after` resumes from a position it saw."""
        listener = Listener(principal, self._queue_size, self._visible)
        if after is not None:
            missed = self._since(after)
            if missed is None:
                listener.ask_resync()
            else:
                for item in missed:
                    listener.offer(item)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    def _since(self, position: str) -> list[FeedItem[T]] | None:
        """The items after `position`, or None if they are not all here any more (or never were)."""
        epoch, _, seq_text = position.partition("-")
        if epoch != self._epoch or not seq_text.isdecimal():
            return None
        seq = int(seq_text)
        oldest = self._recent[0].seq if self._recent else self._seq + 1
        if not oldest - 1 <= seq <= self._seq:
            return None
        return [item for item in self._recent if item.seq > seq]

    async def _subscribe(self) -> Subscription:
        # This process's own consumer: every web node gets every item (a consumer shared by name would
        # hand each item to one node only, and the operators on the others would never see it).
        return await self._bus.subscribe(self._subject, durable=self._durable, ephemeral=True)

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                if self._subscription is None:
                    self._subscription = await self._subscribe()
                message = await self._subscription.next(timeout=5.0)
            except BusError as exc:
                # A consumer the server dropped (idle past its limit while this process was cut off)
                # is made again on the next round.
                old, self._subscription = self._subscription, None
                if old is not None:
                    await old.close()
                if not failing:
                    logger.warning("feed %s cannot read the bus, retrying: %s", self._durable, exc)
                    failing = True
                await asyncio.sleep(BUS_RETRY_SECONDS)
                continue
            if failing:
                logger.info("feed %s reads the bus again", self._durable)
                failing = False
            if message is None:
                continue
            try:
                self._dispatch(message)
            except Exception:  # a bug must cost one message, not every operator's live feed
                logger.exception("feed %s failed on msg_id %s", self._durable, message.msg_id)
            await message.ack()

    def _dispatch(self, message: Message) -> None:
        try:
            value = self._model.model_validate_json(message.data)
        except ValidationError as exc:
            # Field locations and error types only: the values may hold personal data.
            problems = sorted(
                {f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in exc.errors()}
            )
            logger.warning(
                "malformed %s on %s (msg_id %s) dropped: %s",
                self.event_name,
                message.subject,
                message.msg_id,
                problems,
            )
            return
        changed_at = self._changed_at(value)
        if utcnow() - changed_at > self._max_age:
            logger.debug(
                "%s on %s from %s is history, not pushed", self.event_name, message.subject, changed_at
            )
            return
        self._seq += 1
        item = FeedItem(self._seq, f"{self._epoch}-{self._seq}", value, value.model_dump_json())
        self._recent.append(item)
        for listener in self._listeners:
            listener.offer(item)


def _readable(principal: Principal, item: AlertOut | EventOut) -> bool:
    return principal.can(READ) and principal.sees_district(item.district_id)


def _alert_changed_at(alert: AlertOut) -> dt.datetime:
    """When the alert last changed: raised again, handled, or escalated."""
    return max(t for t in (alert.raised_at, alert.acknowledged_at, alert.escalated_at) if t is not None)


class AlertFeed(Feed[AlertOut]):
    """Alerts and their acknowledgements (`alerts.>`), to whoever may read alerts in their district."""

    def __init__(self, bus: Bus, *, durable: str, tuning: FeedTuning = DEFAULT_TUNING) -> None:
        super().__init__(
            bus,
            durable=durable,
            subject="alerts.>",
            model=AlertOut,
            visible=_readable,
            changed_at=_alert_changed_at,
            event_name="alert",
            tuning=tuning,
        )


class EventFeed(Feed[EventOut]):
    """Analytics events as they fire (`events.analytics.>`), to whoever may read alerts in their district."""

    def __init__(self, bus: Bus, *, durable: str, tuning: FeedTuning = DEFAULT_TUNING) -> None:
        super().__init__(
            bus,
            durable=durable,
            subject=EVENTS_SUBJECT,
            model=EventOut,
            visible=_readable,
            changed_at=lambda event: event.occurred_at,
            event_name="event",
            tuning=tuning,
        )


def consumer_name(prefix: str = "alert-feed") -> str:
    """A consumer name of this process alone: its host, and a random part, since several web processes
    may run on one host (uvicorn --workers, or two ports behind a proxy) and each must get every item.
    """
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]', '_', socket.gethostname())[:40]}-{uuid.uuid4().hex[:12]}"


async def sse_stream(
    feed: Feed[Any],
    principal: Principal,
    *,
    after: str | None = None,
    max_seconds: float = 300.0,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """Server-Sent Events of the items the principal may see, until `max_seconds` pass or the feed stops.

    The stream ends after `max_seconds` so that the browser reconnects and its login is checked again;
    the reconnect resumes from the last event id, so nothing is lost in between.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + max_seconds
    with feed.listen(principal, after=after) as listener:
        yield f"retry: {RECONNECT_MS}\n: connected\n\n"
        next_beat = loop.time() + heartbeat
        while not listener.closed:
            if listener.take_resync():
                yield "event: resync\ndata: {}\n\n"
            now = loop.time()
            if now >= end:
                return
            if now >= next_beat:
                yield ": heartbeat\n\n"
                next_beat = now + heartbeat
            item = await listener.next(timeout=min(end, next_beat) - now)
            if item is not None:
                yield f"id: {item.position}\nevent: {feed.event_name}\ndata: {item.data}\n\n"


# The query parameters and OpenAPI response of every SSE endpoint.
After = Annotated[str | None, Query(pattern=POSITION, description="resume after this feed position")]
MaxSeconds = Annotated[float, Query(gt=0, le=3600, description="end the stream after this long")]
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}
}


def sse_response(
    feed: Feed[Any], principal: Principal, request: Request, *, after: str | None, max_seconds: float
) -> StreamingResponse:
    """The feed as an SSE response, resuming after the reconnecting browser's Last-Event-ID (or `after`)."""
    resume = request.headers.get("last-event-id") or after
    return StreamingResponse(
        sse_stream(feed, principal, after=resume, max_seconds=max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy may hold events back
    )
