"""Plate search latency over millions of sightings: each search mode through plates.service.search.

Run: `python -m bench.bench_plate_search [--rows 10000000] [--queries 100] [--backend both]`. Fills
plate_sightings with realistic reads (Pakistani layouts: LEA1234, ABC-123, AB-1234, …; ~700 cameras; 90
days, in time order as the pipeline writes them) into a SQLite file under /tmp and into PostgreSQL
(SAFECITY_TEST_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test, a throwaway schema dropped at
the end). The rows are loaded with the indexes dropped, by sqlite3's executemany or COPY, then the
model's indexes are built, so the table ends as the application's. Each query is a full
`plates.search` (permission, purpose, the audit entry, cameras joined in; rolled back), with a new target
each time; the baseline is a primary-key lookup of a random sighting in the same run. SQLite is not
ANALYZEd (the application never does); PostgreSQL is vacuumed and analysed, as autovacuum would.
Target: p95 <= 50 ms at 10 M.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from sqlalchemy import Engine, Table, and_, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench.common import audited_sessions, postgres_reachable, postgres_url, scratch_schema
from safecity import migrations
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SearchMode, SightingPage, SightingSearch
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.db import create_db_engine
from safecity.org.models import District, Province

GOAL_MS = 50.0
CAMERAS = 700
DAYS = 90
SIGHTINGS_PER_VEHICLE = 25  # a vehicle passes ~25 cameras in 90 days: most vehicles are seen rarely
START = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
CHUNK = 50_000
PURPOSE = "bench: FIR 1/2026"
COLUMNS = (
    "id",
    "camera_id",
    "district_id",
    "seen_at",
    "first_seen",
    "last_seen",
    "plate",
    "folded",
    "folded_rev",
    "confidence",
    "char_confidences",
    "alternatives",
    "layout",
    "jurisdiction",
    "box",
    "frames",
    "crop",
    "created_at",
)
# Punjab's district series (Lahore's LE* the busiest), then Sindh, Islamabad and KP shapes.
PUNJAB_SERIES = ("LE",) * 8 + ("RI", "FD", "GR", "MN", "SG", "BW", "SK", "GA")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def make_plate(rng: random.Random) -> tuple[str, str]:
    """A plate as the reader stores it (no separators) and its layout."""
    roll = rng.random()
    digits = f"{rng.randrange(10_000):04d}"
    if roll < 0.55:  # LEA-1234
        return rng.choice(PUNJAB_SERIES) + rng.choice(LETTERS) + digits, "punjab"
    if roll < 0.80:  # ABC-123 (Sindh)
        return "".join(rng.choices(LETTERS, k=3)) + digits[1:], "sindh"
    if roll < 0.90:  # AB-1234 (Islamabad)
        return "".join(rng.choices(LETTERS, k=2)) + digits, "islamabad"
    return rng.choice(("A", "B", "C", "P")) + digits + rng.choice(("PR", "MR", "KT")), "kp"  # A1234PR


@dataclass(frozen=True)
class Population:
    """The vehicles and cameras the sightings are drawn from, kept to pick query targets."""

    plates: list[tuple[str, str]]
    cameras: list[tuple[str, str]]  # (camera id hex, district id hex)


def rows(
    count: int, population: Population, rng: random.Random, zone: str = ""
) -> Iterator[list[tuple[object, ...]]]:
    """The sightings in time order, `CHUNK` at a time, as text the way SQLAlchemy stores them (SQLite:
    naive UTC; PostgreSQL: `zone` "+00")."""
    span = DAYS * 86_400 / count
    vehicles = len(population.plates)
    for start in range(0, count, CHUNK):
        chunk: list[tuple[object, ...]] = []
        for i in range(start, min(count, start + CHUNK)):
            at = START + dt.timedelta(seconds=i * span)
            stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") + zone
            sighting_id = f"{rng.getrandbits(128):032x}"
            camera, district = population.cameras[rng.randrange(CAMERAS)]
            # Some vehicles are on the road all day, most are seen a few times: skewed to the first ones.
            plate, layout = population.plates[int(vehicles * rng.random() ** 2)]
            if rng.random() < 0.02:
                plate = ""  # unreadable: kept with its crop, no text
            folded = plates.fold(plate) if plate else None
            chunk.append(
                (
                    sighting_id,
                    camera,
                    district,
                    stamp,
                    stamp,
                    stamp,
                    plate or None,
                    folded,
                    folded[::-1] if folded else None,
                    0.9,
                    "[]",
                    "[]",
                    layout,
                    "PK",
                    "[]",
                    3,
                    f"plates/{camera}/{at:%Y-%m-%d}/{sighting_id}-crop.jpg",
                    stamp,
                )
            )
        yield chunk


def add_places(engine: Engine, rng: random.Random) -> list[tuple[str, str]]:
    """Four districts and their ~700 cameras around Lahore."""
    with Session(engine) as session:
        province = Province(code="BP", name="Bench Province")
        session.add(province)
        session.flush()
        districts = [
            District(province_id=province.id, code=f"BD{i}", name=f"Bench {i}", latitude=31.5, longitude=74.3)
            for i in range(4)
        ]
        session.add_all(districts)
        session.flush()
        cameras = [
            Camera(
                name=f"cam-{i:04d}",
                district_id=districts[i % 4].id,
                latitude=31.4 + rng.random() * 0.3,
                longitude=74.2 + rng.random() * 0.3,
                stream_url="rtsp://10.0.0.1/1",
            )
            for i in range(CAMERAS)
        ]
        session.add_all(cameras)
        session.commit()
        return [(c.id.hex, c.district_id.hex) for c in cameras]


def indexes() -> set[str]:
    return {str(index.name) for index in cast(Table, Sighting.__table__).indexes}


def rebuild_indexes(engine: Engine) -> float:
    """Build the model's indexes on the filled table; seconds taken."""
    engine.dispose()  # a pooled SQLite connection parses DDL against the schema it read before the load
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for index in cast(Table, Sighting.__table__).indexes:
            index.create(conn)
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk of inserts: statistics, and the visibility map that lets the
        # covering plate index answer without visiting the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) plate_sightings"))
    return time.perf_counter() - started


