"""Violations to the review queue: red-light crossings on the bus → violations (COLLECTING) → evidence packets
from the recording → PENDING, against baselines measured in the same run.

Run: `python -m bench.bench_violations [--violations 300] [--seconds 60] [--workers 2]`.
A pickup truck (darknet's dog.jpg) drives across a real square (opencv-doc's vtest.avi, 768x576), encoded
as H.264 at 10 fps and recorded in 10 s segments by the recorder; a junction's stop line is enforced with
its signal red throughout. Each violation is one crossing event, stored with its snapshot (the truck's box
drawn) as the analytics store it and published on the memory bus, and the truck's plate read (its crop, as
the ANPR stores it). Violations are ~6 a second from the one camera: a burst, which the assembler builds
together; they are also built one at a time, as violations far apart in time or camera are.

- creation: the consumer (`violations_from_bus`, as the worker runs it) turns the events into violations;
  baseline: as many violation rows inserted straight into the table in the consumer's batches.
- queueing: `EvidenceAssembler` (its thread pool, `--workers`) builds every packet (±5 s clip remuxed,
  the offence's frame found by the snapshot, three frames decoded, the truck located and marked in each,
  plate crop, hashes, manifest, audit) and queues the violations; baseline: PyAV alone
  remuxing the same clips and decoding each to +1.5 s (what one packet cost at least, built the old way,
  before any picture), as many threads. Measured one at a time, then in bursts (as the worker runs it).
- end to end: violations / (creation time + queueing time in bursts). Goal: >= 50 violations/s.
- public copies, printed after the table: the packets' three frames with all but the truck blurred, as
  made for each violation that becomes a challan (when it is issued, after human review), on as many
  threads.

SQLite is a temporary file set up as the application sets it; PostgreSQL is SAFECITY_TEST_DATABASE_URL or
postgresql://postgres@127.0.0.1:5432/test in a throwaway schema, when it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.common import audited_sessions, postgres_reachable, postgres_url, scratch_schema, seed_camera
from safecity import migrations
from safecity.analytics import service as analytics
from safecity.analytics import snapshots
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.config import Settings, VideoSettings
from safecity.core.bus import MemoryBus
from safecity.core.db import create_db_engine, transaction
from safecity.core.logging import configure_logging
from safecity.events import service as events
from safecity.events.schemas import EventIn, EventOut
from safecity.traffic.violations import evidence, flows
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import Offence, SignalLight, SignalSource, Violation, ViolationStatus
from safecity.traffic.violations.schemas import EnforcementRuleIn, SignalIn
from safecity.video.clips import remux
from safecity.video.recorder import SegmentRecorder, segment_indexer

GOAL = 50.0
SQUARE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DOG = Path("/usr/share/darknet/data/dog.jpg")
FPS = 10
T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
BOSS = Principal(
    None,
    "bench-officer",
    frozenset({"traffic.read", "traffic.manage", "analytics.manage", "cameras.read"}),
    None,
    via="system",
)


@dataclass(frozen=True)
class Footage:
    """The encoded drive and where the truck is in each frame."""

    path: Path
    frames: list[npt.NDArray[np.uint8]]
    boxes: list[tuple[int, int, int, int]]


def footage(directory: Path, seconds: int) -> Footage:
    """The truck crossing the empty square and back, encoded as a camera would send it."""
    capture = cv2.VideoCapture(str(SQUARE))
    sample, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 40 == 0:
            sample.append(frame)
        index += 1
    capture.release()
    scene = np.median(np.stack(sample), axis=0).astype(np.uint8)
    dog = cv2.imread(str(DOG))
    assert dog is not None
    truck = dog[77:170, 465:690].copy()
    height, width = scene.shape[:2]
    h, w = truck.shape[:2]
    top, span = round(0.62 * height), width - w - 20
    frames: list[npt.NDArray[np.uint8]] = []
    boxes: list[tuple[int, int, int, int]] = []
    for i in range(FPS * seconds):
        phase = (i % (FPS * 20)) / (FPS * 20)  # 20 s across and back
        left = 10 + round(span * (2 * phase if phase < 0.5 else 2 - 2 * phase))
        frame = scene.copy()
        frame[top : top + h, left : left + w] = truck
        frames.append(frame)
        boxes.append((left, top, left + w, top + h))
    path = directory / "drive.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "g": str(FPS)}
        for i, image in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts, picture.time_base = i, Fraction(1, FPS)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return Footage(path, frames, boxes)


@dataclass(frozen=True)
class World:
    """A prepared database and disk: the events to publish."""

    settings: Settings
    session_factory: sessionmaker[Session]
    events: list[EventOut]


def prepare(
    settings: Settings, factory: sessionmaker[Session], drive: Footage, count: int, seconds: int
) -> World:
    """The junction, its red signal and rule, the recording, and per violation a snapshot and a plate read."""
    with transaction(factory) as session:
        camera = seed_camera(session)
        district_id = camera.district_id
        line = analytics.create_rule(
            session=session,
            principal=BOSS,
            camera_id=camera.id,
            config=rule_adapter.validate_python(
                {
                    "kind": "line_crossing",
                    "name": "Stop line",
                    "line": [[0, 0.7], [1, 0.7]],
                    "classes": ["car", "truck"],
                }
            ),
        )
        signal = violations.create_signal(
            session=session,
            principal=BOSS,
            data=SignalIn(name="Bench signal", source=SignalSource.CONTROLLER, district_id=district_id),
        )
        violations.record_state(
            session=session, signal_id=signal.id, light=SignalLight.RED, at=T0, source="api"
        )
        violations.create_rule(
            session=session,
            principal=BOSS,
            data=EnforcementRuleIn(
                name="Bench red light",
                camera_id=camera.id,
                offence=Offence.RED_LIGHT,
                analytics_rule_id=line.id,
                signal_id=signal.id,
            ),
        )
        camera_id, line_id = camera.id, line.id
    recorder = SegmentRecorder(camera_id, settings.recordings_dir, 10, segment_indexer(factory))
    with av.open(str(drive.path)) as container:
        stream = container.streams.video[0]
        recorder.open(stream, started_at=T0)
        for packet in container.demux(stream):
            recorder.write(packet)
        recorder.close()
    height, width = drive.frames[0].shape[:2]
    first, last = 6 * FPS, (seconds - 6) * FPS
    found: list[EventOut] = []
    with transaction(factory) as session:
        for n in range(count):
            index = first + (n * 7) % (last - first)
            at = T0 + dt.timedelta(seconds=index / FPS)
            box = list(drive.boxes[index])
            event_id = uuid.uuid4()
            snapshot = snapshots.relative_path(camera_id, event_id, at)
            drawn = drive.frames[index].copy()
            cv2.rectangle(drawn, tuple(box[:2]), tuple(box[2:]), (0, 0, 255), 2)
            snapshots.save(drawn, settings.snapshots_dir, snapshot)
            track = 1000 + n
            found.append(
                EventOut(
                    id=event_id,
                    occurred_at=at,
                    kind="analytics.line_crossing",
                    source="analytics",
                    district_id=district_id,
                    camera_id=camera_id,
                    severity=3,
                    payload={
                        "rule_id": str(line_id),
                        "objects": [{"class": "truck", "score": 0.9, "box": box, "track_id": track}],
                        "detail": {"direction": "left_to_right"},
                        "snapshot": snapshot,
                        "frame_size": [width, height],
                    },
                )
            )
            sighting_id = uuid.uuid4()
            x1, _, _, y2 = box
            crop = plates.crop_path(camera_id, sighting_id, at, part="crop")
            snapshots.save(
                drive.frames[index][y2 - 30 : y2, x1 + 60 : x1 + 160], settings.snapshots_dir, crop
            )
            plates.record(
                session=session,
                sighting=SightingIn(
                    id=sighting_id,
                    camera_id=camera_id,
                    district_id=district_id,
                    seen_at=at,
                    first_seen=at - dt.timedelta(seconds=2),
                    last_seen=at + dt.timedelta(seconds=2),
                    plate=f"LEB{n:04d}",
                    confidence=0.9,
                    layout="pk-punjab",
                    jurisdiction="PB",
                    track_id=track,
                    crop=crop,
                ),
            )
        # The analytics store each event (and its snapshot) before they publish it.
        events.record_many(session=session, events=[EventIn.model_validate(e.model_dump()) for e in found])
    return World(settings, factory, found)


def _bare_inserts(world: World) -> float:
    """Seconds to insert as many violation rows straight into the table, committed in the consumer's
    batches, then delete them: the database's own pace for this write, with no rule, signal or bus.
    """
    first = world.events[0]
    rows = [
        {
            "id": uuid.uuid4(),
            "source_key": f"bare:{out.id}",
            "offence": Offence.RED_LIGHT,
            "camera_id": first.camera_id,
            "district_id": first.district_id,
            "occurred_at": out.occurred_at,
            "status": ViolationStatus.COLLECTING,
            "track_id": 1,
            "measured": {"light": "red"},
            "evidence": {},
            "version": 0,
            "created_at": out.occurred_at,
        }
        for out in world.events
    ]
    started = time.perf_counter()
    for i in range(0, len(rows), flows.MAX_BATCH):
        with transaction(world.session_factory) as session:
            session.execute(insert(Violation), rows[i : i + flows.MAX_BATCH])
    elapsed = time.perf_counter() - started
    with transaction(world.session_factory) as session:
        session.execute(delete(Violation))
    return elapsed


async def _through_bus(world: World) -> float:
    """Seconds from the first publish until every event is turned into its violation by the consumer."""
    bus = MemoryBus()
    await bus.start()
    stop = asyncio.Event()

    def stored() -> int:
        with world.session_factory() as session:
            return int(session.scalar(select(func.count()).select_from(Violation)) or 0)

    task = asyncio.create_task(
        flows.violations_from_bus(
            bus=bus, session_factory=world.session_factory, stop=stop, max_signal_age_s=3600
        )
    )
    await asyncio.sleep(0.2)  # subscribed
    started = time.perf_counter()
    for out in world.events:
        await bus.publish(
            f"events.analytics.{out.camera_id}", out.model_dump_json().encode(), msg_id=str(out.id)
        )
    while await asyncio.to_thread(stored) < len(world.events):  # noqa: ASYNC110 (the database is polled)
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()
    return elapsed


def _assemble(world: World, workers: int, burst_most: int) -> float:
    """Seconds to build every packet and queue every violation, with the assembler's thread pool (bursts
    of at most `burst_most`), the violations made COLLECTING first (again, after a measurement before).
    """
    with transaction(world.session_factory) as session:
        session.execute(
            update(Violation).values(status=ViolationStatus.COLLECTING, evidence={}, evidence_sha256=None)
        )
    assembler = flows.EvidenceAssembler(world.settings, world.session_factory, burst_most=burst_most)
    now = T0 + dt.timedelta(hours=1)
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        queued = 0
        while queued < len(world.events):
            made = assembler.assemble_due(now=now, pool=pool)
            if made == 0:
                raise RuntimeError("packets stopped being built")
            queued += made
    elapsed = time.perf_counter() - started
    with world.session_factory() as session:
        pending = session.scalar(
            select(func.count()).select_from(Violation).where(Violation.status == ViolationStatus.PENDING)
        )
    assert pending == len(world.events), pending
    return elapsed


def _public_copies(world: World, workers: int) -> float:
    """Seconds to make every packet's public copies, on as many threads."""
    with world.session_factory() as session:
        manifests = list(session.scalars(select(Violation.evidence)))
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        made = list(
            pool.map(lambda m: evidence.write_public_copies(m, world.settings.evidence_dir), manifests)
        )
    elapsed = time.perf_counter() - started
    assert all(len(copies) == 3 for copies in made)
    return elapsed


