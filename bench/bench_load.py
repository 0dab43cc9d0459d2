"""Scale-out under load: 1,310 camera feeds shared among workers by JetStream leases, sustained, every event,
plate read and object track through NATS JetStream into PostgreSQL once.

Run: `python -m bench.bench_load [--cameras 1310] [--workers 3] [--stores 2] [--minutes 10] [--real 2]
[--event-rate 0.1] [--track-rate 0.5] [--anpr-share 0.15] [--plate-rate 0.3]`.

Each worker is a process of its own that joins the cluster as `safecity worker` does
(`cluster.leases.JetStreamAssignment`: heartbeats and one lease per camera in JetStream KV) and runs the
cameras it holds. A simulated camera publishes what a busy street's analytics publish, at random (Poisson)
times at the given mean rates per camera: rule events, finished object tracks, and on ANPR cameras (a share
of them) plate reads, each with its id made at the source, as the analytics do. `--real` cameras are real
RTSP streams (opencv-doc's CCTV footage served by GStreamer) that the worker holding their lease ingests and
records to disk as a worker does, publishing their status changes as events. The store processes run the
stores' own consumers (`events.service.store_from_bus`, `analytics.flows.sightings_from_bus`,
`forensics.flows.tracks_from_bus`), sharing each durable consumer, against a throwaway PostgreSQL schema
whose three tables get a `stored_at` column filled by the database as each row is inserted.

Printed: produced and stored counts (they must be equal: nothing lost, nothing twice), event-to-store
latency (p50/p99/max, from the moment the producer stamped the record to its insert), against the same
path measured first with 10 cameras on an idle system (the baseline, same run); the real streams' recorded
seconds; and per 100 cameras the bus's messages and bytes per second, NATS's and PostgreSQL's CPU, the rows
and the database growth per second, and the lease traffic. Needs PostgreSQL (SAFECITY_TEST_DATABASE_URL or
127.0.0.1:5432/test) and NATS JetStream (SAFECITY_TEST_NATS_URL or 127.0.0.1:4222).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import multiprocessing as mp
import multiprocessing.queues
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import nats
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.bench_ingest import make_clip
from bench.common import postgres_url, scratch_schema
from safecity import migrations
from safecity.analytics import flows as analytics
from safecity.analytics.plates.schemas import SightingIn
from safecity.cameras.models import Camera
from safecity.cluster.leases import JetStreamAssignment
from safecity.config import ClusterSettings, VideoSettings
from safecity.core.bus import NatsBus, StreamSpec
from safecity.core.db import create_db_engine, create_session_factory, utcnow
from safecity.events import service as events
from safecity.events.schemas import EventIn, EventOut
from safecity.forensics import flows as forensics
from safecity.forensics.schemas import TrackIn
from safecity.org.models import District, Province
from safecity.video.ingest import CameraSpec, IngestWorker
from safecity.video.recorder import SegmentInfo, SegmentRecorder

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
RTSP_SERVER = Path(__file__).resolve().parents[1] / "tests" / "rtsp_server.py"
TICK_S = 0.2  # how often a worker publishes what its cameras produced since the last tick
DRAIN_S = 120.0  # how long the stores may take to catch up once the producers stop
STORED = ("events", "plate_sightings", "object_tracks")
KINDS = ("analytics.line_crossing", "analytics.intrusion", "analytics.loitering", "analytics.wrong_way")
CLASSES = ("person", "car", "motorcycle", "rickshaw", "bus", "truck")
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


@dataclass(frozen=True)
class Rates:
    """Mean records per second per camera (Poisson), and the share of cameras that read plates."""

    event: float
    track: float
    plate: float
    anpr_share: float


@dataclass(frozen=True)
class Plan:
    """What every worker process is told."""

    nats_url: str
    prefix: str  # the run's own stream subjects and KV buckets
    cameras: dict[uuid.UUID, uuid.UUID]  # camera -> its district
    anpr: frozenset[uuid.UUID]
    real: dict[uuid.UUID, str]  # camera -> RTSP URL
    rates: Rates
    seconds: float
    workers: int
    recordings: str


@dataclass
class Produced:
    """One worker's account of its run."""

    worker: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORED, 0))
    bytes: int = 0
    camera_seconds: float = 0.0  # sum over ticks of cameras held x tick length
    changes: int = 0  # how often its set of cameras changed
    recorded_s: float = 0.0  # real streams' seconds written to segments
    real_held_s: float = 0.0  # seconds it held a real camera's lease


