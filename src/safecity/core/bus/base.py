"""The event bus contract: durable, at-least-once, duplicate-suppressing publish/subscribe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    """A named stream and the subjects it keeps (NATS wildcards: `*` one token, `>` the rest)."""

    name: str
    subjects: tuple[str, ...]


# The streams safecity keeps. Domains publish under these prefixes; later domains add theirs here.
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("EVENTS", ("events.>",)),
    StreamSpec("ALERTS", ("alerts.>",)),
    StreamSpec("CAMERAS", ("cameras.>",)),
    StreamSpec("AUDIT", ("audit.>",)),
    StreamSpec("PLATES", ("plates.>",)),
    StreamSpec("INCIDENTS", ("incidents.>",)),
    StreamSpec("FORENSICS", ("forensics.>",)),
    StreamSpec("FACES", ("faces.>",)),
    # At a province: what the district centres send (`federation.<centre>.<kind>`).
    StreamSpec("FEDERATION", ("federation.>",)),
)


# How long a process's own (ephemeral) consumer may go unused before the server deletes it: long enough to
# ride out a NATS restart or a paused process, short enough that dead web nodes' consumers do not pile up.
EPHEMERAL_IDLE_S = 3600.0


class BusError(Exception):
    """The bus could not do what was asked (not started, no stream for a subject, server unreachable)."""


class Message(ABC):
    """One delivered message; it is redelivered until acknowledged."""

    subject: str
    data: bytes
    msg_id: str | None
    delivery: int  # 1 on first delivery, more on redelivery

    @abstractmethod
    async def ack(self) -> None:
        """Mark the message done for this consumer; it is not delivered to it again."""

    @abstractmethod
    async def nak(self, delay: float = 0.0) -> None:
        """Ask for redelivery after `delay` seconds."""


class Subscription(ABC):
    """A durable consumer's view of a stream: it resumes where it stopped, across restarts."""

    @abstractmethod
    async def next(self, timeout: float = 1.0) -> Message | None:  # noqa: ASYNC109 (a poll, not a deadline)
        """The next message, or None if none arrived within `timeout` seconds."""

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self.next()
            if message is not None:
                yield message

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving; the durable consumer's position is kept."""


class Bus(ABC):
    """Publish/subscribe with durable consumers, at-least-once delivery and de-duplication by id."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the bus can take messages now (for readiness checks)."""

    @property
    @abstractmethod
    def outlives_process(self) -> bool:
        """Whether a published message is kept outside this process (by a server), through its crash."""

    @abstractmethod
    async def start(self) -> None:
        """Connect and create the bus's streams (`STREAMS` unless told otherwise) if they are missing."""

    @abstractmethod
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        """Store a message durably; a second publish with the same `msg_id` is suppressed."""

    async def publish_many(self, items: Iterable[tuple[str, bytes, str | None]]) -> None:
        """Store each `(subject, data, msg_id)`; returns once all are stored (order kept unless retried)."""
        for subject, data, msg_id in items:
            await self.publish(subject, data, msg_id=msg_id)

    @abstractmethod
    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0, ephemeral: bool = False
    ) -> Subscription:
        """Consume `subject` as the durable consumer `durable`; unacked messages return after `ack_wait` s.

        Consumers of one name share the messages (each goes to one of them). An `ephemeral` consumer is
        one process's own (a live feed fanning out to its browsers): it starts at the messages published
        from then on, is deleted when closed, and the server forgets it once unused for `EPHEMERAL_IDLE_S`
        (a process that died leaves nothing behind).
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections; stored messages are kept (by the server, for NATS)."""


async def subscribe_when_ready(
    bus: Bus, subject: str, *, durable: str, stop: asyncio.Event, ack_wait: float = 30.0
) -> Subscription | None:
    """Subscribe, asking again every second while the bus refuses (a server away, no stream yet), so a
    consumer started with the web process never keeps it down; None once `stop` is set first.
    """
    while True:
        try:
            return await bus.subscribe(subject, durable=durable, ack_wait=ack_wait)
        except BusError as exc:
            logger.warning("%s cannot subscribe to %s yet, retrying: %s", durable, subject, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if stop.is_set():
                return None