def _bare_pyav(world: World, directory: Path, workers: int) -> float:
    """Seconds for PyAV alone, on as many threads, to remux each violation's ±5 s and decode the frames
    up to +1.5 s.
    """
    with world.session_factory() as session:
        rows = list(session.scalars(select(Violation)))
        plans = [
            violations.plan_evidence(
                session=session,
                violation_id=row.id,
                now=T0 + dt.timedelta(hours=2),
                clip_s=5,
                wait_s=120,
                plate_wait_s=60,
            )
            for row in rows
        ]

    def one(numbered: tuple[int, violations.EvidencePlan | None]) -> None:
        number, plan = numbered
        assert plan is not None
        sources = [(world.settings.recordings_dir / path, start) for path, start in plan.segments]
        out = directory / f"bare-{number}.mp4"
        span, until = dt.timedelta(seconds=5), plan.occurred_at + dt.timedelta(seconds=1.5)
        covered = remux(sources, t0=plan.occurred_at - span, t1=plan.occurred_at + span, out=out)
        assert covered is not None
        with av.open(str(out)) as container:
            for frame in container.decode(video=0):
                if frame.time is not None and covered[0] + dt.timedelta(seconds=frame.time) > until:
                    break
        out.unlink()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(plans)))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Row:
    backend: str
    what: str
    rate: float
    baseline: float | None  # violations/s
    goal: bool = False  # the row the goal is for


