"""Which cameras this process runs: every one on one box, or a fair share leased through JetStream KV.

On the NATS bus each `safecity worker` keeps two things in JetStream key-value buckets, both aged by the
bucket's max_age (nats-server 2.9 has no per-key TTL; max_age ages each revision, which is what a lease
needs):

- its heartbeat in `safecity_workers` (key: the worker id): host, pid, capacity, cameras, clock skew;
- one lease per camera it runs in `safecity_leases` (key: the camera id): taken with `create` (only one
  worker can ever create a key), renewed with `update` on the revision it last wrote (so a lease someone
  else wrote is noticed), released with `delete` after the camera has stopped.

Every worker computes the same plan from the live workers and the current leases (`plan`): pins first,
current owners keep cameras within their fair share, the rest go to the highest-random-weight worker with
room. A worker that dies stops renewing: its leases expire after `lease_s` and the plan's winners among the
living take the cameras at their next tick. A worker that cannot renew stops its cameras `stop_margin_s`
before its lease could expire by its own monotonic clock, so two workers never record one camera for longer
than the overlap of a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from safecity.config import ClusterSettings
from safecity.core.db import utcnow
from safecity.core.lanes import alive

logger = logging.getLogger(__name__)

GUARD_S = 0.2  # how often held leases are checked against their safe end
PROBLEMS_KEPT = 20
SNAPSHOT_IDLE_S = 5.0

OnChange = Callable[[frozenset[uuid.UUID] | None], Awaitable[None]]


class WorkerIdInUse(Exception):
    """Another live worker holds this worker id: two processes with one id would steal each other's leases."""


@dataclass(frozen=True)
class WorkerInfo:
    """One live worker as its heartbeat tells it."""

    worker_id: str
    host: str
    pid: int
    capacity: int
    started_at: dt.datetime
    cameras: tuple[uuid.UUID, ...]
    accepting: bool  # False: it refuses cameras (its clock is off, or it has not measured it yet)
    clock_skew_s: float | None  # its clock minus the NATS server's, as it measured it
    heartbeat_at: dt.datetime | None  # the server's time of its last heartbeat (None: this process, local)
    problems: tuple[str, ...] = ()

    @property
    def load(self) -> float:
        """Share of its capacity in use."""
        return len(self.cameras) / self.capacity


@dataclass(frozen=True)
class Lease:
    """Who runs a camera, since when."""

    camera_id: uuid.UUID
    worker_id: str
    since: dt.datetime


@dataclass(frozen=True)
class ClusterView:
    """The workers and leases at one moment."""

    kind: Literal["local", "jetstream"]
    workers: tuple[WorkerInfo, ...]
    leases: tuple[Lease, ...]


# --- the plan: who should run what ------------------------------------------------------------------


def _weight(camera: uuid.UUID, worker: str, capacity: int) -> float:
    """Weighted rendezvous score: the highest wins; a worker's chance is proportional to its capacity."""
    digest = hashlib.sha256(f"{camera}/{worker}".encode()).digest()
    unit = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64  # in (0, 1)
    return -capacity / math.log(unit)


def plan(
    cameras: Mapping[uuid.UUID, str | None], workers: Mapping[str, int], owners: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, str]:
    """Which live worker should run each camera (a camera left out: no live worker has room).

    Args:
        cameras: the cameras to run, each with the worker it is pinned to (or None).
        workers: the live workers that accept cameras, with their capacity.
        owners: who holds each camera's lease now.

    A pin holds while its worker is alive and has room; otherwise the camera goes by the hash like any
    other (recording elsewhere beats not recording). Each worker takes at most its fair share (cameras x
    its capacity / all capacity, rounded up), so a joining worker gets its share and current owners keep
    what fits in theirs: a camera moves only when it must.
    """
    if not workers or not cameras:
        return {}
    total = sum(workers.values())
    share = {w: min(c, math.ceil(len(cameras) * c / total)) for w, c in workers.items()}
    counts = dict.fromkeys(workers, 0)
    result: dict[uuid.UUID, str] = {}
    ordered = sorted(cameras, key=str)

    def give(camera: uuid.UUID, worker: str) -> None:
        result[camera] = worker
        counts[worker] += 1

    for camera in ordered:
        pinned = cameras[camera]
        if pinned is not None and pinned in workers and counts[pinned] < workers[pinned]:
            give(camera, pinned)
    for camera in ordered:
        owner = owners.get(camera)
        if camera not in result and owner is not None and owner in workers and counts[owner] < share[owner]:
            give(camera, owner)
    for camera in ordered:
        if camera in result:
            continue
        ranked = sorted(workers, key=lambda w: _weight(camera, w, workers[w]), reverse=True)
        for worker in ranked:
            if counts[worker] < share[worker]:
                give(camera, worker)
                break
    return result


