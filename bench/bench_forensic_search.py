"""Forensic search across cameras over millions of stored objects and events: each kind of query an
investigator runs, through forensics.service.search.

Run: `python -m bench.bench_forensic_search [--tracks 1000000] [--events N] [--queries 100]
[--backend both]`. A city of 710 cameras in 8 districts (busy junctions and quiet streets: each camera's
traffic drawn from a log-normal), 30 days of finished tracks in time order as the pipeline writes them,
busier by day than by night: classes in the shares a Lahore road shows (motorcycle 30 %, car 28 %, person
24 %, bicycle 6 %, truck 7 %, bus 5 %), ten colours skewed (white, black, grey, silver common; green and
orange rare; 4 % unknown), eight directions (or standing). Events (rule firings of the analytics) by kind,
a quarter as many as tracks unless --events says. Rows are loaded with the indexes dropped, by sqlite3's
executemany or COPY, then the models' indexes are built, so the tables end as the application's. SQLite
in a file under /tmp (not ANALYZEd: the application never does); PostgreSQL (SAFECITY_TEST_DATABASE_URL,
else the local test server) in a throwaway schema dropped at the end, vacuumed and analysed as autovacuum
would.

Each query is a full `search` (permission, the cameras in scope or in the area, the page of hits, the
audit entry written; rolled back: the commit is not timed), with new random parameters each time:
(a) a colour and class at the 5-20 cameras of a map area over 1 day; (b) the same over 7 days; (c) one
class at a whole district (the investigator's district) over 1 day; (d) a rare colour of a rare class
(a green truck) at a district over 31 days, the worst case: few hits, a long range; (e) page 2 of (c)
through the cursor (page 1 not timed); (f) events of one kind at a district over 1 day. The baseline is a
primary-key lookup of one object_tracks row in the same run; a reference row times loading the cameras
a province-wide investigator may search (each search starts so, before any object is read).
Target: p95 <= 500 ms over 10 M.

Time (this 2-core machine, shared): at 1 M tracks (the default) SQLite loads in 2.5-3 minutes, PostgreSQL
in 2-4 (the row generation in Python is the bound), and each answers its 800 queries in 1-3 minutes:
about 10 minutes for both. 3 M tracks loaded into PostgreSQL in 7.5 minutes. `--tracks 10000000
--backend postgresql`, the full target, loaded in 7 minutes on the quiet machine (18.5 while it was busy;
~15 GB of disk) and answered in 3: every search's p95 at most 189 ms.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psycopg
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Engine, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench.common import audited_sessions, postgres_reachable, postgres_url, scratch_schema
from safecity import migrations
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.db import create_db_engine
from safecity.core.schemas import Area
from safecity.events.models import Event
from safecity.forensics import service as forensics
from safecity.forensics.models import ObjectTrack
from safecity.forensics.schemas import SearchIn, SearchOut
from safecity.org.models import District, Province
from safecity.video import recorder

GOAL_MS = 500.0
DISTRICT_CAMERAS = (160, 120, 100, 90, 80, 70, 50, 40)  # 710 cameras
DAYS = 30
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
CHUNK = 50_000
PURPOSE = "bench: FIR 77/2026, theft of a vehicle"
CLASSES = {"motorcycle": 30, "car": 28, "person": 24, "bicycle": 6, "truck": 7, "bus": 5}
COLOURS = {
    "white": 22,
    "black": 20,
    "grey": 13,
    "silver": 12,
    "red": 8,
    "blue": 8,
    "brown": 6,
    "yellow": 3,
    "green": 2,
    "orange": 2,
    None: 4,
}
DIRECTIONS = ("up", "up-right", "right", "down-right", "down", "down-left", "left", "up-left", None)
# Share of the day's traffic in each hour (Pakistan time, UTC+5): quiet before dawn, busy 9-21.
HOURLY_PKT = (2, 1, 1, 1, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 6, 6, 7, 7, 7, 6, 5, 4, 3, 2)
EVENT_KINDS = {
    "analytics.line_crossing": 35,
    "analytics.stopped_vehicle": 15,
    "analytics.zone_intrusion": 14,
    "analytics.loitering": 10,
    "analytics.wrong_way": 10,
    "analytics.counting_line": 8,
    "analytics.crowd": 5,
    "analytics.object_left_behind": 3,
}
TRACK_COLUMNS = (
    "id",
    "camera_id",
    "district_id",
    "track_id",
    "class_name",
    "colour",
    "colour_share",
    "first_seen",
    "last_seen",
    "direction",
    "path",
    "frame_width",
    "frame_height",
    "snapshot",
)
EVENT_COLUMNS = ("id", "occurred_at", "kind", "source", "district_id", "camera_id", "severity", "payload")
Row = tuple[object, ...]


@dataclass(frozen=True)
class Place:
    camera_id: uuid.UUID
    district_id: uuid.UUID
    latitude: float
    longitude: float
    weight: float  # how busy the camera is


@dataclass(frozen=True)
class City:
    cameras: list[Place]
    districts: list[uuid.UUID]


def add_city(engine: Engine, rng: random.Random) -> City:
    """Eight districts around Lahore, each a cluster of cameras, some cameras much busier than others."""
    with Session(engine) as session:
        province = Province(code="BP", name="Bench Province")
        session.add(province)
        session.flush()
        centres = [(31.40 + 0.12 * (i // 4), 74.15 + 0.12 * (i % 4)) for i in range(len(DISTRICT_CAMERAS))]
        districts = [
            District(province_id=province.id, code=f"BD{i}", name=f"Bench {i}", latitude=lat, longitude=lon)
            for i, (lat, lon) in enumerate(centres)
        ]
        session.add_all(districts)
        session.flush()
        cameras: list[Camera] = []
        for d, count in zip(districts, DISTRICT_CAMERAS, strict=True):
            for _ in range(count):
                cameras.append(
                    Camera(
                        name=f"cam-{len(cameras):04d}",
                        district_id=d.id,
                        latitude=d.latitude + rng.gauss(0, 0.025),
                        longitude=d.longitude + rng.gauss(0, 0.025),
                        stream_url="rtsp://10.0.0.1/1",
                    )
                )
        session.add_all(cameras)
        session.commit()
        places = [
            Place(c.id, c.district_id, c.latitude, c.longitude, rng.lognormvariate(0, 0.8)) for c in cameras
        ]
        return City(places, [d.id for d in districts])


def moments(count: int, rng: random.Random) -> Iterator[dt.datetime]:
    """`count` moments over DAYS in time order, denser by day (the hourly profile) than by night."""
    hours = [HOURLY_PKT[(h + 5) % 24] for h in range(24)] * DAYS
    cumulative = list(itertools.accumulate(hours))
    total = cumulative[-1]
    for i in range(count):
        q = (i + rng.random()) / count * total
        hour = bisect.bisect_right(cumulative, q)
        before = cumulative[hour - 1] if hour else 0
        yield START + dt.timedelta(hours=hour + (q - before) / hours[hour])


def stamp(at: dt.datetime, zone: str) -> str:
    """A timestamp as SQLAlchemy stores it (SQLite: naive UTC text; PostgreSQL: `zone` "+00")."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") + zone