# --- producing ---------------------------------------------------------------------------------------


def _event(camera: uuid.UUID, district: uuid.UUID, at: dt.datetime, rng: np.random.Generator) -> EventIn:
    return EventIn(
        id=uuid.uuid4(),
        occurred_at=at,
        kind=KINDS[int(rng.integers(len(KINDS)))],
        source=f"camera:{camera}",
        district_id=district,
        camera_id=camera,
        severity=int(rng.integers(0, 4)),
        payload={
            "track_id": int(rng.integers(1_000_000)),
            "object": CLASSES[int(rng.integers(len(CLASSES)))],
        },
    )


def _track(camera: uuid.UUID, district: uuid.UUID, at: dt.datetime, rng: np.random.Generator) -> TrackIn:
    seconds = float(rng.uniform(2, 20))
    x, y = float(rng.uniform(0, 0.8)), float(rng.uniform(0, 0.8))
    path = [(t * 0.5, x + t * 0.01, y, x + t * 0.01 + 0.1, y + 0.2) for t in range(int(seconds * 2))]
    return TrackIn(
        id=uuid.uuid4(),
        camera_id=camera,
        district_id=district,
        track_id=int(rng.integers(1_000_000)),
        class_name=CLASSES[int(rng.integers(len(CLASSES)))],
        first_seen=at - dt.timedelta(seconds=seconds),
        last_seen=at,
        path=path,
        frame_width=1920,
        frame_height=1080,
    )


def _sighting(
    camera: uuid.UUID, district: uuid.UUID, at: dt.datetime, rng: np.random.Generator
) -> SightingIn:
    letters = "".join(LETTERS[int(i)] for i in rng.integers(len(LETTERS), size=3))
    plate = f"{letters}{int(rng.integers(100, 10000))}"
    return SightingIn(
        camera_id=camera,
        district_id=district,
        seen_at=at,
        first_seen=at - dt.timedelta(seconds=2),
        last_seen=at,
        plate=plate,
        confidence=float(rng.uniform(0.7, 0.99)),
        char_confidences=[0.95] * len(plate),
        layout="PK-PB",
        jurisdiction="Punjab",
        vehicle_class="car",
        frames=int(rng.integers(1, 12)),
    )


def _messages(
    plan: Plan, held: list[uuid.UUID], dt_s: float, rng: np.random.Generator
) -> tuple[list[tuple[str, bytes, str | None]], dict[str, int]]:
    """What the held cameras produced over `dt_s` seconds, as (subject, data, id) for the bus."""
    now = utcnow()
    items: list[tuple[str, bytes, str | None]] = []
    counts = dict.fromkeys(STORED, 0)
    rates = plan.rates
    for camera, n_events, n_tracks, n_plates in zip(
        held,
        rng.poisson(rates.event * dt_s, len(held)),
        rng.poisson(rates.track * dt_s, len(held)),
        rng.poisson(rates.plate * dt_s, len(held)),
        strict=True,
    ):
        district = plan.cameras[camera]
        for _ in range(n_events):
            event = _event(camera, district, now, rng)
            data = EventOut.model_validate(event.model_dump()).model_dump_json().encode()
            items.append((f"{plan.prefix}.events.{camera}", data, str(event.id)))
        for _ in range(n_tracks):
            track = _track(camera, district, now, rng)
            items.append(
                (f"{plan.prefix}.forensics.track.{camera}", track.model_dump_json().encode(), str(track.id))
            )
        if camera in plan.anpr:
            for _ in range(n_plates):
                sighting = analytics.as_published(_sighting(camera, district, now, rng))
                items.append(
                    (
                        f"{plan.prefix}.plates.sighting.{camera}",
                        sighting.model_dump_json().encode(),
                        str(sighting.id),
                    )
                )
        counts["events"] += int(n_events)
        counts["object_tracks"] += int(n_tracks)
        counts["plate_sightings"] += int(n_plates) if camera in plan.anpr else 0
    return items, counts


