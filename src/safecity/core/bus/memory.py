"""In-process bus for the embedded mode, with JetStream's semantics: streams, durable consumers, dedup."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field

from safecity.core.bus.base import STREAMS, Bus, BusError, Message, StreamSpec, Subscription

logger = logging.getLogger(__name__)


def _tokens(subject: str) -> tuple[str, ...]:
    """Split a subject or pattern into tokens, refusing empty ones (as NATS does)."""
    tokens = tuple(subject.split("."))
    if not subject or "" in tokens:
        raise BusError(f"invalid subject {subject!r}")
    return tokens


def _matches(pattern: tuple[str, ...], subject: tuple[str, ...]) -> bool:
    """Whether `pattern` (with `*` and `>`) covers `subject`; `subject` may itself hold wildcards."""
    for i, part in enumerate(pattern):
        if part == ">":
            return len(subject) > i
        if i >= len(subject):
            return False
        # `*` in the pattern covers one literal or `*`, never `>` (which may span several tokens).
        if part == "*" and subject[i] != ">":
            continue
        if part != subject[i]:
            return False
    return len(subject) == len(pattern)


@dataclass(frozen=True)
class _Stored:
    seq: int
    subject: str
    tokens: tuple[str, ...]
    data: bytes
    msg_id: str | None


class _Stream:
    """The messages of one stream, oldest dropped past `max_msgs`, and its recent msg ids."""

    def __init__(self, spec: StreamSpec, *, max_msgs: int, duplicate_window: float) -> None:
        self.spec = spec
        self.patterns = [_tokens(s) for s in spec.subjects]
        self._max_msgs = max_msgs
        self._duplicate_window = duplicate_window
        # Sequences are contiguous from first_seq to last_seq, so a dict gives O(1) lookup and drop.
        self._messages: dict[int, _Stored] = {}
        self.first_seq = 1
        self.last_seq = 0
        self._recent_ids: OrderedDict[str, float] = OrderedDict()
        self.consumers: dict[str, _Consumer] = {}
        self._changed = asyncio.Event()

    def covers(self, tokens: tuple[str, ...]) -> bool:
        """Whether this stream keeps `tokens` (a subject or a consumer's filter)."""
        return any(_matches(p, tokens) for p in self.patterns)

    def append(self, subject: str, tokens: tuple[str, ...], data: bytes, msg_id: str | None) -> None:
        """Store a message unless its id was seen within the duplicate window."""
        if msg_id is not None:
            now = time.monotonic()
            while self._recent_ids:
                oldest_id, seen = next(iter(self._recent_ids.items()))
                if now - seen < self._duplicate_window:
                    break
                del self._recent_ids[oldest_id]
            if msg_id in self._recent_ids:
                logger.debug("duplicate msg_id %s on %s suppressed", msg_id, subject)
                return
            self._recent_ids[msg_id] = now
        self.last_seq += 1
        self._messages[self.last_seq] = _Stored(self.last_seq, subject, tokens, data, msg_id)
        while len(self._messages) > self._max_msgs:
            del self._messages[self.first_seq]
            self.first_seq += 1
        self.notify()

    def get(self, seq: int) -> _Stored | None:
        """The message at `seq`, or None if it was dropped."""
        return self._messages.get(seq)

    def notify(self) -> None:
        """Wake every consumer waiting on this stream."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 (a poll, not a deadline)
        """Wait until something changes or `timeout` seconds pass."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


@dataclass
class _Pending:
    deliveries: int
    due: float  # monotonic time of redelivery unless acked first


@dataclass
class _Consumer:
    """A durable consumer: its position in the stream and its delivered, unacked messages."""

    stream: _Stream
    filter: tuple[str, ...]
    ack_wait: float
    next_seq: int = 1
    pending: dict[int, _Pending] = field(default_factory=dict)
    # (due, seq) per scheduled redelivery; entries left stale by an ack or nak are skipped when popped.
    timers: list[tuple[float, int]] = field(default_factory=list)

    def take(self, now: float) -> _MemoryMessage | None:
        """The oldest due redelivery, else the next new matching message, else None."""
        while self.timers and self.timers[0][0] <= now:
            due, seq = heapq.heappop(self.timers)
            entry = self.pending.get(seq)
            if entry is None or entry.due != due:
                continue
            stored = self.stream.get(seq)
            if stored is None:  # dropped by the stream's size limit: nothing left to redeliver
                del self.pending[seq]
                continue
            return self._deliver(stored, entry, now)
        seq = max(self.next_seq, self.stream.first_seq)
        while seq <= self.stream.last_seq:
            stored = self.stream.get(seq)
            seq += 1
            if stored is not None and _matches(self.filter, stored.tokens):
                self.next_seq = seq
                entry = self.pending[stored.seq] = _Pending(deliveries=0, due=now)
                return self._deliver(stored, entry, now)
        self.next_seq = seq
        return None

    def _deliver(self, stored: _Stored, entry: _Pending, now: float) -> _MemoryMessage:
        entry.deliveries += 1
        self.schedule(stored.seq, entry, now + self.ack_wait)
        return _MemoryMessage(self, stored, entry.deliveries)

    def schedule(self, seq: int, entry: _Pending, due: float) -> None:
        """Redeliver `seq` at `due` unless it is acked first."""
        entry.due = due
        heapq.heappush(self.timers, (due, seq))

    def next_due(self) -> float | None:
        """When the earliest scheduled redelivery falls, if any."""
        return self.timers[0][0] if self.timers else None


class _MemoryMessage(Message):
    def __init__(self, consumer: _Consumer, stored: _Stored, delivery: int) -> None:
        self._consumer = consumer
        self._seq = stored.seq
        self.subject = stored.subject
        self.data = stored.data
        self.msg_id = stored.msg_id
        self.delivery = delivery

    async def ack(self) -> None:
        """Mark the message done for this consumer; it is not delivered to it again."""
        self._consumer.pending.pop(self._seq, None)

    async def nak(self, delay: float = 0.0) -> None:
        """Ask for redelivery after `delay` seconds."""
        entry = self._consumer.pending.get(self._seq)
        if entry is not None:
            self._consumer.schedule(self._seq, entry, time.monotonic() + delay)
            self._consumer.stream.notify()


class _MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, consumer: _Consumer, *, name: str, ephemeral: bool) -> None:
        self._bus = bus
        self._consumer = consumer
        self._name = name
        self._ephemeral = ephemeral
        self._closed = False

    async def next(self, timeout: float = 1.0) -> Message | None:  # noqa: ASYNC109 (a poll, not a deadline)
        """The next message, or None if none arrived within `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            if self._closed or not self._bus.started:
                raise BusError("subscription closed")
            now = time.monotonic()
            message = self._consumer.take(now)
            if message is not None:
                return message
            wait = end - now
            if wait <= 0:
                return None
            due = self._consumer.next_due()
            if due is not None:
                wait = min(wait, max(due - now, 0.0))
            await self._consumer.stream.wait(wait)

    async def close(self) -> None:
        """Stop receiving; the durable consumer's position is kept (an ephemeral one is deleted)."""
        self._closed = True
        if self._ephemeral:
            consumers = self._consumer.stream.consumers
            if consumers.get(self._name) is self._consumer:
                del consumers[self._name]


