"""Citizen-portal look-up latency over a million challans: the whole `portal.lookup` (the per-address
throttle read from the audit log, the plate's challans with their violations, the CNIC digits checked, the
audit entry) and the results page's read.

Run: `python -m bench.bench_portal [--rows 1000000] [--queries 200] [--backend both]`. Fills
traffic_violations and traffic_challans (about 2.5 challans per plate, skewed: some vehicles collect many)
into a SQLite file under /tmp and into PostgreSQL (SAFECITY_TEST_DATABASE_URL or
postgresql://postgres@127.0.0.1:5432/test, a throwaway schema dropped at the end), loaded with the model's
indexes dropped and then rebuilt, so the tables end as the application's. Each query is rolled back
(its audit entry is not kept), from a new client address each time (the throttle counts, never refuses).
The baseline is a primary-key read of a random challan in the same run. The query plan is printed: the
look-up must use ix_traffic_challans_plate_status. Target: p95 <= 100 ms at 1 M challans.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psycopg
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Engine, Table, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bench.bench_plate_search import LETTERS, add_places, percentile
from bench.common import audited_sessions, postgres_reachable, postgres_url, scratch_schema
from safecity import migrations
from safecity.config import ChallanSettings, Settings
from safecity.core.db import create_db_engine
from safecity.traffic.challans.models import Challan, Fine
from safecity.traffic.portal import service as portal
from safecity.traffic.violations.models import Offence, Violation

GOAL_MS = 100.0
CHALLANS_PER_PLATE = 2.5
START = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
DAYS = 365
CHUNK = 50_000
OFFENCES = [o.value for o in Offence]
STATUSES = ["paid"] * 6 + ["issued"] * 2 + ["overdue", "cancelled"]
VIOLATION_COLUMNS = (
    "id",
    "source_key",
    "offence",
    "camera_id",
    "district_id",
    "occurred_at",
    "status",
    "plate_read",
    "plate_confidence",
    "plate",
    "vehicle_class",
    "measured",
    "evidence",
    "version",
    "created_at",
    "decided_at",
)
CHALLAN_COLUMNS = (
    "id",
    "number",
    "violation_id",
    "district_id",
    "plate",
    "offence",
    "vehicle_class",
    "fine_id",
    "amount_pkr",
    "status",
    "issued_at",
    "due_at",
    "payment_ref",
    "verify_code",
    "owner_name",
    "owner_cnic",
    "owner_phone",
    "owner_email",
    "owner_address",
    "reminders_sent",
    "public_evidence",
)


def make_plate(rng: random.Random) -> str:
    return rng.choice(("LE", "RI", "FD", "PR", "IS")) + rng.choice(LETTERS) + f"{rng.randrange(10_000):04d}"


def cnic_of(plate_index: int) -> str:
    """Each vehicle's owner: a CNIC derived from its index (13 digits, dashed)."""
    digits = f"{(plate_index * 7_919_003 + 35_202_000_000_000) % 10**13:013d}"
    return f"{digits[:5]}-{digits[5:12]}-{digits[12]}"


@dataclass(frozen=True)
class Population:
    plates: list[str]
    cameras: list[tuple[str, str]]  # (camera id hex, district id hex)
    fine_id: str