def run(
    backend: str, url: str, drive: Footage, count: int, seconds: int, workers: int, directory: Path
) -> list[Row]:
    """Every measurement on one database."""
    settings = Settings(
        data_dir=directory,
        secret_key=SecretStr("bench-secret-key-0123456789abcdef0123"),
        video=VideoSettings(run_in_web=False),
    )
    engine = create_db_engine(url)
    migrations.upgrade(engine)
    with audited_sessions(engine, settings) as factory:
        world = prepare(settings, factory, drive, count, seconds)
        bare_insert_s = _bare_inserts(world)
        create_s = asyncio.run(_through_bus(world))
        # before the assembly: it plans from the violations still collecting
        bare_s = _bare_pyav(world, directory, workers)
        single_s = _assemble(world, workers, burst_most=1)
        burst_s = _assemble(world, workers, burst_most=evidence.BURST_MOST)
        public_s = _public_copies(world, workers)
    engine.dispose()
    n = len(world.events)
    return [
        Row(backend, "created (event on the bus → violation)", n / create_s, n / bare_insert_s),
        Row(backend, f"queued one at a time ({workers} threads)", n / single_s, n / bare_s),
        Row(backend, f"queued in bursts ({workers} threads)", n / burst_s, n / bare_s),
        Row(backend, "end to end (created + queued in bursts)", n / (create_s + burst_s), None, goal=True),
        Row(backend, f"public copies, at challan issue ({workers} threads)", n / public_s, None),
    ]


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--violations", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=60, help="length of the recorded drive")
    parser.add_argument("--workers", type=int, default=2, help="the evidence assembler's threads")
    args = parser.parse_args()
    configure_logging("WARNING", json_format=False)
    console = Console(width=140)
    for media in (SQUARE, DOG):
        if not media.is_file():
            console.print(f"[red]missing {media}: install opencv-doc and darknet (make test-deps)[/]")
            raise SystemExit(1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        drive = footage(Path(tmp), args.seconds)
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        rows += run(
            "SQLite",
            f"sqlite:///{sqlite_dir / 'bench.db'}",
            drive,
            args.violations,
            args.seconds,
            args.workers,
            sqlite_dir,
        )
        pg_url = postgres_url()
        why = postgres_reachable(pg_url)
        if why is None:
            pg_dir = Path(tmp) / "pg"
            pg_dir.mkdir()
            with scratch_schema(pg_url) as scratch:
                rows += run(
                    "PostgreSQL", scratch.url, drive, args.violations, args.seconds, args.workers, pg_dir
                )
        else:
            console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({why})[/]")
    table = Table(
        title=f"Violations to the review queue: {args.violations} red-light crossings, "
        f"768x576 H.264 at {FPS} fps"
    )
    numbers = ("violations/s", "baseline/s", "vs baseline", "vs goal")
    for heading in ("backend", "stage", *numbers, "met"):
        table.add_column(heading, justify="right" if heading in numbers else "left")
    for row in rows:
        table.add_row(
            row.backend,
            row.what,
            f"{row.rate:,.1f}",
            "" if row.baseline is None else f"{row.baseline:,.1f}",
            "" if row.baseline is None else f"{row.rate / row.baseline:.2f}x",
            f"{row.rate / GOAL:.2f}x of {GOAL:.0f}/s" if row.goal else "",
            ("yes" if row.rate >= GOAL else "no") if row.goal else "",
        )
    console.print(table)
    console.print(
        "baselines (same run, same threads): creation — as many rows inserted straight into the table, "
        "committed in the same batches; queueing — PyAV alone remuxing each ±5 s clip and decoding it to "
        "+1.5 s (the floor of the one-violation-at-a-time packet that decodes its own clip)."
    )


if __name__ == "__main__":
    main()
