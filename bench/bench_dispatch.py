"""Unit recommendation latency: `recommend` over 2,000 units, against reading the same rows bare.

Run: `python -m bench.bench_dispatch [--units 2000] [--queries 100]`. SQLite is a temporary file set up
as the application sets it; PostgreSQL is SAFECITY_TEST_DATABASE_URL or
postgresql://postgres@127.0.0.1:5432/test, in a throwaway schema dropped at the end. Units stand at random
places around Peshawar with a mix of agencies and statuses; each query is an incident at another random
place. The baseline, measured in the same run, is a bare SELECT of every unit's id and position.
Target: p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bench.common import postgres_url, scratch_schema
from safecity import migrations
from safecity.auth.principal import Principal
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.dispatch import service
from safecity.dispatch.models import Unit, UnitStatus
from safecity.incidents.models import Category, Incident, Status
from safecity.org.models import District, Province

GOAL_MS = 50.0
PESHAWAR = (34.0151, 71.5249)
BOSS = Principal(
    user_id=None,
    username="bench",
    permissions=frozenset({"incidents.read", "dispatch.manage"}),
    district_ids=None,
    via="system",
)


def _near_peshawar(rng: random.Random) -> tuple[float, float]:
    return PESHAWAR[0] + rng.uniform(-0.12, 0.12), PESHAWAR[1] + rng.uniform(-0.15, 0.15)


def _fill(session: Session, units: int, queries: int, rng: random.Random) -> list[uuid.UUID]:
    province = Province(code="KP", name="Khyber Pakhtunkhwa")
    session.add(province)
    session.flush()
    district = District(province_id=province.id, code="PSW", name="Peshawar", latitude=34.0, longitude=71.5)
    session.add(district)
    agencies = service.ensure_agencies(session=session)
    statuses = [UnitStatus.AVAILABLE] * 6 + [UnitStatus.DISPATCHED, UnitStatus.ON_SCENE, UnitStatus.OFF_DUTY]
    now = dt.datetime.now(dt.UTC)
    for i in range(units):
        lat, lon = _near_peshawar(rng)
        session.add(
            Unit(
                id=uuid.uuid4(),
                agency_id=rng.choice(agencies).id,
                call_sign=f"B-{i:05d}",
                vehicle_registration="PSW-1",
                vehicle_type="Hilux",
                crew=[],
                district_id=district.id,
                status=rng.choice(statuses),
                latitude=lat,
                longitude=lon,
                position_at=now,
                version=1,
            )
        )
    incident_ids = []
    for i in range(queries):
        lat, lon = _near_peshawar(rng)
        incident = Incident(
            id=uuid.uuid4(),
            number=f"PSW-2026-{i:06d}",
            district_id=district.id,
            category=rng.choice(list(Category)),
            priority=2,
            status=Status.NEW,
            title="bench",
            latitude=lat,
            longitude=lon,
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(incident)
        incident_ids.append(incident.id)
    return incident_ids


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]


def _time(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


@contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def _postgres() -> Iterator[str]:
    with scratch_schema(postgres_url()) as scratch:
        yield scratch.url


def bench(name: str, url: str, units: int, queries: int) -> None:
    """Fill a migrated database at `url`, then time the baseline and `recommend`, and print figures."""
    engine = create_db_engine(url)
    try:
        migrations.upgrade(engine)
        factory = create_session_factory(engine)
        with transaction(factory) as session:
            incident_ids = _fill(session, units, queries, random.Random(7))
        with factory() as session:
            bare = [
                _time(lambda: session.execute(text("SELECT id, latitude, longitude FROM units")).all())
                for _ in range(queries)
            ]
            ours = [
                _time(lambda i=i: service.recommend(session=session, principal=BOSS, incident_id=i))  # type: ignore[misc]
                for i in incident_ids
            ]
        b50, b95 = _percentiles(bare)
        p50, p95 = _percentiles(ours)
        verdict = "met" if p95 <= GOAL_MS else "MISSED"
        print(
            f"{name:<10} {units} units, {queries} queries: recommend p50 {p50:.2f} ms, p95 {p95:.2f} ms "
            f"(goal p95 <= {GOAL_MS:.0f} ms: {verdict}); bare read of all units p50 {b50:.2f} ms, "
            f"p95 {b95:.2f} ms; ratio p50 {p50 / b50:.1f}x",
            flush=True,
        )
    finally:
        engine.dispose()


def main() -> None:
    """Run the benchmark on SQLite and, if it answers, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    with _sqlite() as url:
        bench("sqlite", url, args.units, args.queries)
    try:
        with _postgres() as url:
            bench("postgresql", url, args.units, args.queries)
    except OperationalError as exc:
        print(f"postgresql skipped: {type(exc).__name__}")


if __name__ == "__main__":
    main()