def rows(
    count: int, population: Population, rng: random.Random, zone: str = ""
) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Violations and their challans, `CHUNK` at a time, as text the way SQLAlchemy stores them."""
    span = DAYS * 86_400 / count
    vehicles = len(population.plates)
    for start in range(0, count, CHUNK):
        violations: list[tuple[object, ...]] = []
        challans: list[tuple[object, ...]] = []
        for i in range(start, min(count, start + CHUNK)):
            at = START + dt.timedelta(seconds=i * span)
            stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") + zone
            due = (at + dt.timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S.%f") + zone
            camera, district = population.cameras[rng.randrange(len(population.cameras))]
            index = int(vehicles * rng.random() ** 1.5)  # some vehicles collect many challans
            plate, offence = population.plates[index], rng.choice(OFFENCES)
            violation_id, challan_id = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(128):032x}"
            evidence = f'{{"camera": {{"name": "cam-{camera[:6]}"}}, "files": []}}'
            violations.append(
                (
                    violation_id,
                    f"bench:{violation_id}",
                    offence,
                    camera,
                    district,
                    stamp,
                    "confirmed",
                    plate,
                    0.95,
                    plate,
                    "car",
                    "{}",
                    evidence,
                    1,
                    stamp,
                    stamp,
                )
            )
            challans.append(
                (
                    challan_id,
                    f"BD{i % 4}-2025-{i:07d}",
                    violation_id,
                    district,
                    plate,
                    offence,
                    "car",
                    population.fine_id,
                    500,
                    rng.choice(STATUSES),
                    stamp,
                    due,
                    f"P{i:011d}",
                    f"{rng.getrandbits(96):024x}",
                    "Owner Name",
                    cnic_of(index),
                    "+923001234567",
                    "",
                    "Peshawar",
                    0,
                    "[]",
                )
            )
        yield violations, challans


def add_fine(engine: Engine) -> str:
    with Session(engine) as session:
        fine = Fine(
            province_code="KP",
            vehicle_class="car",
            offence=Offence.RED_LIGHT,
            amount_pkr=500,
            effective_from=dt.date(2020, 1, 1),
        )
        session.add(fine)
        session.commit()
        return fine.id.hex


def model_indexes() -> list[tuple[str, Table]]:
    return [
        (str(index.name), table)
        for table in (cast(Table, Violation.__table__), cast(Table, Challan.__table__))
        for index in table.indexes
    ]


def rebuild_indexes(engine: Engine) -> float:
    engine.dispose()
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for table in (cast(Table, Violation.__table__), cast(Table, Challan.__table__)):
            for index in table.indexes:
                index.create(conn)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) traffic_violations"))
            conn.execute(text("VACUUM (ANALYZE) traffic_challans"))
    return time.perf_counter() - started


def fill_sqlite(path: Path, count: int, population: Population, rng: random.Random) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA cache_size=-1000000")
    for name, _ in model_indexes():
        raw.execute(f'DROP INDEX "{name}"')
    statements = [
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608
        for table, columns in (
            ("traffic_violations", VIOLATION_COLUMNS),
            ("traffic_challans", CHALLAN_COLUMNS),
        )
    ]
    for violations, challans in rows(count, population, rng):
        raw.execute("BEGIN")
        raw.executemany(statements[0], violations)
        raw.executemany(statements[1], challans)
        raw.execute("COMMIT")
    raw.close()


def fill_postgres(
    conninfo: str, options: str, count: int, population: Population, rng: random.Random
) -> None:
    with psycopg.connect(conninfo, options=options) as raw:
        for name, _ in model_indexes():
            raw.execute(f'DROP INDEX "{name}"')
        for violations, challans in rows(count, population, rng, zone="+00"):
            with raw.cursor() as cur:
                for table, columns, chunk in (
                    ("traffic_violations", VIOLATION_COLUMNS, violations),
                    ("traffic_challans", CHALLAN_COLUMNS, challans),
                ):
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in chunk:
                            copy.write_row(row)
        raw.commit()


@dataclass(frozen=True)
class Result:
    backend: str
    case: str
    p50: float
    p95: float
    baseline_p95: float
    rows: float


def plan(session: Session, plate: str) -> str:
    """The database's plan for the look-up's query, on one line."""
    query = portal.plate_query(plate)
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        lines = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return " | ".join(str(r[-1]) for r in lines)
    lines = session.execute(text(f"EXPLAIN {compiled}")).all()
    return " | ".join(str(r[0]).strip() for r in lines)


def run_cases(
    backend: str, engine: Engine, population: Population, queries: int, console: Console
) -> list[Result]:
    settings = Settings(data_dir=Path(tempfile.gettempdir()))
    with audited_sessions(engine, settings) as factory:
        challans_settings = ChallanSettings(portal_lookups_per_minute=20)
        with factory() as session:
            ids = list(session.scalars(select(Challan.id).limit(20_000)))
            targets = [
                (plate, cnic)
                for plate, cnic in session.execute(
                    select(Challan.plate, Challan.owner_cnic).limit(20_000)
                ).all()
            ]
            shown = plan(session, targets[0][0])
            if "ix_traffic_challans_plate_status" not in shown:
                console.print(f"[red]{backend}: the look-up does not use ix_traffic_challans_plate_status[/]")
            console.print(f"{backend} plan: {shown}")
        rng = random.Random(7)

        def proof(r: random.Random) -> portal.Proof:
            plate, cnic = r.choice(targets)
            return portal.Proof(plate, "".join(c for c in cnic if c.isdigit())[-4:])

        def address(r: random.Random) -> str:
            return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

        cases: list[tuple[str, Callable[[Session, random.Random], object]]] = [
            ("primary key (baseline)", lambda s, r: s.get(Challan, r.choice(ids))),
            (
                "portal look-up",
                lambda s, r: portal.lookup(
                    session=s, proof=proof(r), settings=challans_settings, client_addr=address(r)
                ),
            ),
            (
                "results page (token)",
                lambda s, r: portal.challans(session=s, proof=proof(r), settings=challans_settings),
            ),
            (
                "wrong CNIC digits",
                lambda s, r: portal.lookup(
                    session=s,
                    proof=portal.Proof(r.choice(targets)[0], "0000"),
                    settings=challans_settings,
                    client_addr=address(r),
                ),
            ),
        ]
        measured: dict[str, tuple[list[float], float]] = {}
        for name, query in cases:
            times, found = [], 0
            for n in range(queries + 3):
                with factory() as session:
                    started = time.perf_counter()
                    answer = query(session, rng)
                    elapsed = (time.perf_counter() - started) * 1000
                    session.rollback()
                if n >= 3:  # warm-up
                    times.append(elapsed)
                    found += len(answer) if isinstance(answer, list) else 1
            measured[name] = (times, found / queries)
        base = percentile(measured["primary key (baseline)"][0], 95)
        return [
            Result(backend, name, statistics.median(times), percentile(times, 95), base, found)
            for name, (times, found) in measured.items()
        ]


def bench_sqlite(count: int, queries: int, plates: list[str], console: Console) -> list[Result]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = Path(tmp) / "portal.db"
        engine = create_db_engine(f"sqlite:///{path}")
        migrations.upgrade(engine)
        population = Population(plates, add_places(engine, random.Random(3)), add_fine(engine))
        started = time.perf_counter()
        fill_sqlite(path, count, population, random.Random(5))
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        size = path.stat().st_size / 1024**3
        console.print(
            f"SQLite: {count:,} challans loaded in {loaded:.0f} s, indexed in {built:.0f} s, {size:.1f} GB"
        )
        results = run_cases("SQLite", engine, population, queries, console)
        engine.dispose()
    return results


def bench_postgres(
    base_url: str, count: int, queries: int, plates: list[str], console: Console
) -> list[Result]:
    with scratch_schema(base_url) as scratch:
        engine = create_db_engine(scratch.url)
        migrations.upgrade(engine)
        population = Population(plates, add_places(engine, random.Random(3)), add_fine(engine))
        started = time.perf_counter()
        fill_postgres(scratch.conninfo, scratch.options, count, population, random.Random(5))
        loaded = time.perf_counter() - started
        built = rebuild_indexes(engine)
        console.print(
            f"PostgreSQL: {count:,} challans loaded in {loaded:.0f} s, indexed and vacuumed in {built:.0f} s"
        )
        results = run_cases("PostgreSQL", engine, population, queries, console)
        engine.dispose()
    return results


def show(console: Console, results: list[Result], count: int, queries: int) -> None:
    table = RichTable(title=f"Portal look-up over {count:,} challans, {queries} queries per case")
    headings = ("backend", "query", "challans", "p50 ms", "p95 ms", "p95 vs PK", f"p95 <= {GOAL_MS:g} ms")
    for heading in headings:
        table.add_column(heading, justify="left" if heading in ("backend", "query") else "right")
    for r in results:
        met = "" if r.case.endswith("(baseline)") else ("yes" if r.p95 <= GOAL_MS else "no")
        table.add_row(
            r.backend,
            r.case,
            f"{r.rows:.1f}",
            f"{r.p50:.2f}",
            f"{r.p95:.2f}",
            f"{r.p95 / r.baseline_p95:.1f}x",
            met,
        )
    console.print(table)


def main() -> None:
    """Fill, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="challans to fill")
    parser.add_argument("--queries", type=int, default=200, help="queries per case")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    console = Console(width=120)
    rng = random.Random(1)
    plates = [make_plate(rng) for _ in range(max(1000, int(args.rows / CHALLANS_PER_PLATE)))]
    if args.backend in ("sqlite", "both"):
        show(console, bench_sqlite(args.rows, args.queries, plates, console), args.rows, args.queries)
    if args.backend in ("postgresql", "both"):
        pg_url = postgres_url()
        unreachable = postgres_reachable(pg_url)
        if unreachable is None:
            show(
                console,
                bench_postgres(pg_url, args.rows, args.queries, plates, console),
                args.rows,
                args.queries,
            )
        else:
            console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({unreachable})[/]")


if __name__ == "__main__":
    try:
        main()
    except OperationalError as exc:
        raise SystemExit(f"database error: {exc.orig}") from exc
