"""The bus contract, run on the memory bus and, when SAFECITY_TEST_NATS_URL is set, on NATS JetStream.

Every test gets a throwaway stream of its own (unique subject prefix), deleted afterwards. The restart test
runs a private nats-server of its own, killed and restarted under load.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import anyio
import nats
import nats.js.errors
import pytest

from conftest import MISSING, NATS_ENV, START
from safecity.core.bus import (
    Bus,
    BusError,
    MemoryBus,
    Message,
    NatsBus,
    StreamSpec,
    Subscription,
    create_bus,
)

NATS_SERVER = Path("/usr/sbin/nats-server")

pytestmark = pytest.mark.anyio


@dataclass
class Harness:
    bus: Bus
    prefix: str  # the test's own stream keeps `<prefix>.>`

    def subject(self, rest: str) -> str:
        return f"{self.prefix}.{rest}"


def _unique(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:12]}"


async def _delete_streams(url: str, *names: str) -> None:
    nc = await nats.connect(url)
    try:
        for name in names:
            with suppress(nats.js.errors.NotFoundError):
                await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def _drain(sub: Subscription, timeout: float = 0.5) -> list[Message]:  # noqa: ASYNC109
    """Every message until none arrives within `timeout` seconds, each acked."""
    got = []
    while (message := await sub.next(timeout=timeout)) is not None:
        got.append(message)
        await message.ack()
    return got


@pytest.fixture(params=["memory", "nats"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A started bus of each kind with a stream of the test's own."""
    prefix = _unique("t")
    spec = StreamSpec(f"T_{prefix}", (f"{prefix}.>",))
    if request.param == "memory":
        memory = MemoryBus(streams=(spec,))
        await memory.start()
        yield Harness(memory, prefix)
        await memory.close()
        return
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(
            f"{MISSING}NATS JetStream: {NATS_ENV} is not set (`make test` sets it when JetStream answers "
            f"on 127.0.0.1:4222; to start it, as root: {START['nats']})"
        )
    bus = NatsBus(url, streams=(spec,), connect_timeout=5.0)
    await bus.start()  # fails loudly when the server named in the variable is down
    try:
        yield Harness(bus, prefix)
    finally:
        await bus.close()
        await _delete_streams(url, spec.name)


async def test_round_trip(harness: Harness) -> None:
    sub = await harness.bus.subscribe(harness.subject(">"), durable=_unique("d"))
    await harness.bus.publish(harness.subject("cam.1"), b"hello", msg_id="m1")
    message = await sub.next(timeout=5)
    assert message is not None
    assert (message.subject, message.data, message.msg_id, message.delivery) == (
        harness.subject("cam.1"),
        b"hello",
        "m1",
        1,
    )
    await message.ack()
    await message.ack()  # a second ack changes nothing
    assert await sub.next(timeout=0.3) is None
    await sub.close()


async def test_messages_published_before_subscribe_are_delivered(harness: Harness) -> None:
    for i in range(3):
        await harness.bus.publish(harness.subject("early"), f"{i}".encode())
    sub = await harness.bus.subscribe(harness.subject("early"), durable=_unique("d"))
    got = await _drain(sub)
    assert [m.data for m in got] == [b"0", b"1", b"2"]
    assert all(m.msg_id is None and m.delivery == 1 for m in got)
    await sub.close()


async def test_ephemeral_consumers_each_get_every_new_message_and_go_when_closed(harness: Harness) -> None:
    """Two web nodes' own consumers: each gets every message published after it started, none before."""
    await harness.bus.publish(harness.subject("feed"), b"before", msg_id="e0")
    names = [_unique("node-a"), _unique("node-b")]
    subs = [await harness.bus.subscribe(harness.subject(">"), durable=n, ephemeral=True) for n in names]
    for i in range(3):
        await harness.bus.publish(harness.subject("feed"), f"{i}".encode(), msg_id=f"e{i + 1}")
    for sub in subs:
        assert [m.data for m in await _drain(sub)] == [b"0", b"1", b"2"]
        await sub.close()
    # Closed, the consumer is gone: one of the same name starts afresh, at new messages.
    await harness.bus.publish(harness.subject("feed"), b"while closed", msg_id="e9")
    again = await harness.bus.subscribe(harness.subject(">"), durable=names[0], ephemeral=True)
    assert await _drain(again, timeout=0.3) == []
    await again.close()