# --- the assignment ----------------------------------------------------------------------------------


def default_worker_id() -> str:
    """host-pid: unique on one machine, and readable on the workers page."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


class Assignment(ABC):
    """Decides which cameras this process runs, and tells the runtime when that changes."""

    worker_id: str

    def __init__(self) -> None:
        self._cameras: dict[uuid.UUID, str | None] = {}
        self._on_change: OnChange | None = None

    def bind(self, on_change: OnChange) -> None:
        """Have `on_change(owned)` called (and awaited) whenever this process gains or loses cameras."""
        self._on_change = on_change

    def set_cameras(self, cameras: Mapping[uuid.UUID, str | None]) -> None:
        """The cameras to run (active in the registry), each with the worker it is pinned to."""
        self._cameras = dict(cameras)

    @abstractmethod
    def owned(self) -> frozenset[uuid.UUID] | None:
        """The cameras this process runs now; None: all of them."""

    @abstractmethod
    async def start(self) -> None:
        """Join (register, start the lease loop)."""

    @abstractmethod
    async def stop(self) -> None:
        """Leave: stop this process's cameras, then give their leases back."""

    @abstractmethod
    async def view(self) -> ClusterView:
        """The workers and leases as this process sees them."""

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change(self.owned())


class LocalAssignment(Assignment):
    """One box (memory bus): this process runs every camera, as it always did."""

    def __init__(self, worker_id: str | None = None, capacity: int = 0) -> None:
        super().__init__()
        self.worker_id = worker_id or default_worker_id()
        self._capacity = capacity
        self._started_at = utcnow()

    def owned(self) -> None:
        """All of them."""
        return None

    async def start(self) -> None:
        """Nothing to join."""

    async def stop(self) -> None:
        """Nothing to give back."""

    async def view(self) -> ClusterView:
        """This process, holding every camera."""
        cameras = tuple(sorted(self._cameras, key=str))
        me = WorkerInfo(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            capacity=max(self._capacity, len(cameras), 1),
            started_at=self._started_at,
            cameras=cameras,
            accepting=True,
            clock_skew_s=None,
            heartbeat_at=None,
        )
        return ClusterView("local", (me,), tuple(Lease(c, self.worker_id, self._started_at) for c in cameras))


@dataclass
class _Held:
    revision: int
    renewed_at: (
        float  # monotonic time the last successful renewal was sent: the lease lasts at least to +lease_s
    )
    since: dt.datetime


def _json(value: bytes | None) -> dict[str, Any]:
    try:
        parsed = json.loads(value or b"")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def _snapshot(kv: KeyValue) -> dict[str, KeyValue.Entry]:
    """Every live key's latest entry (with the server's time of writing), read in one pass."""
    # A short inactive threshold: the server forgets each pass's consumer soon after it ends.
    watcher = await kv.watchall(ignore_deletes=True, inactive_threshold=SNAPSHOT_IDLE_S)
    found: dict[str, KeyValue.Entry] = {}
    try:
        async with asyncio.timeout(SNAPSHOT_IDLE_S):  # the watcher itself would wait forever
            async for entry in watcher:
                if entry is None:  # the end of what was there
                    break
                found[entry.key] = entry
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return found