class MemoryBus(Bus):
    """The bus inside one process; stored messages live as long as the object (not across restarts)."""

    def __init__(
        self,
        *,
        streams: Iterable[StreamSpec] = STREAMS,
        max_msgs: int = 100_000,
        duplicate_window: float = 120.0,
    ) -> None:
        self._specs = tuple(streams)
        self._max_msgs = max_msgs
        self._duplicate_window = duplicate_window
        self._streams: dict[str, _Stream] = {}
        self.started = False

    @property
    def connected(self) -> bool:
        """In-process: ready as soon as it is started."""
        return self.started

    @property
    def outlives_process(self) -> bool:
        """In-process: its messages end with the process."""
        return False

    async def start(self) -> None:
        """Create the bus's streams that are missing; existing ones keep their messages."""
        for spec in self._specs:
            if spec.name not in self._streams:
                self._streams[spec.name] = _Stream(
                    spec, max_msgs=self._max_msgs, duplicate_window=self._duplicate_window
                )
        self.started = True

    def _stream_for(self, tokens: tuple[str, ...], what: str) -> _Stream:
        if not self.started:
            raise BusError("bus not started")
        for stream in self._streams.values():
            if stream.covers(tokens):
                return stream
        raise BusError(f"no stream for {what} {'.'.join(tokens)!r}")

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        """Store a message; a second publish with the same `msg_id` within the window is suppressed."""
        tokens = _tokens(subject)
        if "*" in tokens or ">" in tokens:
            raise BusError(f"cannot publish to wildcard subject {subject!r}")
        self._stream_for(tokens, "subject").append(subject, tokens, data, msg_id)

    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0, ephemeral: bool = False
    ) -> Subscription:
        """Consume `subject` as `durable`; the first subscribe fixes the consumer's subject and ack_wait.

        An `ephemeral` consumer starts after the stream's latest message and is deleted when closed.
        """
        tokens = _tokens(subject)
        stream = self._stream_for(tokens, "subject filter")
        consumer = stream.consumers.get(durable)
        if consumer is None:
            start = stream.last_seq + 1 if ephemeral else 1
            consumer = stream.consumers[durable] = _Consumer(stream, tokens, ack_wait, next_seq=start)
        return _MemorySubscription(self, consumer, name=durable, ephemeral=ephemeral)

    async def close(self) -> None:
        """Stop the bus; its streams and consumers stay for a later `start()`."""
        self.started = False