def fill_sqlite(path: Path, count: int, population: Population, rng: random.Random) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA cache_size=-1000000")
    for name in indexes():
        raw.execute(f'DROP INDEX "{name}"')
    marks = ", ".join("?" for _ in COLUMNS)
    statement = f"INSERT INTO plate_sightings ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
    for chunk in rows(count, population, rng):
        raw.execute("BEGIN")
        raw.executemany(statement, chunk)
        raw.execute("COMMIT")
    raw.close()


def fill_postgres(
    conninfo: str, options: str, count: int, population: Population, rng: random.Random
) -> None:
    with psycopg.connect(conninfo, options=options) as raw:
        for name in indexes():
            raw.execute(f'DROP INDEX "{name}"')
        with raw.cursor() as cur, cur.copy(f"COPY plate_sightings ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for chunk in rows(count, population, rng, zone="+00"):
                for row in chunk:
                    copy.write_row(row)
        raw.commit()


@dataclass(frozen=True)
class Case:
    name: str
    query: Callable[[Session, random.Random], object]


def cases(
    population: Population, principal: Principal, scoped: Principal, ids: list[uuid.UUID]
) -> list[Case]:
    """The searches measured, each drawing a new target per query."""
    readable = population.plates

    def search(who: Principal, make: Callable[[random.Random], SightingSearch]) -> Callable[..., object]:
        def run(session: Session, rng: random.Random) -> object:
            return plates.search(session=session, principal=who, search=make(rng), purpose=PURPOSE, limit=100)

        return run

    def plate(rng: random.Random) -> str:
        return readable[int(len(readable) * rng.random() ** 2)][0]

    def by(mode: SearchMode, shape: Callable[[str], str]) -> Callable[[random.Random], SightingSearch]:
        return lambda rng: SightingSearch(q=shape(plate(rng)), mode=mode)

    def misread(p: str, rng: random.Random) -> str:
        i = rng.randrange(len(p))
        return p[:i] + rng.choice("O0I1B8S5Z2" + LETTERS) + p[i + 1 :]

    def camera_hour(rng: random.Random) -> SightingSearch:
        since = START + dt.timedelta(seconds=rng.randrange((DAYS - 1) * 86_400))
        camera = uuid.UUID(hex=population.cameras[rng.randrange(CAMERAS)][0])
        return SightingSearch(camera_ids=(camera,), since=since, until=since + dt.timedelta(hours=1))

    def seven_days(rng: random.Random) -> SightingSearch:
        since = START + dt.timedelta(days=rng.randrange(DAYS - 7))
        return SightingSearch(q=plate(rng), since=since, until=since + dt.timedelta(days=7))

    return [
        Case("primary key (baseline)", lambda s, rng: s.get(Sighting, rng.choice(ids))),
        Case("exact LEA1234", search(principal, by("exact", lambda p: p))),
        Case("exact, 3 of 4 districts' user", search(scoped, by("exact", lambda p: p))),
        Case("exact + 7 days", search(principal, seven_days)),
        Case("prefix LEA1…", search(principal, by("prefix", lambda p: p[:4]))),
        Case("wildcard LE?12*", search(principal, by("wildcard", lambda p: p[:2] + "?" + p[3:5] + "*"))),
        Case("wildcard *1234", search(principal, by("wildcard", lambda p: "*" + p[-4:]))),
        Case(
            "fuzzy, one misread",
            lambda s, rng: plates.search(
                session=s,
                principal=principal,
                search=SightingSearch(q=misread(plate(rng), rng), mode="fuzzy"),
                purpose=PURPOSE,
                limit=100,
            ),
        ),
        Case("camera + 1 hour", search(principal, camera_hour)),
        Case("fuzzy by halves (reference, not taken)", lambda s, rng: by_halves(s, misread(plate(rng), rng))),
    ]


def within_one_edit(a: str, b: str) -> bool:
    """Whether a and b are at most one substitution, insertion or deletion apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] if len(a) == len(b) else a[i:] == b[i + 1 :]


def by_halves(session: Session, q: str) -> list[Sighting]:
    """Fuzzy search as first planned: a one-edit match keeps its first or its second half intact, so both
    halves' prefixes on the folded and reversed indexes, then the edit distance checked here."""
    folded = plates.fold(q)
    k = len(folded) // 2
    head, tail = folded[:k], folded[k:][::-1]
    near = or_(Sighting.folded.like(head + "%"), Sighting.folded_rev.like(tail + "%"))
    if session.get_bind().dialect.name == "sqlite":
        near = or_(
            and_(Sighting.folded >= head, Sighting.folded < head[:-1] + chr(ord(head[-1]) + 1)),
            and_(Sighting.folded_rev >= tail, Sighting.folded_rev < tail[:-1] + chr(ord(tail[-1]) + 1)),
        )
    rows = session.execute(select(Sighting.id, Sighting.folded, Sighting.seen_at).where(near)).all()
    hits = sorted(
        (r for r in rows if r.folded and within_one_edit(r.folded, folded)), key=lambda r: r.seen_at
    )
    ids = [r.id for r in hits[-100:]]
    return list(session.scalars(select(Sighting).where(Sighting.id.in_(ids)))) if ids else []


@dataclass(frozen=True)
class Result:
    backend: str
    case: str
    p50: float
    p95: float
    baseline_p95: float
    rows: float  # mean rows found per query (a page holds at most 100)


def measure(
    factory: sessionmaker[Session], case: Case, queries: int, rng: random.Random
) -> tuple[list[float], float]:
    """Milliseconds of each query (after two warm-up queries), each in a session rolled back; mean rows."""
    times = []
    found = 0
    for n in range(queries + 2):
        with factory() as session:
            started = time.perf_counter()
            page = case.query(session, rng)
            elapsed = (time.perf_counter() - started) * 1000
            session.rollback()  # the audit entries of a benchmark are not kept
        if n >= 2:
            times.append(elapsed)
            found += (
                len(page.items)
                if isinstance(page, SightingPage)
                else len(page)
                if isinstance(page, list)
                else 1
            )
    return times, found / queries


def run_cases(
    backend: str, engine: Engine, population: Population, queries: int, settings: Settings
) -> list[Result]:
    with audited_sessions(engine, settings) as factory:
        with factory() as session:
            ids = [
                uuid.UUID(str(i)) for i in session.scalars(text("SELECT id FROM plate_sightings LIMIT 20000"))
            ]
            districts = set(
                session.scalars(select(District.id).where(District.code.in_(["BD0", "BD1", "BD2"])))
            )
        principal = Principal(None, "bench", frozenset({plates.READ}), None)
        scoped = Principal(None, "bench-scoped", frozenset({plates.READ}), frozenset(districts))
        rng = random.Random(11)
        measured = {
            c.name: measure(factory, c, queries, rng) for c in cases(population, principal, scoped, ids)
        }
        base_p95 = percentile(measured["primary key (baseline)"][0], 95)
        return [
            Result(backend, name, statistics.median(times), percentile(times, 95), base_p95, rows)
            for name, (times, rows) in measured.items()
        ]


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def bench_sqlite(count: int, queries: int, population: Population, console: Console) -> list[Result]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = Path(tmp) / "plates.db"
        engine = create_db_engine(f"sqlite:///{path}")
        migrations.upgrade(engine)
        population = Population(population.plates, add_places(engine, random.Random(3)))
        started = time.perf_counter()
        fill_sqlite(path, count, population, random.Random(5))
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        size = path.stat().st_size / 1024**3
        console.print(
            f"SQLite: {count:,} rows loaded in {loaded:.0f} s, indexes built in {built:.0f} s, {size:.1f} GB"
        )
        results = run_cases("SQLite", engine, population, queries, Settings(data_dir=Path(tmp)))
        engine.dispose()
    return results


def bench_postgres(
    base_url: str, count: int, queries: int, population: Population, console: Console
) -> list[Result]:
    with scratch_schema(base_url) as scratch:
        engine = create_db_engine(scratch.url)
        migrations.upgrade(engine)
        population = Population(population.plates, add_places(engine, random.Random(3)))
        started = time.perf_counter()
        fill_postgres(scratch.conninfo, scratch.options, count, population, random.Random(5))
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        console.print(
            f"PostgreSQL: {count:,} rows loaded in {loaded:.0f} s, indexes built, vacuumed in {built:.0f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            results = run_cases("PostgreSQL", engine, population, queries, Settings(data_dir=Path(tmp)))
        engine.dispose()
    return results


def main() -> None:
    """Fill, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="sightings to fill")
    parser.add_argument("--queries", type=int, default=100, help="queries per case")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    console = Console(width=110)
    rng = random.Random(1)
    vehicles = max(1000, args.rows // SIGHTINGS_PER_VEHICLE)
    population = Population([make_plate(rng) for _ in range(vehicles)], [])
    if args.backend in ("sqlite", "both"):
        show(console, bench_sqlite(args.rows, args.queries, population, console), args.rows, args.queries)
    if args.backend in ("postgresql", "both"):
        pg_url = postgres_url()
        unreachable = postgres_reachable(pg_url)
        if unreachable is None:
            results = bench_postgres(pg_url, args.rows, args.queries, population, console)
            show(console, results, args.rows, args.queries)
        else:
            console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({unreachable})[/]")


def show(console: Console, results: list[Result], count: int, queries: int) -> None:
    """Print one backend's table (as soon as it is measured: a 10 M fill takes a while)."""
    table = RichTable(title=f"Plate search over {count:,} sightings, {queries} queries per case")
    headings = ("backend", "search", "rows", "p50 ms", "p95 ms", "p95 vs PK", f"p95 <= {GOAL_MS:g} ms")
    for heading in headings:
        table.add_column(heading, justify="left" if heading in ("backend", "search") else "right")
    for r in results:
        baseline = r.case.endswith("(baseline)") or "(reference" in r.case
        met = "" if baseline else ("yes" if r.p95 <= GOAL_MS else "no")
        ratio = f"{r.p95 / r.baseline_p95:.1f}x"
        table.add_row(r.backend, r.case, f"{r.rows:.0f}", f"{r.p50:.2f}", f"{r.p95:.2f}", ratio, met)
    console.print(table)


if __name__ == "__main__":
    try:
        main()
    except OperationalError as exc:
        raise SystemExit(f"database error: {exc.orig}") from exc
