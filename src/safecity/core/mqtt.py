"""MQTT consumers that outlive their broker: subscribe, apply each message off the event loop, reconnect.

Devices in the field (units' radios and phones, signal controllers) report over MQTT; a consumer must
never stop for one bad message nor for a lost broker, and must never log a payload (it may hold anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiomqtt
from pydantic import ValidationError

from safecity.core.errors import SafecityError

logger = logging.getLogger(__name__)

ClientFactory = Callable[[], aiomqtt.Client]
# Applies one message (topic, payload); blocking (database work): run on a worker thread. Raises
# ValueError, ValidationError or SafecityError for a message to skip.
Handler = Callable[[str, bytes], object]


def reason(exc: Exception) -> str:
    """Why a message was skipped, for the log: field names and error types only, never the payload."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['type']}" for e in exc.errors())
    if isinstance(exc, SafecityError):
        return exc.code
    return type(exc).__name__


async def consume(
    *,
    topics: Sequence[str],
    handle: Handler,
    what: str,
    stop: asyncio.Event,
    host: str,
    port: int,
    reconnect_s: float,
    client_factory: ClientFactory | None = None,
    ready: asyncio.Event | None = None,
    group: str | None = None,
) -> None:
    """Apply every message on `topics` with `handle` until `stop` is set; `what` names the messages in logs.

    A malformed or refused message is logged and skipped; a lost broker is reconnected to every
    `reconnect_s` seconds. `ready` is set each time the subscriptions are in place. With a `group`, the
    consumers of that name (the processes of a city's web nodes) share the messages, each applied by one
    of them (an MQTT shared subscription), rather than every process applying every message.
    """
    make_client = client_factory or (lambda: aiomqtt.Client(host, port))
    subscribed = [f"$share/{group}/{topic}" if group else topic for topic in topics]
    while not stop.is_set():
        try:
            async with make_client() as client:
                for topic in subscribed:
                    await client.subscribe(topic, qos=1)
                logger.info("listening to %s on %s", what, ", ".join(subscribed))
                if ready is not None:
                    ready.set()
                await _until_stopped(_apply_all(client, handle, what), stop)
        except aiomqtt.MqttError as exc:
            if ready is not None:
                ready.clear()
            logger.warning("MQTT broker lost (%s); reconnecting in %.1f s", exc, reconnect_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), reconnect_s)


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        if pending not in done:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task in done:
        task.result()  # re-raise a lost connection, so the caller reconnects


async def _apply_all(client: aiomqtt.Client, handle: Handler, what: str) -> None:
    async for message in client.messages:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            await asyncio.to_thread(handle, topic, payload)
        except (ValidationError, ValueError, SafecityError) as exc:
            logger.warning("skipped a message of %s on %s: %s", what, topic, reason(exc))
        except Exception:  # a bad message must never stop the consumer of every device
            logger.exception("failed to apply a message of %s on %s", what, topic)