class RealCameras:
    """The real streams a worker holds: ingested and recorded as a worker does, status changes published."""

    def __init__(self, plan: Plan, loop: asyncio.AbstractEventLoop, bus: NatsBus, produced: Produced) -> None:
        self._plan, self._loop, self._bus, self._produced = plan, loop, bus, produced
        self._running: dict[uuid.UUID, IngestWorker] = {}
        self._settings = VideoSettings()

    def sync(self, held: frozenset[uuid.UUID]) -> None:
        for camera in set(self._running) - held:
            self._running.pop(camera).stop()
        for camera in held & set(self._plan.real) - set(self._running):
            recorder = SegmentRecorder(camera, Path(self._plan.recordings), 4.0, self._segment)
            worker = IngestWorker(
                CameraSpec(camera, self._plan.real[camera], "real", self._plan.cameras[camera]),
                self._settings,
                sinks=[recorder],
                on_status_change=self._status,
            )
            worker.start()
            self._running[camera] = worker

    def held(self) -> int:
        return len(self._running)

    def _segment(self, info: SegmentInfo) -> None:
        self._produced.recorded_s += (info.end - info.start).total_seconds()

    def _status(self, camera: uuid.UUID, _old: object, new: object, _status: object) -> None:
        event = EventIn(
            id=uuid.uuid4(),
            occurred_at=utcnow(),
            kind=f"camera.{getattr(new, 'value', new)}",
            source=f"camera:{camera}",
            district_id=self._plan.cameras[camera],
            camera_id=camera,
            severity=1,
            payload={},
        )
        data = EventOut.model_validate(event.model_dump()).model_dump_json().encode()
        self._produced.counts["events"] += 1
        asyncio.run_coroutine_threadsafe(
            self._bus.publish(f"{self._plan.prefix}.events.{camera}", data, msg_id=str(event.id)), self._loop
        )

    def stop(self) -> None:
        for worker in self._running.values():
            worker.stop()
        self._running.clear()


async def _work(index: int, plan: Plan) -> Produced:
    produced = Produced(worker=f"load-{index}")
    bus = NatsBus(plan.nats_url, streams=(StreamSpec(f"LOAD_{plan.prefix}", (f"{plan.prefix}.>",)),))
    await bus.start()
    capacity = math.ceil(len(plan.cameras) / max(plan.workers - 1, 1))  # room to take a lost worker's share
    assignment = JetStreamAssignment(
        plan.nats_url, ClusterSettings(kv_prefix=plan.prefix, capacity=capacity), worker_id=produced.worker
    )
    held: frozenset[uuid.UUID] = frozenset()
    real = RealCameras(plan, asyncio.get_running_loop(), bus, produced)

    async def changed(cameras: frozenset[uuid.UUID] | None) -> None:
        nonlocal held
        held = cameras or frozenset()
        produced.changes += 1
        await asyncio.to_thread(real.sync, held)

    assignment.bind(changed)
    assignment.set_cameras(dict.fromkeys(plan.cameras))
    await assignment.start()
    rng = np.random.default_rng(index)
    loop = asyncio.get_running_loop()
    end = loop.time() + plan.seconds
    last = loop.time()
    while (now := loop.time()) < end:
        await asyncio.sleep(max(0.0, last + TICK_S - now))
        now = loop.time()
        cameras = sorted(held)
        items, counts = _messages(plan, cameras, now - last, rng)
        produced.camera_seconds += len(cameras) * (now - last)
        produced.real_held_s += real.held() * (now - last)
        last = now
        if items:
            await bus.publish_many(items)
            produced.bytes += sum(len(data) for _, data, _ in items)
            for kind, n in counts.items():
                produced.counts[kind] += n
    await asyncio.to_thread(real.stop)
    await assignment.stop()
    await bus.close()
    return produced


def worker_process(index: int, plan: Plan, results: multiprocessing.queues.Queue[Produced]) -> None:
    """One worker: join, run the cameras held, report what was produced."""
    results.put(asyncio.run(_work(index, plan)))


# --- storing -----------------------------------------------------------------------------------------


async def _store(url: str, nats_url: str, prefix: str, done: EventType) -> None:
    bus = NatsBus(nats_url, streams=(StreamSpec(f"LOAD_{prefix}", (f"{prefix}.>",)),))
    await bus.start()
    factory = create_session_factory(create_db_engine(url))
    stop = asyncio.Event()
    stores = [
        events.store_from_bus(
            bus=bus,
            session_factory=factory,
            subject=f"{prefix}.events.>",
            durable=f"{prefix}-events",
            stop=stop,
        ),
        analytics.sightings_from_bus(
            bus=bus,
            session_factory=factory,
            subject=f"{prefix}.plates.sighting.>",
            durable=f"{prefix}-plates",
            stop=stop,
        ),
        forensics.tracks_from_bus(
            bus=bus,
            session_factory=factory,
            subject=f"{prefix}.forensics.track.>",
            durable=f"{prefix}-tracks",
            stop=stop,
        ),
    ]
    tasks = [asyncio.create_task(s) for s in stores]
    await asyncio.to_thread(done.wait)
    stop.set()
    await asyncio.gather(*tasks)
    await bus.close()


