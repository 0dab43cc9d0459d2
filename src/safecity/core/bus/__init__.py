"""The event bus: `memory://` in-process for the embedded mode, `nats://` JetStream for scale-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from safecity.core.bus.base import (
    STREAMS,
    Bus,
    BusError,
    Message,
    StreamSpec,
    Subscription,
    subscribe_when_ready,
)
from safecity.core.bus.memory import MemoryBus
from safecity.core.bus.nats import NatsBus

__all__ = [
    "STREAMS",
    "Bus",
    "BusError",
    "MemoryBus",
    "Message",
    "NatsBus",
    "StreamSpec",
    "Subscription",
    "create_bus",
    "subscribe_when_ready",
]


def create_bus(url: str) -> Bus:
    """The bus that `url` names: `memory://` (in-process) or `nats://host:port` (JetStream); not started."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBus()
    if scheme in ("nats", "tls"):
        return NatsBus(url)
    # Only the scheme is echoed: the rest of the URL may hold credentials.
    raise BusError(f"unsupported bus URL scheme {scheme!r}: use memory:// or nats://host:port")