def paths(rng: random.Random) -> list[str]:
    """A pool of track paths ([s, x1, y1, x2, y2] every half second, 6-30 samples) as stored JSON."""
    pool = []
    for _ in range(500):
        x, y, w, h = (
            rng.random() * 0.8,
            rng.random() * 0.8,
            0.05 + rng.random() * 0.15,
            0.05 + rng.random() * 0.2,
        )
        dx, dy = rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03)
        samples = [
            [
                round(k * 0.5, 2),
                round(x + k * dx, 4),
                round(y + k * dy, 4),
                round(x + w + k * dx, 4),
                round(y + h + k * dy, 4),
            ]
            for k in range(rng.randrange(6, 31))
        ]
        pool.append(json.dumps(samples))
    return pool


def track_rows(count: int, city: City, rng: random.Random, zone: str = "") -> Iterator[list[Row]]:
    """Finished tracks in time order, CHUNK at a time, as text the way SQLAlchemy stores them."""
    pool = paths(rng)
    cameras = city.cameras
    cam_cum = list(itertools.accumulate(p.weight for p in cameras))
    classes, class_w = list(CLASSES), list(itertools.accumulate(CLASSES.values()))
    colours, colour_w = list(COLOURS), list(itertools.accumulate(COLOURS.values()))
    chunk: list[Row] = []
    for at in moments(count, rng):
        place = cameras[bisect.bisect_right(cam_cum, rng.random() * cam_cum[-1])]
        row_id = f"{rng.getrandbits(128):032x}"
        camera = place.camera_id.hex
        duration = dt.timedelta(seconds=2 + rng.random() * 20)
        class_name = classes[bisect.bisect_right(class_w, rng.random() * class_w[-1])]
        colour = colours[bisect.bisect_right(colour_w, rng.random() * colour_w[-1])]
        chunk.append(
            (
                row_id,
                camera,
                place.district_id.hex,
                rng.randrange(1_000_000),
                class_name,
                colour,
                round(0.4 + rng.random() * 0.6, 2) if colour else 0.0,
                stamp(at, zone),
                stamp(at + duration, zone),
                rng.choice(DIRECTIONS),
                rng.choice(pool),
                1920,
                1080,
                f"objects/{camera}/{at:%Y-%m-%d}/{row_id}.jpg",
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def event_rows(count: int, city: City, rng: random.Random, zone: str = "") -> Iterator[list[Row]]:
    """Rule firings at the cameras in time order, with a payload like the analytics' (smaller)."""
    cameras = city.cameras
    cam_cum = list(itertools.accumulate(p.weight for p in cameras))
    kinds, kind_w = list(EVENT_KINDS), list(itertools.accumulate(EVENT_KINDS.values()))
    classes = list(CLASSES)
    chunk: list[Row] = []
    for at in moments(count, rng):
        place = cameras[bisect.bisect_right(cam_cum, rng.random() * cam_cum[-1])]
        kind = kinds[bisect.bisect_right(kind_w, rng.random() * kind_w[-1])]
        rule = kind.removeprefix("analytics.")
        payload = {
            "rule_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "rule_name": f"{rule.replace('_', ' ')} {rng.randrange(1, 4)}",
            "rule_kind": rule,
            "objects": [
                {"track_id": rng.randrange(1_000_000), "class": rng.choice(classes), "confidence": 0.8}
                for _ in range(rng.randrange(1, 3))
            ],
            "snapshot": f"events/{place.camera_id.hex}/{at:%Y-%m-%d}/x.jpg",
            "frame_size": [1920, 1080],
        }
        chunk.append(
            (
                f"{rng.getrandbits(128):032x}",
                stamp(at, zone),
                kind,
                "analytics",
                place.district_id.hex,
                place.camera_id.hex,
                rng.choice((1, 2, 2, 3)),
                json.dumps(payload),
            )
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


TABLES = ((cast(Table, ObjectTrack.__table__), TRACK_COLUMNS), (cast(Table, Event.__table__), EVENT_COLUMNS))


def fill_sqlite(path: Path, tracks: int, events: int, city: City) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA cache_size=-1000000")
    for table, _ in TABLES:
        for index in table.indexes:
            raw.execute(f'DROP INDEX "{index.name}"')
    for (table, columns), make, count in zip(TABLES, (track_rows, event_rows), (tracks, events), strict=True):
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        for chunk in make(count, city, random.Random(5)):
            raw.execute("BEGIN")
            raw.executemany(statement, chunk)
            raw.execute("COMMIT")
    raw.close()


def fill_postgres(conninfo: str, options: str, tracks: int, events: int, city: City) -> None:
    with psycopg.connect(conninfo, options=options) as raw:
        for table, _ in TABLES:
            for index in table.indexes:
                raw.execute(f'DROP INDEX "{index.name}"')
        for (table, columns), make, count in zip(
            TABLES, (track_rows, event_rows), (tracks, events), strict=True
        ):
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for chunk in make(count, city, random.Random(5), zone="+00"):
                    for row in chunk:
                        copy.write_row(row)
        raw.commit()


def rebuild_indexes(engine: Engine) -> float:
    """Build the models' indexes on the filled tables; seconds taken."""
    engine.dispose()  # a pooled SQLite connection parses DDL against the schema it read before the load
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for table, _ in TABLES:
            for index in table.indexes:
                index.create(conn)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table, _ in TABLES:
                conn.execute(text(f"VACUUM (ANALYZE) {table.name}"))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Case:
    name: str
    query: Callable[[Session, random.Random], object]


def cases(city: City, ids: list[uuid.UUID]) -> list[Case]:
    """The searches measured, each with new random parameters per query."""
    everyone = frozenset({forensics.INVESTIGATE, recorder.PLAYBACK_PERMISSION})
    province = Principal(uuid.uuid4(), "bench", everyone, None)
    district_of = {
        d: Principal(uuid.uuid4(), f"bench-{i}", everyone, frozenset({d}))
        for i, d in enumerate(city.districts)
    }
    classes, class_w = list(CLASSES), list(CLASSES.values())
    colours, colour_w = [c for c in COLOURS if c], [w for c, w in COLOURS.items() if c]

    def day(rng: random.Random, days: int) -> tuple[dt.datetime, dt.datetime]:
        since = START + dt.timedelta(days=rng.randrange(DAYS - days + 1))
        return since, since + dt.timedelta(days=days)

    def area(rng: random.Random) -> Area:
        """The box around a camera and its 4-19 nearest: the few streets an investigator draws."""
        centre = rng.choice(city.cameras)
        near = sorted(
            city.cameras,
            key=lambda p: (p.latitude - centre.latitude) ** 2 + (p.longitude - centre.longitude) ** 2,
        )
        chosen = near[: rng.randrange(5, 21)]
        lat = [p.latitude for p in chosen]
        lon = [p.longitude for p in chosen]
        return Area(south=min(lat) - 1e-6, west=min(lon) - 1e-6, north=max(lat) + 1e-6, east=max(lon) + 1e-6)

    def in_area(days: int) -> Callable[[Session, random.Random], object]:
        def run(session: Session, rng: random.Random) -> object:
            since, until = day(rng, days)
            query = SearchIn(
                purpose=PURPOSE,
                since=since,
                until=until,
                area=area(rng),
                classes=rng.choices(classes, class_w),
                colours=rng.choices(colours, colour_w),
            )
            return forensics.search(session=session, principal=province, query=query)

        return run

    def district_class(rng: random.Random) -> tuple[Principal, SearchIn]:
        since, until = day(rng, 1)
        who = district_of[rng.choice(city.districts)]
        return who, SearchIn(purpose=PURPOSE, since=since, until=until, classes=rng.choices(classes, class_w))

    def in_district(session: Session, rng: random.Random) -> object:
        who, query = district_class(rng)
        return forensics.search(session=session, principal=who, query=query)

    def rare(session: Session, rng: random.Random) -> object:
        query = SearchIn(
            purpose=PURPOSE,
            since=START,
            until=START + dt.timedelta(days=31),
            classes=[rng.choice(("truck", "bus"))],
            colours=[rng.choice(("green", "orange"))],
        )
        who = district_of[rng.choice(city.districts)]
        return forensics.search(session=session, principal=who, query=query)

    def page_two(session: Session, rng: random.Random) -> object:
        for attempt in itertools.count():
            who, query = district_class(rng)
            if attempt >= 20:  # a small fill: pages of 10
                query = query.model_copy(update={"limit": 10})
            first = forensics.search(session=session, principal=who, query=query)  # not timed
            if first.next:
                break
        session.info["started"] = time.perf_counter()
        query = query.model_copy(update={"before": first.next})
        return forensics.search(session=session, principal=who, query=query)

    def events(session: Session, rng: random.Random) -> object:
        since, until = day(rng, 1)
        kind = rng.choices(list(EVENT_KINDS), list(EVENT_KINDS.values()))[0]
        query = SearchIn(purpose=PURPOSE, since=since, until=until, what="events", event_kinds=[kind])
        who = district_of[rng.choice(city.districts)]
        return forensics.search(session=session, principal=who, query=query)

    return [
        Case("primary key (baseline)", lambda s, rng: s.get(ObjectTrack, rng.choice(ids))),
        Case(
            "province's cameras only (reference)",
            lambda s, rng: recorder.playable_cameras(session=s, principal=province, brief=True),
        ),
        Case("(a) colour+class, area, 1 day", in_area(1)),
        Case("(b) colour+class, area, 7 days", in_area(7)),
        Case("(c) class, district, 1 day", in_district),
        Case("(d) green truck, district, 31 days", rare),
        Case("(e) page 2 of (c) by cursor", page_two),
        Case("(f) events of a kind, district, 1 day", events),
    ]


@dataclass(frozen=True)
class Result:
    backend: str
    case: str
    p50: float
    p95: float
    baseline_p95: float
    hits: float  # mean hits per query (a page holds at most 100)
    cameras: float  # mean cameras searched


def measure(
    factory: sessionmaker[Session], case: Case, queries: int, rng: random.Random
) -> tuple[list[float], float, float]:
    """Milliseconds of each query (after two warm-up queries), each in a session rolled back."""
    times, hits, cameras = [], 0, 0
    for n in range(queries + 2):
        with factory() as session:
            started = time.perf_counter()
            out = case.query(session, rng)
            elapsed = (time.perf_counter() - session.info.pop("started", started)) * 1000
            session.rollback()  # the audit entries of a benchmark are not kept
        if n >= 2:
            times.append(elapsed)
            if isinstance(out, SearchOut):
                hits += len(out.hits)
                cameras += out.cameras
            else:
                hits += 1
    return times, hits / queries, cameras / queries


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def run_cases(backend: str, engine: Engine, city: City, queries: int, settings: Settings) -> list[Result]:
    with audited_sessions(engine, settings) as factory:
        with factory() as session:
            ids = [
                uuid.UUID(str(i)) for i in session.scalars(text("SELECT id FROM object_tracks LIMIT 20000"))
            ]
        rng = random.Random(11)
        measured = {c.name: measure(factory, c, queries, rng) for c in cases(city, ids)}
        base_p95 = percentile(measured["primary key (baseline)"][0], 95)
        return [
            Result(backend, name, statistics.median(times), percentile(times, 95), base_p95, hits, cams)
            for name, (times, hits, cams) in measured.items()
        ]


def bench_sqlite(tracks: int, events: int, queries: int, console: Console) -> list[Result]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = Path(tmp) / "forensics.db"
        engine = create_db_engine(f"sqlite:///{path}")
        migrations.upgrade(engine)
        city = add_city(engine, random.Random(3))
        started = time.perf_counter()
        fill_sqlite(path, tracks, events, city)
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        size = path.stat().st_size / 1024**3
        console.print(
            f"SQLite: {tracks:,} tracks and {events:,} events loaded in {loaded:.0f} s, "
            f"indexes built in {built:.0f} s, {size:.1f} GB"
        )
        results = run_cases("SQLite", engine, city, queries, Settings(data_dir=Path(tmp)))
        engine.dispose()
    return results


def bench_postgres(base_url: str, tracks: int, events: int, queries: int, console: Console) -> list[Result]:
    with scratch_schema(base_url) as scratch:
        engine = create_db_engine(scratch.url)
        migrations.upgrade(engine)
        city = add_city(engine, random.Random(3))
        started = time.perf_counter()
        fill_postgres(scratch.conninfo, scratch.options, tracks, events, city)
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        console.print(
            f"PostgreSQL: {tracks:,} tracks and {events:,} events loaded in {loaded:.0f} s, "
            f"indexes built, vacuumed in {built:.0f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            results = run_cases("PostgreSQL", engine, city, queries, Settings(data_dir=Path(tmp)))
        engine.dispose()
    return results


def show(console: Console, results: list[Result], tracks: int, events: int, queries: int) -> None:
    """Print one backend's table (as soon as it is measured: a 10 M fill takes a while)."""
    table = RichTable(
        title=f"Forensic search over {tracks:,} tracks and {events:,} events, {queries} queries per case"
    )
    headings = (
        "backend",
        "search",
        "cameras",
        "hits",
        "p50 ms",
        "p95 ms",
        "p95 vs PK",
        f"p95 <= {GOAL_MS:g} ms",
    )
    for heading in headings:
        table.add_column(heading, justify="left" if heading in ("backend", "search") else "right")
    for r in results:
        baseline = r.case.endswith(("(baseline)", "(reference)"))
        met = "" if baseline else ("yes" if r.p95 <= GOAL_MS else "no")
        table.add_row(
            r.backend,
            r.case,
            "" if baseline else f"{r.cameras:.0f}",
            f"{r.hits:.0f}",
            f"{r.p50:.2f}",
            f"{r.p95:.2f}",
            f"{r.p95 / r.baseline_p95:.0f}x",
            met,
        )
    console.print(table)


def main() -> None:
    """Fill, measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tracks", type=int, default=1_000_000, help="object tracks to fill")
    parser.add_argument("--events", type=int, default=None, help="events to fill (default: tracks / 4)")
    parser.add_argument("--queries", type=int, default=100, help="queries per case")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    events = args.tracks // 4 if args.events is None else args.events
    console = Console(width=130)
    if args.backend in ("sqlite", "both"):
        show(
            console,
            bench_sqlite(args.tracks, events, args.queries, console),
            args.tracks,
            events,
            args.queries,
        )
    if args.backend in ("postgresql", "both"):
        pg_url = postgres_url()
        unreachable = postgres_reachable(pg_url)
        if unreachable is None:
            results = bench_postgres(pg_url, args.tracks, events, args.queries, console)
            show(console, results, args.tracks, events, args.queries)
        else:
            console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({unreachable})[/]")


if __name__ == "__main__":
    try:
        main()
    except OperationalError as exc:
        raise SystemExit(f"database error: {exc.orig}") from exc
