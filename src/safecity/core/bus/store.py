"""A store's consumer: reads a subject in batches, commits each batch, and only then acknowledges it.

At-least-once from the bus plus inserts that skip ids already stored (the store's `commit`) give each
record exactly once in the database, through redeliveries, restarts and consumers killed mid-batch. While
the database is away nothing is acknowledged: the batch is handed back, the consumer waits longer after
each failure (up to `RETRY_MAX_S`), and the messages stay in the stream until the database takes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from safecity.core.bus.base import Bus, BusError, Message, Subscription, subscribe_when_ready

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FIRST_S = 1.0  # the pause after a first failure; doubled after each further one
RETRY_MAX_S = 30.0
# Errors that say a record itself is unstorable (an unknown district, a value the column refuses):
# retrying cannot help, so such a record is logged and dropped rather than redelivered forever.
REFUSED = (IntegrityError, DataError)


@dataclass(frozen=True)
class StoreConsumer(Generic[T]):
    """How one store reads the bus: what a message is, how a batch is committed, what to call a record.

    Args:
        what: the records' name in logs ("event", "plate sighting").
        parse: a message's data as a record; raises ValidationError for a malformed one (dropped).
        commit: stores a batch in one transaction, skipping ids already stored; returns how many were new.
            Blocking: it runs in a worker thread, never on the event loop.
        key: a record's id, for logs (never its content, which may be personal data).
    """

    what: str
    parse: Callable[[bytes], T]
    commit: Callable[[list[T]], int]
    key: Callable[[T], object]

    async def run(
        self,
        *,
        bus: Bus,
        subject: str,
        durable: str,
        stop: asyncio.Event,
        batch_size: int = 500,
        max_wait: float = 0.2,
        ack_wait: float = 30.0,
    ) -> None:
        """Store what arrives on `subject` as the durable consumer `durable` until `stop` is set.

        The consumer is shared by name: every process that runs it takes a part of the messages.
        """
        subscription = await subscribe_when_ready(bus, subject, durable=durable, stop=stop, ack_wait=ack_wait)
        if subscription is None:
            return
        failures = 0
        try:
            while not stop.is_set():
                messages = await next_batch(subscription, batch_size=batch_size, max_wait=max_wait, stop=stop)
                if not messages:
                    continue
                if await self._store_batch(messages, failures=failures):
                    failures = 0
                else:
                    failures += 1
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), _pause(failures))
        finally:
            await subscription.close()

    async def _store_batch(self, messages: list[Message], *, failures: int) -> bool:
        """Store the batch's valid records, then acknowledge them; False if the database failed (the
        messages are handed back for redelivery).
        """
        parsed: list[tuple[Message, T]] = []
        for message in messages:
            try:
                parsed.append((message, self.parse(message.data)))
            except ValidationError as exc:
                # Field locations and error types only: the message's values may hold personal data.
                problems = sorted(
                    {f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in exc.errors()}
                )
                logger.warning(
                    "malformed %s on %s (msg_id %s) dropped: %s",
                    self.what,
                    message.subject,
                    message.msg_id,
                    problems,
                )
                await message.ack()
        if not parsed:
            return True
        try:
            stored = await asyncio.to_thread(self.commit, [record for _, record in parsed])
            logger.debug("stored %s new %ss of %s", stored, self.what, len(parsed))
        except REFUSED:
            # Some record is unstorable: find it, so that it cannot hold up the rest of the batch.
            logger.warning("a batch of %s %ss was refused; storing them one by one", len(parsed), self.what)
            return await self._store_one_by_one(parsed, failures=failures)
        except SQLAlchemyError as exc:
            await self._hand_back([m for m, _ in parsed], exc, failures=failures)
            return False
        for message, _ in parsed:
            await message.ack()
        return True

    async def _store_one_by_one(self, parsed: list[tuple[Message, T]], *, failures: int) -> bool:
        for index, (message, record) in enumerate(parsed):
            try:
                await asyncio.to_thread(self.commit, [record])
            except REFUSED as exc:
                logger.error(
                    "%s %s refused by the database, dropped: %s", self.what, self.key(record), exc.orig
                )
            except SQLAlchemyError as exc:
                await self._hand_back([m for m, _ in parsed[index:]], exc, failures=failures)
                return False
            await message.ack()
        return True

    async def _hand_back(self, messages: list[Message], exc: SQLAlchemyError, *, failures: int) -> None:
        """Ask for the messages again once the pause after this failure is over."""
        pause = _pause(failures + 1)
        # The driver's message only: SQLAlchemy's own text would quote the parameters, i.e. the records.
        logger.error(
            "the database could not store %s %ss (%s: %s); delivered again in %.0f s",
            len(messages),
            self.what,
            type(exc).__name__,
            getattr(exc, "orig", None),
            pause,
        )
        for message in messages:
            await message.nak(delay=pause)


def _pause(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row: 1, 2, 4 … up to RETRY_MAX_S."""
    return float(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(failures - 1, 0)))


async def next_batch(
    subscription: Subscription, *, batch_size: int, max_wait: float, stop: asyncio.Event
) -> list[Message]:
    """Up to `batch_size` messages, waiting at most `max_wait` s after the first for the rest."""
    loop = asyncio.get_running_loop()
    messages: list[Message] = []
    deadline: float | None = None
    while len(messages) < batch_size and not stop.is_set():
        timeout = max_wait if deadline is None else deadline - loop.time()
        if timeout <= 0:
            break
        message = await subscription.next(timeout=timeout)
        if message is None:
            if messages:
                break
            continue  # idle: look at `stop` again, then keep waiting
        if deadline is None:
            deadline = loop.time() + max_wait
        messages.append(message)
    return messages


def store_here(*, bus: Bus, store: Callable[[], object], what: str, key: str) -> bool:
    """Store a record at once where the bus keeps messages only in this process (the embedded mode);
    whether it was stored. Blocking: call it in the thread that made the record (one thread hop, not two).

    On a bus that outlives the process (NATS) it stores nothing: the store's consumer will.
    """
    if bus.outlives_process:
        return False
    try:
        store()
    except SQLAlchemyError as exc:
        # This process's store consumer stores it from the bus once the database is back.
        logger.warning("%s %s not stored now (%s); left to the bus", what, key, type(exc).__name__)
        return False
    return True


async def hand_over(
    *,
    bus: Bus,
    subject: str,
    msg_id: str,
    data: bytes,
    store: Callable[[], object],
    stored: bool,
    what: str,
) -> None:
    """Publish a record (with id `msg_id`) as `data` on `subject`, after `store_here` (`stored`: its answer).

    On NATS the record is published only: the store's consumer stores it, however long the database is
    away; if the bus refuses it, it is stored directly (`store`, blocking, in a thread). On the in-process
    bus it was stored first, as the embedded mode always did, or it waits on the bus for this process's
    store consumer. Raises BusError or SQLAlchemyError only when both paths failed.
    """
    try:
        await bus.publish(subject, data, msg_id=msg_id)
    except BusError:
        if stored:
            logger.warning("%s %s stored but not published", what, msg_id)
            return
        logger.warning("%s %s could not be published; stored directly", what, msg_id)
        await asyncio.to_thread(store)