def store_process(url: str, nats_url: str, prefix: str, done: EventType) -> None:
    """One store process: the three stores' consumers until `done` is set."""
    asyncio.run(_store(url, nats_url, prefix, done))


# --- the run -----------------------------------------------------------------------------------------


@contextmanager
def load_schema(base_url: str) -> Iterator[str]:
    """A migrated throwaway schema (its URL), with `stored_at` filled by the database on each insert."""
    with scratch_schema(base_url) as scratch:
        engine = create_db_engine(scratch.url)
        migrations.upgrade(engine)
        with engine.begin() as conn:
            for table in STORED:
                conn.execute(
                    text(f"ALTER TABLE {table} ADD COLUMN stored_at timestamptz DEFAULT clock_timestamp()")
                )
        engine.dispose()
        yield scratch.url


def add_cameras(
    engine: Engine, count: int, real: list[str]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, str]]:
    """Eight districts, `count` cameras among them (the first `len(real)` streaming from `real`)."""
    with Session(engine) as session:
        province = Province(code="LP", name="Load Province")
        session.add(province)
        session.flush()
        districts = [
            District(province_id=province.id, code=f"LD{i}", name=f"Load {i}", latitude=34.0, longitude=71.5)
            for i in range(8)
        ]
        session.add_all(districts)
        session.flush()
        cameras = [
            Camera(
                name=f"load-{i:04d}",
                district_id=districts[i % len(districts)].id,
                latitude=34.0 + i * 1e-4,
                longitude=71.5,
                stream_url=real[i] if i < len(real) else "rtsp://10.0.0.1/1",
            )
            for i in range(count)
        ]
        session.add_all(cameras)
        session.commit()
        return {c.id: c.district_id for c in cameras if c.district_id}, {
            c.id: c.stream_url for c in cameras[: len(real)]
        }


