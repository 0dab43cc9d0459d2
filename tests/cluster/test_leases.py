"""The lease engine against a real NATS JetStream: fair shares, takeover, stolen leases, duplicate ids,
partitions and wrong clocks. Each test has KV buckets of its own (a prefix of its own).

The runtime is stood in for by `Runner`, which records when each camera ran in this process, the way
VideoRuntime starts and stops its cameras when the assignment calls it.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest

from conftest import MISSING, NATS_ENV, START, wait_until_async
from safecity.cluster.leases import JetStreamAssignment, LocalAssignment, WorkerIdInUse, buckets, plan
from safecity.config import ClusterSettings

pytestmark = pytest.mark.anyio  # its KV buckets are its own: any worker may run it

LEASE_S, RENEW_S, MARGIN_S = 3.0, 0.5, 1.0


@dataclass
class Runner:
    """What runs in one "process": the cameras the assignment gives it, with when each ran."""

    running: set[uuid.UUID] = field(default_factory=set)
    spans: list[tuple[uuid.UUID, float, float | None]] = field(default_factory=list)  # monotonic

    async def __call__(self, owned: frozenset[uuid.UUID] | None) -> None:
        now = time.monotonic()
        wanted = set(owned or ())
        for camera in self.running - wanted:
            i = next(i for i, s in enumerate(self.spans) if s[0] == camera and s[2] is None)
            self.spans[i] = (camera, self.spans[i][1], now)
        self.spans += [(camera, now, None) for camera in wanted - self.running]
        self.running = wanted


@dataclass
class Cluster:
    url: str
    cfg: ClusterSettings
    cameras: dict[uuid.UUID, str | None]
    members: list[tuple[JetStreamAssignment, Runner]] = field(default_factory=list)

    async def join(self, worker_id: str, **changes: object) -> tuple[JetStreamAssignment, Runner]:
        assignment = JetStreamAssignment(self.url, self.cfg.model_copy(update=changes), worker_id=worker_id)
        runner = Runner()
        assignment.bind(runner)
        assignment.set_cameras(self.cameras)
        await assignment.start()
        self.members.append((assignment, runner))
        return assignment, runner

    def shares(self) -> list[int]:
        return [len(runner.running) for _, runner in self.members]

    def each_camera_once(self) -> bool:
        held = [c for _, runner in self.members for c in runner.running]
        return len(held) == len(set(held)) == len(self.cameras)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    cfg = ClusterSettings(
        lease_s=LEASE_S, renew_s=RENEW_S, stop_margin_s=MARGIN_S, kv_prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    harness = Cluster(url, cfg, {uuid.uuid4(): None for _ in range(6)})
    try:
        yield harness
    finally:
        for assignment, _ in harness.members:
            await assignment.stop()
        nc = await nats.connect(url)
        js = nc.jetstream()
        for bucket in buckets(cfg):
            await js.delete_key_value(bucket)
        await nc.close()


def no_overlap(runners: list[Runner]) -> bool:
    """No camera ran in two runners at once."""
    spans = sorted((s for r in runners for s in r.spans), key=lambda s: (s[0], s[1]))
    for (camera, _, end), (next_camera, next_start, _) in itertools.pairwise(spans):
        if camera == next_camera and (end is None or end > next_start):
            return False
    return True


def test_plan_is_fair_sticky_and_pinned() -> None:
    cameras: dict[uuid.UUID, str | None] = {uuid.uuid4(): None for _ in range(12)}
    even = plan(cameras, {"a": 10, "b": 10, "c": 10}, {})
    assert sorted(list(even.values()).count(w) for w in "abc") == [4, 4, 4]
    # A worker of twice the capacity gets twice the share.
    weighted = plan(cameras, {"a": 20, "b": 10}, {})
    assert list(weighted.values()).count("a") == 8
    # Owners keep what fits in their share: a joining worker takes only its share, from the others.
    joined = plan(cameras, {"a": 10, "b": 10, "c": 10, "d": 10}, even)
    assert sorted(list(joined.values()).count(w) for w in "abcd") == [3, 3, 3, 3]
    assert sum(joined[c] != even[c] for c in cameras) == 3
    # A pin holds while its worker is alive; without it, the camera goes by the hash.
    pinned = next(iter(cameras))
    cameras[pinned] = "c"
    assert plan(cameras, {"a": 10, "b": 10, "c": 10}, {pinned: "a"})[pinned] == "c"
    assert plan(cameras, {"a": 10, "b": 10}, {})[pinned] in {"a", "b"}
    # Capacity is a hard limit: what does not fit is left unassigned.
    assert len(plan(cameras, {"a": 5}, {})) == 5


async def test_one_box_runs_every_camera() -> None:
    """The memory bus: this process runs every camera (today's behaviour), and says so in its view."""
    box = LocalAssignment("box")
    cameras = {uuid.uuid4(): None for _ in range(3)}
    box.set_cameras(cameras)
    await box.start()
    assert box.owned() is None
    view = await box.view()
    assert view.kind == "local" and [w.worker_id for w in view.workers] == ["box"]
    assert set(view.workers[0].cameras) == set(cameras) == {le.camera_id for le in view.leases}


async def test_joining_workers_take_a_fair_share(cluster: Cluster) -> None:
    await cluster.join("w-a")
    await wait_until_async(lambda: cluster.shares() == [6], within=15)
    await cluster.join("w-b")
    await wait_until_async(lambda: cluster.shares() == [3, 3] and cluster.each_camera_once(), within=15)
    await cluster.join("w-c")
    await wait_until_async(lambda: cluster.shares() == [2, 2, 2] and cluster.each_camera_once(), within=15)
    assert no_overlap([runner for _, runner in cluster.members])
    # The view shows the three workers with their cameras (as of their last heartbeat), one lease each.

    async def shown() -> bool:
        view = await cluster.members[0][0].view()
        return {w.worker_id: len(w.cameras) for w in view.workers} == {"w-a": 2, "w-b": 2, "w-c": 2}

    await wait_until_async(shown, within=10)
    view = await cluster.members[0][0].view()
    assert sorted(le.camera_id for le in view.leases) == sorted(cluster.cameras)


async def test_a_partitioned_worker_stops_before_its_leases_expire_and_others_take_over(
    cluster: Cluster,
) -> None:
    a, runner_a = await cluster.join("w-a")
    await wait_until_async(lambda: cluster.shares() == [6], within=15)
    _, runner_b = await cluster.join("w-b")
    await wait_until_async(lambda: cluster.shares() == [3, 3] and cluster.each_camera_once(), within=15)
    lost = set(runner_a.running)
    cut = time.monotonic()
    await a.disconnect()  # NATS out of reach: a cannot renew, the others no longer hear from it
    # a stops its cameras by its own clock, before the leases it last renewed could have expired...
    await wait_until_async(lambda: not runner_a.running, within=LEASE_S)
    stopped = {camera: end for camera, _, end in runner_a.spans if end is not None and camera in lost}
    assert all(end < cut + LEASE_S - MARGIN_S + 0.5 for end in stopped.values())
    # ...and b runs them once those leases have expired: never both at once.
    await wait_until_async(lambda: runner_b.running == set(cluster.cameras), within=LEASE_S + 4 * RENEW_S + 5)
    assert no_overlap([runner_a, runner_b])
    assert any("could not be renewed" in p for p in a.problems)


async def test_a_lease_changed_by_hand_stops_the_camera_and_is_reported(cluster: Cluster) -> None:
    a, runner = await cluster.join("w-a")
    await wait_until_async(lambda: len(runner.running) == 6, within=15)
    camera = sorted(runner.running, key=str)[0]
    nc = await nats.connect(cluster.url)
    kv = await nc.jetstream().key_value(buckets(cluster.cfg)[1])
    await kv.put(
        str(camera), json.dumps({"worker": "intruder", "since": "2026-01-01T00:00:00+00:00"}).encode()
    )
    await nc.close()
    await wait_until_async(lambda: camera not in runner.running, within=10)
    assert any(f"camera {camera} stopped: its lease was changed by someone else" in p for p in a.problems)
    # Nobody renews the hand-written lease: it expires and the camera runs again here.
    await wait_until_async(lambda: camera in runner.running, within=LEASE_S + 10)


async def test_a_duplicated_worker_id_is_refused(cluster: Cluster) -> None:
    await cluster.join("w-a")
    twin = JetStreamAssignment(cluster.url, cluster.cfg, worker_id="w-a")
    with pytest.raises(WorkerIdInUse, match="'w-a' is live on host"):
        await twin.start()
    assert twin.owned() == frozenset()


async def test_a_worker_whose_clock_is_off_takes_no_cameras(cluster: Cluster) -> None:
    # The bound is below what any round trip measures: this worker's clock counts as off.
    off, runner_off = await cluster.join("w-off", max_clock_skew_s=1e-9)
    _, runner_ok = await cluster.join("w-ok")
    await wait_until_async(lambda: len(runner_ok.running) == 6, within=15)
    assert not runner_off.running and not off.accepting

    async def reported() -> bool:
        view = await off.view()
        shown = next(w for w in view.workers if w.worker_id == "w-off")
        return not shown.accepting and any(
            "clock differs from the NATS server's" in p for p in shown.problems
        )

    await wait_until_async(reported, within=10)  # in its next heartbeat