async def test_durable_resumes_after_close(harness: Harness) -> None:
    durable = _unique("d")
    for i in range(5):
        await harness.bus.publish(harness.subject("resume"), f"{i}".encode(), msg_id=f"r{i}")
    first = await harness.bus.subscribe(harness.subject("resume"), durable=durable)
    for expected in (b"0", b"1"):
        message = await first.next(timeout=5)
        assert message is not None and message.data == expected
        await message.ack()
    await first.close()
    with pytest.raises(BusError):
        await first.next(timeout=0.1)

    second = await harness.bus.subscribe(harness.subject("resume"), durable=durable)
    assert [m.data for m in await _drain(second)] == [b"2", b"3", b"4"]
    await second.close()


async def test_unacked_message_is_redelivered_after_ack_wait(harness: Harness) -> None:
    sub = await harness.bus.subscribe(harness.subject("work"), durable=_unique("d"), ack_wait=0.5)
    await harness.bus.publish(harness.subject("work"), b"job", msg_id="j1")
    first = await sub.next(timeout=5)
    assert first is not None and first.delivery == 1
    started = time.monotonic()
    again = await sub.next(timeout=5)  # never acked, so it comes back
    assert again is not None
    assert time.monotonic() - started >= 0.3
    assert (again.data, again.msg_id, again.delivery) == (b"job", "j1", 2)
    await again.ack()
    assert await sub.next(timeout=1.0) is None
    await sub.close()


async def test_nak_redelivers_after_delay(harness: Harness) -> None:
    sub = await harness.bus.subscribe(harness.subject("work"), durable=_unique("d"), ack_wait=10)
    await harness.bus.publish(harness.subject("work"), b"job")
    first = await sub.next(timeout=5)
    assert first is not None
    started = time.monotonic()
    await first.nak(delay=0.4)
    again = await sub.next(timeout=5)
    assert again is not None
    assert time.monotonic() - started >= 0.3
    assert (again.data, again.delivery) == (b"job", 2)
    await again.ack()
    await sub.close()


async def test_duplicate_msg_id_is_suppressed(harness: Harness) -> None:
    subject = harness.subject("dup")
    await harness.bus.publish(subject, b"first", msg_id="same")
    await harness.bus.publish(subject, b"second", msg_id="same")
    await harness.bus.publish_many([(subject, b"third", "same"), (subject, b"other", "other")])
    sub = await harness.bus.subscribe(subject, durable=_unique("d"))
    assert [m.data for m in await _drain(sub)] == [b"first", b"other"]
    await sub.close()


async def test_wildcard_subjects(harness: Harness) -> None:
    motion = await harness.bus.subscribe(harness.subject("cam.*.motion"), durable=_unique("d"))
    cameras = await harness.bus.subscribe(harness.subject("cam.>"), durable=_unique("d"))
    for rest in ("cam.1.motion", "cam.2.motion", "cam.1.audio", "cam.1.motion.extra", "site.1.motion"):
        await harness.bus.publish(harness.subject(rest), rest.encode())
    assert [m.data for m in await _drain(motion)] == [b"cam.1.motion", b"cam.2.motion"]
    assert [m.data for m in await _drain(cameras)] == [
        b"cam.1.motion",
        b"cam.2.motion",
        b"cam.1.audio",
        b"cam.1.motion.extra",
    ]


async def test_each_durable_consumer_gets_every_message(harness: Harness) -> None:
    alerts = await harness.bus.subscribe(harness.subject(">"), durable=_unique("alerts"))
    store = await harness.bus.subscribe(harness.subject(">"), durable=_unique("store"))
    await harness.bus.publish_many([(harness.subject(f"e.{i}"), f"{i}".encode(), f"e{i}") for i in range(4)])
    expected = [b"0", b"1", b"2", b"3"]
    assert [m.data for m in await _drain(alerts)] == expected
    assert [m.data for m in await _drain(store)] == expected


async def test_subject_without_stream_is_refused(harness: Harness) -> None:
    with pytest.raises(BusError, match="no stream"):
        await harness.bus.publish(f"{_unique('nostream')}.x", b"lost?")
    with pytest.raises(BusError, match="no stream"):
        await harness.bus.publish_many([(f"{_unique('nostream')}.x", b"lost?", "n1")])
    with pytest.raises(BusError, match="no stream"):
        await harness.bus.subscribe(f"{_unique('nostream')}.>", durable=_unique("d"))


