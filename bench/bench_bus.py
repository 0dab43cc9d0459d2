"""Bus publish throughput: NatsBus against raw nats-py on the same server in the same run, and the memory bus.

Run: `python -m bench.bench_bus [--count 20000] [--rounds 3]`; the server is SAFECITY_TEST_NATS_URL or
nats://127.0.0.1:4222. Cases are interleaved round by round and each keeps its best round, since these
machines are noisy. The target is ours >= 0.8x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from rich.console import Console
from rich.table import Table

from safecity.core.bus import MemoryBus, NatsBus, StreamSpec
from safecity.core.bus.nats import MSG_ID_HEADER

Item = tuple[str, bytes, str | None]
Case = Callable[[list[Item]], Awaitable[None]]

PAYLOAD = b'{"camera": 17, "kind": "motion", "score": 0.93}'


async def _rate(case: Case, items: list[Item]) -> float:
    """Messages per second for one run of `case` over `items`."""
    started = time.perf_counter()
    await case(items)
    return len(items) / (time.perf_counter() - started)


async def run(url: str, count: int, rounds: int) -> dict[str, float]:
    """Best msgs/s of each case over `rounds` interleaved rounds, on a throwaway stream deleted afterwards."""
    tag = uuid.uuid4().hex[:12]
    prefix, stream = f"bench{tag}", f"BENCH_{tag}"
    bus = NatsBus(url, streams=(StreamSpec(stream, (f"{prefix}.>",)),))
    await bus.start()
    nc = await nats.connect(url)
    js = nc.jetstream()

    async def raw_single(items: list[Item]) -> None:
        for subject, data, msg_id in items:
            await js.publish(subject, data, headers={MSG_ID_HEADER: msg_id} if msg_id else None)

    async def ours_single(items: list[Item]) -> None:
        for subject, data, msg_id in items:
            await bus.publish(subject, data, msg_id=msg_id)

    async def raw_batch(items: list[Item]) -> None:
        futures = [
            await js.publish_async(subject, data, headers={MSG_ID_HEADER: msg_id} if msg_id else None)
            for subject, data, msg_id in items
        ]
        await asyncio.gather(*futures)

    async def memory_single(items: list[Item]) -> None:
        memory = MemoryBus(streams=(StreamSpec("M", (f"{prefix}.>",)),))
        await memory.start()
        for subject, data, msg_id in items:
            await memory.publish(subject, data, msg_id=msg_id)

    async def memory_batch(items: list[Item]) -> None:
        memory = MemoryBus(streams=(StreamSpec("M", (f"{prefix}.>",)),))
        await memory.start()
        await memory.publish_many(items)

    cases: dict[str, Case] = {
        "raw single": raw_single,
        "ours single": ours_single,
        "raw batch": raw_batch,
        "ours batch": bus.publish_many,
        "memory single": memory_single,
        "memory batch": memory_batch,
    }
    best = dict.fromkeys(cases, 0.0)
    try:
        for round_no in range(rounds):
            for name, case in cases.items():
                # Fresh msg ids each run, so the server's duplicate check never short-cuts a publish.
                items: list[Item] = [
                    (f"{prefix}.cam.{i % 16}", PAYLOAD, f"{name}-{round_no}-{i}") for i in range(count)
                ]
                await js.purge_stream(stream)
                best[name] = max(best[name], await _rate(case, items))
    finally:
        await js.delete_stream(stream)
        await nc.close()
        await bus.close()
    return best


def _table(best: dict[str, float], count: int, url: str) -> Table:
    table = Table(title=f"bus publish: {count:,} msgs with ids, {url}; goal ours >= 0.80x raw")
    table.add_column("publish")
    table.add_column("ours msgs/s", justify="right")
    table.add_column("raw nats-py msgs/s", justify="right")
    table.add_column("ours / raw", justify="right")
    for label, ours, raw in (
        ("one by one, ack awaited", "ours single", "raw single"),
        ("publish_many, acks pipelined", "ours batch", "raw batch"),
    ):
        table.add_row(label, f"{best[ours]:,.0f}", f"{best[raw]:,.0f}", f"{best[ours] / best[raw]:.2f}x")
    table.add_row("memory bus, one by one", f"{best['memory single']:,.0f}", "", "")
    table.add_row("memory bus, publish_many", f"{best['memory batch']:,.0f}", "", "")
    return table


def main() -> None:
    """Parse options, run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000, help="messages per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    args = parser.parse_args()
    url = os.environ.get("SAFECITY_TEST_NATS_URL", "nats://127.0.0.1:4222")
    best = asyncio.run(run(url, args.count, args.rounds))
    Console().print(_table(best, args.count, url))


if __name__ == "__main__":
    main()