def _worker(entry: KeyValue.Entry) -> WorkerInfo | None:
    data = _json(entry.value)
    try:
        return WorkerInfo(
            worker_id=entry.key,
            host=str(data["host"]),
            pid=int(data["pid"]),
            capacity=max(1, int(data["capacity"])),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            cameras=tuple(uuid.UUID(c) for c in data.get("cameras", [])),
            accepting=bool(data.get("accepting")),
            clock_skew_s=None if data.get("clock_skew_s") is None else float(data["clock_skew_s"]),
            heartbeat_at=entry.created if isinstance(entry.created, dt.datetime) else None,
            problems=tuple(str(p) for p in data.get("problems", [])),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("worker entry %r is malformed; ignored", entry.key)
        return None


def _lease(entry: KeyValue.Entry) -> Lease | None:
    data = _json(entry.value)
    try:
        return Lease(uuid.UUID(entry.key), str(data["worker"]), dt.datetime.fromisoformat(data["since"]))
    except (KeyError, TypeError, ValueError):
        logger.warning("lease %r is malformed; ignored until it expires", entry.key)
        return None


async def _bucket(nc: NATS, name: str, ttl: float) -> KeyValue:
    js = nc.jetstream(timeout=5.0)
    try:
        kv = await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=name, history=1, ttl=ttl, storage=StorageType.FILE)
        )
    age = (await kv.status()).stream_info.config.max_age
    if age is not None and abs(age - ttl) > 0.01:
        logger.warning(
            "bucket %s keeps entries %.1f s, this worker's lease is %.1f s: use one", name, age, ttl
        )
    return kv


def buckets(cfg: ClusterSettings) -> tuple[str, str]:
    """The KV buckets of the workers' heartbeats and of the camera leases."""
    return f"{cfg.kv_prefix}_workers", f"{cfg.kv_prefix}_leases"


async def read_view(url: str, cfg: ClusterSettings) -> ClusterView:
    """The workers and leases as JetStream holds them (for a process that runs no cameras, e.g. the web)."""
    nc = NATS()
    await nc.connect(url, name="safecity-cluster-view", max_reconnect_attempts=0, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5.0)
        try:
            workers, leases = buckets(cfg)
            workers_kv, leases_kv = await js.key_value(workers), await js.key_value(leases)
        except nats.js.errors.BucketNotFoundError:
            return ClusterView("jetstream", (), ())  # no worker ever joined
        return await _view(workers_kv, leases_kv)
    finally:
        await nc.close()


async def _view(workers_kv: KeyValue, leases_kv: KeyValue) -> ClusterView:
    workers = [w for e in (await _snapshot(workers_kv)).values() if (w := _worker(e)) is not None]
    leases = [le for e in (await _snapshot(leases_kv)).values() if (le := _lease(e)) is not None]
    return ClusterView(
        "jetstream",
        tuple(sorted(workers, key=lambda w: w.worker_id)),
        tuple(sorted(leases, key=lambda le: str(le.camera_id))),
    )