async def test_memory_bus_drops_oldest_beyond_its_limit() -> None:
    bus = MemoryBus(streams=(StreamSpec("S", ("s.>",)),), max_msgs=3)
    await bus.start()
    sub = await bus.subscribe("s.>", durable="d", ack_wait=0.2)
    await bus.publish("s.1", b"0")
    unacked = await sub.next(timeout=1)
    assert unacked is not None
    for i in range(1, 6):
        await bus.publish("s.1", f"{i}".encode())
    # "0" fell out of the stream, so it is neither redelivered nor kept in memory.
    assert [m.data for m in await _drain(sub)] == [b"3", b"4", b"5"]
    await bus.close()
    with pytest.raises(BusError):
        await bus.publish("s.1", b"closed")


async def test_create_bus_picks_the_bus_from_the_url() -> None:
    assert isinstance(create_bus("memory://"), MemoryBus)
    assert isinstance(create_bus("nats://127.0.0.1:4222"), NatsBus)
    with pytest.raises(BusError, match="redis"):
        create_bus("redis://user:secret@host")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _PrivateServer:
    """A nats-server child process on a port and store dir of its own, so it can be killed at will."""

    def __init__(self, store: Path, port: int, log: Path) -> None:
        self.port = port
        self._args = ["-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)]
        self._log = log
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                str(NATS_SERVER), *self._args, stdout=log, stderr=log
            )
        with anyio.fail_after(10):
            while True:
                assert self._process.returncode is None, self._log.read_text()
                with suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    return
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self._process is not None
        self._process.kill()
        await self._process.wait()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


@pytest.mark.skipif(
    not NATS_SERVER.exists() and not os.environ.get(NATS_ENV),
    reason=f"{MISSING}{NATS_SERVER} is missing and {NATS_ENV} is not set: apt-get install nats-server",
)
async def test_nats_bus_survives_server_restart(tmp_path: Path) -> None:
    server = _PrivateServer(tmp_path / "js", _free_port(), tmp_path / "nats-server.log")
    await server.start()
    url = f"nats://127.0.0.1:{server.port}"
    bus = NatsBus(url, streams=(StreamSpec("RESTART", ("restart.>",)),), ack_timeout=2.0)
    total, chunk = 300, 25
    ids = [f"m{i}" for i in range(total)]
    # The server is killed once while single publishes run, once while batches run.
    kill_at = {total // 6: asyncio.Event(), total * 2 // 3: asyncio.Event()}
    received: list[str] = []

    def item(i: int) -> tuple[str, bytes, str]:
        return f"restart.{i % 3}", ids[i].encode(), ids[i]

    def reached(i: int) -> None:
        if i in kill_at:
            kill_at[i].set()

    async def publish() -> None:
        for i in range(total // 2):
            subject, data, msg_id = item(i)
            await bus.publish(subject, data, msg_id=msg_id)
            reached(i)
            if i % 10 == 9:  # a producer repeating itself (e.g. after its own crash) stores nothing new
                await bus.publish(*item(i // 2)[:2], msg_id=ids[i // 2])
        for first in range(total // 2, total, chunk):
            batch = [item(i) for i in range(first, first + chunk)]
            await bus.publish_many([*batch, item(first // 2)])
            for i in range(first, first + chunk):
                reached(i)

    async def consume() -> None:
        sub = await bus.subscribe("restart.>", durable="restart", ack_wait=1.0)
        while set(received) != set(ids):
            message = await sub.next(timeout=1.0)
            if message is not None:
                assert message.msg_id is not None and message.data == message.msg_id.encode()
                received.append(message.msg_id)
                await message.ack()
        await sub.close()

    async def restart() -> None:
        for event in kill_at.values():
            await event.wait()
            await server.kill()
            await asyncio.sleep(1.0)  # publishes and fetches meanwhile must wait, not fail
            await server.start()

    try:
        await bus.start()
        with anyio.fail_after(45):
            await asyncio.gather(publish(), consume(), restart())
        assert set(received) == set(ids)  # at least once: nothing lost
        nc = await nats.connect(url)
        info = await nc.jetstream().stream_info("RESTART")
        await nc.close()
        assert info.state.messages == total  # repeated msg_ids were not stored twice
    finally:
        await bus.close()
        await server.stop()