@contextmanager
def rtsp_streams(count: int, seconds: float, folder: Path) -> Iterator[list[str]]:
    """`count` real RTSP cameras serving CCTV footage for at least `seconds`."""
    if count == 0:
        yield []
        return
    clip = make_clip(folder / "street.mp4", seconds + 30, width=640, height=360)
    servers = []
    urls = []
    try:
        for i in range(count):
            port = 18600 + i
            server = subprocess.Popen(
                [
                    "/usr/bin/python3",
                    str(RTSP_SERVER),
                    "--port",
                    str(port),
                    "--mount",
                    "cam",
                    "--file",
                    str(clip),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            servers.append(server)
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise SystemExit(f"the RTSP server on port {port} did not start")
            urls.append(f"rtsp://127.0.0.1:{port}/cam")
        yield urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


def cpu_seconds(wanted: str | int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by the process `wanted` (a pid) or each process so named."""
    used = {}
    tick = os.sysconf("SC_CLK_TCK")
    paths = [Path(f"/proc/{wanted}/stat")] if isinstance(wanted, int) else Path("/proc").glob("[0-9]*/stat")
    for stat in paths:
        with suppress(OSError, ValueError):
            line = stat.read_text()
            name, fields = line[line.index("(") + 1 : line.rindex(")")], line[line.rindex(")") + 2 :].split()
            if isinstance(wanted, int) or name == wanted:
                used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds used between two readings by the processes alive at the second (new ones from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def database_state(engine: Engine) -> tuple[dict[str, int], int]:
    """Rows in the three tables, and their size on disk (bytes, with indexes)."""
    with engine.connect() as conn:
        count = "SELECT count(*) FROM {}"  # our own tables' names only
        counts = {t: int(conn.execute(text(count.format(t))).scalar_one()) for t in STORED}
        size = sum(
            int(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one()) for t in STORED
        )
    return counts, size


# The moment each kind of record was stamped by its producer; a real camera's status events are left out
# (stamped by the ingest thread, handed to the loop later: not what this measures).
STAMPED = {
    "events": "SELECT extract(epoch FROM stored_at - occurred_at) FROM events WHERE occurred_at >= :since"
    " AND kind LIKE 'analytics.%'",
    "plate_sightings": "SELECT extract(epoch FROM stored_at - last_seen) FROM plate_sightings"
    " WHERE last_seen >= :since",
    "object_tracks": "SELECT extract(epoch FROM stored_at - last_seen) FROM object_tracks"
    " WHERE last_seen >= :since",
}


def latencies(engine: Engine, since: dt.datetime) -> dict[str, npt.NDArray[np.float64]]:
    """Seconds from each record's producer stamp to its insert, by table, for those produced after `since`."""
    with engine.connect() as conn:
        return {
            table: np.array([float(r[0]) for r in conn.execute(text(query), {"since": since})])
            for table, query in STAMPED.items()
        }


@dataclass(frozen=True)
class Phase:
    """One sustained run's figures."""

    name: str
    cameras: int
    seconds: float
    produced: dict[str, int]
    stored: dict[str, int]
    latency: dict[str, npt.NDArray[np.float64]]
    drain_s: float
    bytes: int
    nats_cpu: float
    postgres_cpu: float
    stores_cpu: float
    growth: int
    lease_writes: int
    workers: list[Produced]
    window_s: float  # wall time the CPU and growth figures cover


async def _forget(nats_url: str, prefix: str) -> int:
    """Delete the run's stream and KV buckets; how many lease writes the run made."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    info = await js.stream_info(f"KV_{prefix}_leases")
    await js.delete_stream(f"LOAD_{prefix}")
    for bucket in ("workers", "leases"):
        with suppress(Exception):
            await js.delete_key_value(f"{prefix}_{bucket}")
    await nc.close()
    return int(info.state.last_seq)


def run_phase(
    name: str,
    *,
    url: str,
    nats_url: str,
    cameras: dict[uuid.UUID, uuid.UUID],
    real: dict[uuid.UUID, str],
    rates: Rates,
    seconds: float,
    workers: int,
    stores: int,
    recordings: Path,
    console: Console,
) -> Phase:
    """Run `workers` workers over `cameras` for `seconds`, `stores` store processes, and measure."""
    prefix = f"load{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(1)
    anpr = frozenset(c for c in cameras if rng.random() < rates.anpr_share)
    plan = Plan(nats_url, prefix, cameras, anpr, real, rates, seconds, workers, str(recordings))
    engine = create_db_engine(url)
    before, size_before = database_state(engine)
    context = mp.get_context("spawn")
    done_storing = context.Event()
    store_procs = [
        context.Process(target=store_process, args=(url, nats_url, prefix, done_storing))
        for _ in range(stores)
    ]
    for proc in store_procs:
        proc.start()
    results: multiprocessing.queues.Queue[Produced] = context.Queue()
    started, window = utcnow(), time.monotonic()
    nats_before, pg_before = cpu_seconds("nats-server"), cpu_seconds("postgres")
    worker_procs = [context.Process(target=worker_process, args=(i, plan, results)) for i in range(workers)]
    for proc in worker_procs:
        proc.start()
    console.print(f"{name}: {len(cameras)} cameras, {workers} workers, {stores} stores, {seconds:.0f} s …")
    done = [results.get(timeout=seconds + 120) for _ in worker_procs]
    for proc in worker_procs:
        proc.join(30)
    produced = {kind: sum(w.counts[kind] for w in done) for kind in STORED}
    drain_from = time.monotonic()
    while True:
        counts, _ = database_state(engine)
        stored = {kind: counts[kind] - before[kind] for kind in STORED}
        if stored == produced or time.monotonic() - drain_from > DRAIN_S:
            break
        time.sleep(0.5)
    drain_s = time.monotonic() - drain_from
    nats_cpu, pg_cpu = (
        cpu_since(nats_before, cpu_seconds("nats-server")),
        cpu_since(pg_before, cpu_seconds("postgres")),
    )
    stores_cpu = sum(sum(cpu_seconds(proc.pid).values()) for proc in store_procs if proc.pid)
    done_storing.set()
    for proc in store_procs:
        proc.join(60)
    _, size_after = database_state(engine)
    figures = Phase(
        name,
        len(cameras),
        seconds,
        produced,
        stored,
        latencies(engine, started),
        drain_s,
        sum(w.bytes for w in done),
        nats_cpu,
        pg_cpu,
        stores_cpu,
        size_after - size_before,
        asyncio.run(_forget(nats_url, prefix)),
        done,
        time.monotonic() - window,
    )
    engine.dispose()
    return figures


def _ms(values: npt.NDArray[np.float64], q: float) -> str:
    return f"{1000 * float(np.quantile(values, q)):,.0f}" if len(values) else "-"


def report(console: Console, baseline: Phase, load: Phase) -> None:
    """Print the phases, the workers and the load per 100 cameras."""
    table = Table(title="Every record produced is stored once (PostgreSQL through NATS JetStream)")
    for column in ("run", "cameras", "records", "produced", "stored", "equal", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for phase in (baseline, load):
        for kind in STORED:
            table.add_row(
                phase.name,
                f"{phase.cameras:,}",
                kind,
                f"{phase.produced[kind]:,}",
                f"{phase.stored[kind]:,}",
                "yes" if phase.produced[kind] == phase.stored[kind] else "NO",
                _ms(phase.latency[kind], 0.5),
                _ms(phase.latency[kind], 0.99),
                _ms(phase.latency[kind], 1.0),
            )
    console.print(table)
    console.print(f"the stores caught up {load.drain_s:.1f} s after the producers stopped")
    every_b, every_l = (
        np.concatenate(list(baseline.latency.values())),
        np.concatenate(list(load.latency.values())),
    )
    if len(every_b) and len(every_l):
        ratio = float(np.quantile(every_l, 0.99) / np.quantile(every_b, 0.99))
        console.print(
            f"p99 producer-to-store latency, all records: {_ms(every_l, 0.99)} ms under load = {ratio:.2f}x"
            f" the baseline's {_ms(every_b, 0.99)} ms (10 cameras, same run)"
        )
    workers = Table(title="Workers (cameras shared by JetStream leases)")
    for column in ("worker", "cameras held (mean)", "changes", "real stream held s", "recorded s"):
        workers.add_column(column, justify="right")
    for w in load.workers:
        workers.add_row(
            w.worker,
            f"{w.camera_seconds / load.seconds:,.0f}",
            str(w.changes),
            f"{w.real_held_s:.0f}",
            f"{w.recorded_s:.0f}",
        )
    console.print(workers)
    per = 100 / load.cameras
    window = load.window_s
    messages = sum(load.produced.values())
    rows = Table(title=f"Load per 100 cameras ({load.cameras:,} cameras, {load.seconds / 60:.0f} min)")
    rows.add_column("what")
    rows.add_column("per 100 cameras", justify="right")
    for what, value in (
        ("bus messages / s", f"{messages / load.seconds * per:,.1f}"),
        ("bus payload KiB / s", f"{load.bytes / load.seconds * per / 1024:,.1f}"),
        ("lease writes / s (JetStream KV)", f"{load.lease_writes / load.seconds * per:,.1f}"),
        ("NATS server CPU (cores)", f"{load.nats_cpu / window * per:.3f}"),
        ("PostgreSQL CPU (cores)", f"{load.postgres_cpu / window * per:.3f}"),
        ("store consumers' CPU (cores)", f"{load.stores_cpu / window * per:.3f}"),
        ("rows inserted / s", f"{sum(load.stored.values()) / load.seconds * per:,.1f}"),
        ("database growth MiB / day", f"{load.growth / load.seconds * 86400 * per / 2**20:,.0f}"),
    ):
        rows.add_row(what, value)
    console.print(rows)


def main() -> None:
    """Run the baseline and the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, default=1310)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--real", type=int, default=2, help="real RTSP streams among the cameras")
    parser.add_argument("--event-rate", type=float, default=0.1, help="rule events per camera per second")
    parser.add_argument(
        "--track-rate", type=float, default=0.5, help="finished object tracks per camera per s"
    )
    parser.add_argument("--plate-rate", type=float, default=0.3, help="plate reads per ANPR camera per s")
    parser.add_argument("--anpr-share", type=float, default=0.15, help="share of cameras that read plates")
    args = parser.parse_args()
    console = Console(width=120)
    rates = Rates(args.event_rate, args.track_rate, args.plate_rate, args.anpr_share)
    seconds = args.minutes * 60
    nats_url = os.environ.get("SAFECITY_TEST_NATS_URL", DEFAULT_NATS_URL)
    with (
        tempfile.TemporaryDirectory() as tmp,
        load_schema(postgres_url()) as url,
        rtsp_streams(args.real, seconds, Path(tmp)) as streams,
    ):
        engine = create_db_engine(url)
        cameras, real = add_cameras(engine, args.cameras, streams)
        engine.dispose()
        phase = partial(
            run_phase, url=url, nats_url=nats_url, rates=rates, recordings=Path(tmp), console=console
        )
        quiet = dict(list(cameras.items())[len(streams) : len(streams) + 10])
        baseline = phase("baseline", cameras=quiet, real={}, seconds=30, workers=1, stores=1)
        load = phase(
            "load", cameras=cameras, real=real, seconds=seconds, workers=args.workers, stores=args.stores
        )
    report(console, baseline, load)


if __name__ == "__main__":
    main()