class JetStreamAssignment(Assignment):
    """Many workers (NATS bus): cameras leased through JetStream KV, as the module's docstring tells."""

    def __init__(self, url: str, cfg: ClusterSettings, *, worker_id: str | None = None) -> None:
        super().__init__()
        self.worker_id = worker_id or cfg.worker_id or default_worker_id()
        self._url, self._cfg = url, cfg
        self._instance = uuid.uuid4().hex  # tells this process's writes from another's under the same id
        self._started_at = utcnow()
        self._owned: dict[uuid.UUID, _Held] = {}
        self._nc: NATS | None = None
        self._workers: KeyValue | None = None
        self._leases: KeyValue | None = None
        self._heartbeat_rev = 0
        self._lock = asyncio.Lock()  # one change of the running cameras at a time
        self._round = asyncio.Lock()  # one round at a time
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.clock_skew_s: float | None = None
        self.problems: deque[str] = deque(maxlen=PROBLEMS_KEPT)

    @property
    def accepting(self) -> bool:
        """Whether this worker takes cameras: only with a clock measured within the bound."""
        return self.clock_skew_s is not None and abs(self.clock_skew_s) <= self._cfg.max_clock_skew_s

    def owned(self) -> frozenset[uuid.UUID]:
        """The cameras whose lease this process holds."""
        return frozenset(self._owned)

    # --- joining and leaving ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register the heartbeat (refused if the id is live elsewhere), start the lease loops."""
        nc = NATS()
        await nc.connect(
            self._url,
            name=f"safecity-worker-{self.worker_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=5,
        )
        self._nc = nc
        try:
            workers, leases = buckets(self._cfg)
            self._workers = await _bucket(nc, workers, self._cfg.lease_s)
            self._leases = await _bucket(nc, leases, self._cfg.lease_s)
            await self._register()
        except BaseException:
            await self.disconnect()
            raise
        logger.info(
            "worker %s joined (capacity %d, lease %.1f s)",
            self.worker_id,
            self._cfg.capacity,
            self._cfg.lease_s,
        )
        self._tasks = [
            asyncio.create_task(self._ticks(), name="cluster-leases"),
            asyncio.create_task(self._renewals(), name="cluster-renewals"),
            asyncio.create_task(self._guard(), name="cluster-guard"),
        ]

    async def _register(self) -> None:
        """Create this worker's heartbeat; an entry of another live process under the id refuses the start.

        This host's own earlier process under the id, now gone (a restart after a crash), is waited out: its
        entry and leases expire within a lease.
        """
        kv = self._require(self._workers)
        deadline = time.monotonic() + self._cfg.lease_s + 2 * self._cfg.renew_s
        while True:
            try:
                self._heartbeat_rev = await kv.create(self.worker_id, self._heartbeat_value())
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                pass
            try:
                entry = await kv.get(self.worker_id)
            except nats.js.errors.KeyNotFoundError:
                continue  # expired meanwhile
            other = _json(entry.value)
            ours = other.get("host") == socket.gethostname()
            if not ours or alive(int(other.get("pid", 0))) or time.monotonic() > deadline:
                raise WorkerIdInUse(
                    f"worker id {self.worker_id!r} is live on host {other.get('host')!r} "
                    f"(pid {other.get('pid')}): give this worker another --worker-id, or stop that one"
                )
            await asyncio.sleep(self._cfg.renew_s)

    async def stop(self) -> None:
        """Stop the loops and this process's cameras, then give their leases and the heartbeat back."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        held, self._owned = self._owned, {}
        if held:
            await self._apply()
        if self._nc is not None and self._nc.is_connected:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                for camera_id, lease in held.items():
                    await self._require(self._leases).delete(str(camera_id), last=lease.revision)
                await self._require(self._workers).delete(self.worker_id, last=self._heartbeat_rev)
        await self.disconnect()

    async def disconnect(self) -> None:
        """Close the connection to NATS (what a partition looks like from here; `stop` calls it)."""
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()

    async def view(self) -> ClusterView:
        """The workers and leases as JetStream holds them."""
        return await _view(self._require(self._workers), self._require(self._leases))

    # --- the loops -------------------------------------------------------------------------------

    async def _ticks(self) -> None:
        # Ends on the flag too: nats-py can turn a cancelled request into a timeout, swallowing the cancel.
        while not self._stopping:
            started = time.monotonic()
            try:
                await self.tick()
            except WorkerIdInUse as exc:
                logger.critical("%s: this worker runs no cameras", exc)
                self._problem(f"{exc}: this worker runs no cameras")
                await self._drop(list(self._owned), "its worker id is used by another process")
                return
            except (nats.errors.Error, TimeoutError) as exc:  # the guard stops cameras whose lease runs out
                logger.warning("worker %s: NATS: %r", self.worker_id, exc)
            except Exception:  # a bug or bad data must not end the renewals: the next round tries again
                logger.exception("worker %s: lease round failed", self.worker_id)
            await asyncio.sleep(max(0.0, started + self._cfg.renew_s - time.monotonic()))

    async def _renewals(self) -> None:
        """Renew the held leases every `renew_s`, apart from the rounds: reading every worker and lease to
        plan takes longer the more cameras there are, and must never make a lease run out.
        """
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._renew()
            except Exception:  # the guard stops the cameras whose lease this could not renew
                logger.exception("worker %s: lease renewal failed", self.worker_id)
            await asyncio.sleep(max(0.0, started + self._cfg.renew_s - time.monotonic()))

    async def _guard(self) -> None:
        """Stop each camera whose lease could expire soon by this process's clock: it could not renew."""
        while not self._stopping:
            end = time.monotonic() - self._cfg.lease_s + self._cfg.stop_margin_s
            late = [c for c, held in self._owned.items() if held.renewed_at <= end]
            if late:
                await self._drop(late, "its lease could not be renewed in time")
            await asyncio.sleep(GUARD_S)

    async def tick(self) -> None:
        """One round: heartbeat (and clock), then take and give back cameras by the plan. Rounds never
        overlap (one asked for while the loop's runs waits for it): each reads the heartbeat it wrote."""
        async with self._round:
            sent = time.time()
            await self._heartbeat()
            received = time.time()
            workers = await _snapshot(self._require(self._workers))
            self._measure_clock(workers.get(self.worker_id), sent, received)
            await self._rebalance(workers)

    async def _heartbeat(self) -> None:
        kv = self._require(self._workers)
        try:
            self._heartbeat_rev = await kv.update(
                self.worker_id, self._heartbeat_value(), last=self._heartbeat_rev
            )
            return
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        try:
            entry = await kv.get(self.worker_id)
        except nats.js.errors.KeyNotFoundError:  # it expired while NATS was out of reach: join again
            self._heartbeat_rev = await kv.create(self.worker_id, self._heartbeat_value())
            return
        other = _json(entry.value)
        if other.get("instance") != self._instance:
            raise WorkerIdInUse(
                f"worker id {self.worker_id!r} was taken over by host {other.get('host')!r} "
                f"(pid {other.get('pid')})"
            )
        self._heartbeat_rev = entry.revision or 0  # our own write, whose answer was lost

    def _measure_clock(self, entry: KeyValue.Entry | None, sent: float, received: float) -> None:
        """This clock minus the server's, from the server's time on the heartbeat just written."""
        if (
            entry is None
            or entry.revision != self._heartbeat_rev
            or not isinstance(entry.created, dt.datetime)
        ):
            return
        self.clock_skew_s = (sent + received) / 2 - entry.created.timestamp()
        if not self.accepting:
            self._problem(
                f"clock differs from the NATS server's by {self.clock_skew_s:+.0f} s (bound "
                f"{self._cfg.max_clock_skew_s:g} s): this worker takes no cameras"
            )

    def _heartbeat_value(self) -> bytes:
        return json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "instance": self._instance,
                "capacity": self._cfg.capacity,
                "started_at": self._started_at.isoformat(),
                "cameras": sorted(str(c) for c in self._owned),
                "accepting": self.accepting,
                "clock_skew_s": self.clock_skew_s,
                "problems": list(self.problems),
            }
        ).encode()

    def _lease_value(self, since: dt.datetime) -> bytes:
        return json.dumps(
            {"worker": self.worker_id, "instance": self._instance, "since": since.isoformat()}
        ).encode()

    async def _renew(self) -> None:
        owned = list(self._owned)
        lost: dict[str, list[uuid.UUID]] = {}
        for camera_id, why in zip(owned, await asyncio.gather(*map(self._renew_one, owned)), strict=True):
            if why is not None:
                lost.setdefault(why, []).append(camera_id)
        for why, cameras in lost.items():  # one change of the running cameras per reason, not per camera
            await self._drop(cameras, why)

    async def _renew_one(self, camera_id: uuid.UUID) -> str | None:
        """Renew one lease; why it is no longer this process's, if it is not."""
        kv, key = self._require(self._leases), str(camera_id)
        held = self._owned.get(camera_id)
        if held is None:
            return None
        sent = time.monotonic()
        try:
            revision = await kv.update(key, self._lease_value(held.since), last=held.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                return "its lease expired before it could be renewed"  # another worker may take it now
            if _json(entry.value).get("instance") != self._instance or entry.revision is None:
                return "its lease was changed by someone else"
            revision = entry.revision  # our own renewal whose answer was lost; renewed next round
            sent = held.renewed_at
        except (nats.errors.Error, TimeoutError):
            return None  # not renewed: the guard stops the camera before the lease can run out
        if camera_id in self._owned:
            self._owned[camera_id] = replace(held, revision=revision, renewed_at=sent)
        return None

    async def _rebalance(self, workers: dict[str, KeyValue.Entry]) -> None:
        leases_kv = self._require(self._leases)
        live = {w.worker_id: w for e in workers.values() if (w := _worker(e)) is not None}
        leases = await _snapshot(leases_kv)
        owners = {le.camera_id: le.worker_id for e in leases.values() if (le := _lease(e)) is not None}
        owners.update(dict.fromkeys(self._owned, self.worker_id))
        accepting = {w: info.capacity for w, info in live.items() if info.accepting and w != self.worker_id}
        if self.accepting:
            accepting[self.worker_id] = self._cfg.capacity
        wanted = {c for c, w in plan(self._cameras, accepting, owners).items() if w == self.worker_id}
        release = [c for c in self._owned if c not in wanted]
        if release:
            await self._release(release)
        # Leases of this process that it no longer runs (dropped while NATS was away): give them back.
        for key, entry in leases.items():
            lease = _lease(entry) if _json(entry.value).get("instance") == self._instance else None
            if lease is not None and lease.camera_id not in self._owned:
                with contextlib.suppress(nats.js.errors.Error):
                    await leases_kv.delete(key, last=entry.revision)
        claimed = False
        for camera_id in sorted(wanted - self._owned.keys() - owners.keys(), key=str):
            claimed |= await self._claim(camera_id)
        if claimed:
            await self._apply()

    async def _claim(self, camera_id: uuid.UUID) -> bool:
        since, sent = utcnow(), time.monotonic()
        try:
            revision = await self._require(self._leases).create(str(camera_id), self._lease_value(since))
        except nats.js.errors.KeyWrongLastSequenceError:
            return False  # someone else was first
        self._owned[camera_id] = _Held(revision, sent, since)
        logger.info("worker %s takes camera %s", self.worker_id, camera_id)
        return True

    async def _release(self, cameras: list[uuid.UUID]) -> None:
        """Stop the cameras, then delete their leases (in that order: never two recorders)."""
        held = {c: self._owned.pop(c) for c in cameras if c in self._owned}
        await self._apply()
        for camera_id, lease in held.items():
            logger.info("worker %s gives camera %s back", self.worker_id, camera_id)
            with contextlib.suppress(nats.js.errors.Error):
                await self._require(self._leases).delete(str(camera_id), last=lease.revision)

    async def _drop(self, cameras: list[uuid.UUID], why: str) -> None:
        """Stop cameras whose lease is lost or in doubt; their leases expire by themselves."""
        dropped = [c for c in cameras if self._owned.pop(c, None) is not None]
        if not dropped:
            return
        if len(dropped) == 1:
            self._problem(f"camera {dropped[0]} stopped: {why}")
        else:  # one line for many: a stalled worker may lose hundreds at once
            self._problem(f"{len(dropped)} cameras stopped: {why} ({', '.join(map(str, dropped[:3]))}, …)")
        await self._apply()

    async def _apply(self) -> None:
        async with self._lock:
            await self._changed()

    def _problem(self, message: str) -> None:
        """Log and keep a problem for the workers page (a repeat of the last one is kept once)."""
        if self.problems and self.problems[-1].endswith(f"Z {message}"):
            return
        logger.warning("worker %s: %s", self.worker_id, message)
        self.problems.append(f"{utcnow():%Y-%m-%d %H:%M:%S}Z {message}")

    @staticmethod
    def _require(kv: KeyValue | None) -> KeyValue:
        if kv is None:
            raise nats.errors.ConnectionClosedError
        return kv


async def current_view(bus_url: str, cfg: ClusterSettings, local: Assignment | None) -> ClusterView | None:
    """The cluster as JetStream holds it (NATS bus), else this process's own assignment (None: it runs no
    cameras)."""
    if _on_nats(bus_url):
        return await read_view(bus_url, cfg)
    return None if local is None else await local.view()


def _on_nats(bus_url: str) -> bool:
    return bus_url.startswith(("nats://", "tls://"))


def create_assignment(bus_url: str, cfg: ClusterSettings, *, worker_id: str | None = None) -> Assignment:
    """Leases through JetStream on the NATS bus; on the memory bus, one process runs every camera."""
    if _on_nats(bus_url):
        return JetStreamAssignment(bus_url, cfg, worker_id=worker_id)
    return LocalAssignment(worker_id or cfg.worker_id, cfg.capacity)
