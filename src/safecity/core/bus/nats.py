"""The bus over NATS JetStream: file-backed streams, durable pull consumers, retries through restarts."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck, StorageType, StreamConfig

from safecity.core.bus.base import (
    EPHEMERAL_IDLE_S,
    STREAMS,
    Bus,
    BusError,
    Message,
    StreamSpec,
    Subscription,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MSG_ID_HEADER = "Nats-Msg-Id"

# Failures that a reconnect or a restarting server explains; anything else is reported at once.
_TRANSIENT: tuple[type[Exception], ...] = (
    TimeoutError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.TooManyStalledMsgsError,
)
_FIRST_PAUSE = 0.05
_MAX_PAUSE = 1.0
_MIN_FETCH = 0.01  # below this a pull request would expire before the server could answer
# Messages fetched per pull request at most. Their ack_wait runs from delivery, so a consumer should
# handle this many well within its ack_wait (the stores handle hundreds per commit).
FETCH_BATCH = 100
# Publishes in flight per publish_many window; under nats-py's cap of 4000, so publish_async never stalls
# (its stall timeout would cost a task per message) and every window's futures are settled or cancelled.
_WINDOW = 1000


def _where(url: str) -> str:
    """Host and port of `url`, for logs and errors (credentials in the URL stay out)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 4222}"


class _NatsMessage(Message):
    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.subject = msg.subject
        self.data = msg.data
        self.msg_id = msg.headers.get(MSG_ID_HEADER) if msg.headers else None
        self.delivery = msg.metadata.num_delivered

    async def ack(self) -> None:
        """Mark the message done for this consumer; it is not delivered to it again."""
        await self._reply(self._msg.ack(), "ack")

    async def nak(self, delay: float = 0.0) -> None:
        """Ask for redelivery after `delay` seconds."""
        await self._reply(self._msg.nak(delay=delay), "nak")

    async def _reply(self, reply: Awaitable[None], what: str) -> None:
        try:
            await reply
        except nats.errors.MsgAlreadyAckdError:
            pass  # a second ack or nak changes nothing, as on the memory bus
        except nats.errors.Error as exc:
            # An ack lost in a reconnect only means one more delivery: at-least-once still holds.
            logger.warning("%s of %s on %s lost, to be redelivered: %s", what, self.msg_id, self.subject, exc)


class _NatsSubscription(Subscription):
    def __init__(
        self,
        psub: JetStreamContext.PullSubscription,
        subject: str,
        durable: str,
        *,
        js: JetStreamContext,
        ephemeral: bool,
    ) -> None:
        self._psub = psub
        self._subject = subject
        self._durable = durable
        self._js = js
        self._ephemeral = ephemeral
        self._closed = False
        # Fetched, not handed out yet (given back on close; if this process dies, the server redelivers).
        self._buffer: deque[Msg] = deque()

    async def next(self, timeout: float = 1.0) -> Message | None:  # noqa: ASYNC109 (a poll, not a deadline)
        """The next message, or None if none arrived within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if self._closed:
                raise BusError("subscription closed")
            remaining = end - loop.time()
            if remaining < _MIN_FETCH:
                return None
            if self._buffer:
                return _NatsMessage(self._buffer.popleft())
            try:
                # What the server has ready, up to FETCH_BATCH, in one round trip (or the first to come):
                # one request per message would cap a consumer at the round-trip rate.
                self._buffer.extend(await self._psub.fetch(FETCH_BATCH, timeout=remaining))
            except TimeoutError:
                if self._ephemeral:
                    await self._check_consumer()
                return None
            except nats.errors.ConnectionClosedError as exc:
                raise BusError("bus closed") from exc
            except nats.errors.Error as exc:
                # Reconnecting, or JetStream not ready yet after a restart: try again within the timeout.
                logger.warning("fetch for %s (%s) failed, retrying: %s", self._durable, self._subject, exc)
                await asyncio.sleep(min(_MAX_PAUSE, max(end - loop.time(), 0.0)))
                continue
            if self._buffer:
                return _NatsMessage(self._buffer.popleft())

    async def _check_consumer(self) -> None:
        """Raise BusError if the server deleted this ephemeral consumer (unused past its idle limit, e.g.
        while this process was cut off): a pull on a missing consumer only times out, silently.
        """
        try:
            await self._psub.consumer_info()
        except nats.js.errors.NotFoundError:
            raise BusError(f"consumer {self._durable} is gone; subscribe again") from None
        except (TimeoutError, nats.errors.Error):
            return  # cannot tell now: the next quiet poll asks again

    async def close(self) -> None:
        """Stop receiving; the durable consumer's position is kept by the server (an ephemeral one is
        deleted, best effort: if that fails the server drops it once idle).
        """
        if self._closed:
            return
        self._closed = True
        # Fetched but never handed out: given back at once rather than after their ack_wait.
        while self._buffer:
            await _NatsMessage(self._buffer.popleft()).nak()
        with suppress(nats.errors.Error):  # a closed connection has already dropped the inbox
            await self._psub.unsubscribe()
        if self._ephemeral:
            with suppress(TimeoutError, nats.errors.Error):
                await self._js.delete_consumer(self._psub._stream, self._durable)


class NatsBus(Bus):
    """JetStream-backed bus: what it acknowledges is on the server's disk; restarts are ridden out."""

    def __init__(
        self,
        url: str,
        *,
        streams: Iterable[StreamSpec] = STREAMS,
        duplicate_window: float = 120.0,
        publish_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        ack_timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._specs = tuple(streams)
        self._duplicate_window = duplicate_window
        self._publish_timeout = publish_timeout
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def connected(self) -> bool:
        """Whether the connection to the server is up (false while reconnecting)."""
        return self._nc is not None and bool(self._nc.is_connected)

    @property
    def outlives_process(self) -> bool:
        """JetStream keeps what it acknowledged on the server's disk."""
        return True

    async def start(self) -> None:
        """Connect (reconnecting forever afterwards) and create or update the bus's streams."""
        if self._nc is not None:
            return
        nc = NATS()
        try:
            await asyncio.wait_for(
                nc.connect(
                    self._url,
                    name="safecity",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                self._connect_timeout,
            )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            with suppress(Exception):
                await nc.close()
            raise BusError(f"cannot connect to NATS at {_where(self._url)}") from exc
        self._nc = nc
        self._js = nc.jetstream(timeout=self._ack_timeout)
        try:
            for spec in self._specs:
                await self._retry(f"create stream {spec.name}", partial(self._ensure, spec))
        except BusError:
            await self.close()
            raise
        logger.info("bus connected to NATS at %s, %d streams", _where(self._url), len(self._specs))

    async def _ensure(self, spec: StreamSpec, _timeout: float) -> None:
        js = self._require_js()
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            storage=StorageType.FILE,
            duplicate_window=self._duplicate_window,
        )
        try:
            await js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)

    def _require_js(self) -> JetStreamContext:
        if self._js is None:
            raise BusError("bus not started")
        return self._js

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS at %s: %s", _where(self._url), exc)

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # None: our own close(), nothing to report
            logger.warning("disconnected from NATS at %s; reconnecting", _where(self._url))

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS at %s", _where(self._url))

    async def _retry(self, what: str, attempt: Callable[[float], Awaitable[T]]) -> T:
        """Run `attempt(timeout)` until it succeeds, retrying transient failures up to `publish_timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        pause = _FIRST_PAUSE
        while True:
            remaining = deadline - loop.time()
            try:
                return await attempt(max(min(self._ack_timeout, remaining), _MIN_FETCH))
            except _TRANSIENT as exc:
                if loop.time() + pause >= deadline:
                    raise BusError(f"{what}: NATS unreachable for {self._publish_timeout:g} s") from exc
                logger.warning("%s failed, retrying in %.2f s: %r", what, pause, exc)
            except nats.errors.Error as exc:
                raise BusError(f"{what}: {exc}") from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    async def _has_no_stream(self, subject: str) -> bool:
        """Whether the server says no stream keeps `subject` (False when it cannot say right now)."""
        try:
            await self._require_js().find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            return True
        except (TimeoutError, nats.errors.Error):
            return False  # cannot tell now; the caller retries
        return False

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        """Store a message and wait for JetStream's ack, retrying through reconnects; BusError on timeout."""
        js = self._require_js()
        headers = {MSG_ID_HEADER: msg_id} if msg_id else None

        async def attempt(timeout: float) -> None:  # noqa: ASYNC109 (one request's time limit)
            try:
                await js.publish(subject, data, timeout=timeout, headers=headers)
            except nats.js.errors.NoStreamResponseError:
                # No responder: either no stream keeps the subject, or JetStream is still coming up.
                if await self._has_no_stream(subject):
                    raise BusError(f"no stream for subject {subject!r}") from None
                raise

        await self._retry(f"publish to {subject}", attempt)

    async def publish_many(self, items: Iterable[tuple[str, bytes, str | None]]) -> None:
        """Store each `(subject, data, msg_id)` with pipelined acks; stragglers are retried one by one."""
        window: list[tuple[str, bytes, str | None]] = []
        for item in items:
            window.append(item)
            if len(window) == _WINDOW:
                await self._publish_window(window)
                window = []
        if window:
            await self._publish_window(window)

    async def _publish_window(self, items: list[tuple[str, bytes, str | None]]) -> None:
        js = self._require_js()
        futures: list[asyncio.Future[PubAck]] = []
        for subject, data, msg_id in items:
            try:
                futures.append(
                    await js.publish_async(subject, data, headers={MSG_ID_HEADER: msg_id} if msg_id else None)
                )
            except nats.errors.Error as exc:
                # The connection is down: the rest go through publish(), which waits for it.
                logger.warning("pipelined publish stopped, continuing one by one: %r", exc)
                break
        if futures:
            await asyncio.wait(futures, timeout=self._ack_timeout)
        for i, (subject, data, msg_id) in enumerate(items):
            if i < len(futures):
                future = futures[i]
                if future.done() and not future.cancelled() and future.exception() is None:
                    continue
                future.cancel()  # frees its slot in nats-py's pending limit
            await self.publish(subject, data, msg_id=msg_id)

    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0, ephemeral: bool = False
    ) -> Subscription:
        """Bind to (or create) the durable pull consumer `durable` on `subject`, delivering from the start
        (an `ephemeral` one: from new messages, dropped by the server after EPHEMERAL_IDLE_S unused).
        """
        js = self._require_js()
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW if ephemeral else DeliverPolicy.ALL,
            ack_wait=ack_wait,
            inactive_threshold=EPHEMERAL_IDLE_S if ephemeral else None,
        )

        async def attempt(_timeout: float) -> JetStreamContext.PullSubscription:
            try:
                return await js.pull_subscribe(subject, durable=durable, config=config)
            except nats.js.errors.NotFoundError:
                raise BusError(f"no stream for subject filter {subject!r}") from None

        psub = await self._retry(f"subscribe {durable} to {subject}", attempt)
        return _NatsSubscription(psub, subject, durable, js=js, ephemeral=ephemeral)

    async def close(self) -> None:
        """Close the connection, flushing pending acks; the server keeps messages and consumers."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await nc.close()
