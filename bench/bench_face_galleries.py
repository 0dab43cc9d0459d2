"""Live face galleries kept current: what the face worker pays when a watchlist changes, against reading
each camera's gallery afresh.

Run: `python -m bench.bench_face_galleries [--faces 100000] [--cameras 20]`.

One watchlist of `--faces` enrolled faces (random 128-d embeddings, sealed under the biometric key as
enrolment seals them) and an approved live authorisation naming `--cameras` cameras, in SQLite (a
temporary file) and PostgreSQL (SAFECITY_TEST_DATABASE_URL or the local server, a throwaway schema).
Then one person more is enrolled, and the face worker asks again, as it does within a second of a change.

- baseline: each camera's gallery read and opened on its own, and the changed gallery's 1:N index built
  anew once (what every change cost before: `live_galleries` camera by camera with nothing held, one
  `FaceIndex` from scratch for the cameras' shared set of faces);
- first load: the worker's refresh with nothing held (one reading for the cameras under the
  authorisation, every embedding opened once, one index built);
- after the enrolment: the worker's refresh holding the gallery (only the new embedding opened, the index
  copied and changed by one face).
Figures: seconds (wall clock, this process), and the baseline's against each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.common import postgres_reachable, postgres_url, scratch_schema, seed_camera
from safecity import migrations
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.index import FaceIndex
from safecity.analytics.faces.live import CameraFaces, FaceQueue, FaceWorker
from safecity.analytics.faces.types import Embedding
from safecity.analytics.plates.live import CameraRef
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.faces import service as faces
from safecity.faces.models import (
    Authorisation,
    AuthorisationKind,
    Enrolment,
    Watchlist,
    WatchlistEntry,
    WatchlistKind,
    authorisation_cameras,
    authorisation_watchlists,
)
from safecity.records.models import Person

NOW = dt.datetime.now(dt.UTC)
CHUNK = 5000


def _sealed(box: SecretBox, rng: np.random.Generator, n: int) -> list[bytes]:
    vectors = rng.standard_normal((n, 128)).astype("<f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [box.encrypt_bytes(v.tobytes()) for v in vectors]


def _enrol(session: Session, box: SecretBox, rng: np.random.Generator, entry_id: uuid.UUID, n: int) -> None:
    chip = box.encrypt_bytes(b"chip")
    for start in range(0, n, CHUNK):
        rows = [
            {
                "id": (key := uuid.uuid4()),
                "entry_id": entry_id,
                "sha256": key.hex * 2,  # a photo's digest: unique per entry
                "chip": chip,
                "embedding": sealed,
                "quality": {},
                "created_by": "bench",
                "created_at": NOW - dt.timedelta(days=1),
            }
            for sealed in _sealed(box, rng, min(CHUNK, n - start))
        ]
        session.execute(insert(Enrolment), rows)


def prepare(
    factory: sessionmaker[Session], box: SecretBox, count: int, cameras: int
) -> tuple[list[uuid.UUID], uuid.UUID]:
    """The watchlist, its faces, the cameras and the authorisation; the camera ids and the entry's id."""
    rng = np.random.default_rng(3)
    with transaction(factory) as session:
        first = seed_camera(session)
        others = [
            Camera(
                name=f"Bench {i}",
                district_id=first.district_id,
                latitude=34.0,
                longitude=71.5,
                stream_url="rtsp://x/1",
            )
            for i in range(1, cameras)
        ]
        session.add_all(others)
        session.flush()
        camera_ids = [first.id, *(c.id for c in others)]
        person = Person(district_id=first.district_id, name="Bench Person")
        watchlist = Watchlist(
            name="Wanted (bench)",
            kind=WatchlistKind.WANTED,
            legal_basis="bench",
            district_id=first.district_id,
            owner_name="bench",
            review_at=NOW + dt.timedelta(days=30),
        )
        session.add_all([person, watchlist])
        session.flush()
        entry = WatchlistEntry(
            watchlist_id=watchlist.id, person_id=person.id, reason="bench", added_by="bench"
        )
        granted = Authorisation(
            kind=AuthorisationKind.LIVE,
            district_id=first.district_id,
            legal_basis="bench",
            purpose="bench",
            starts_at=NOW - dt.timedelta(hours=1),
            ends_at=NOW + dt.timedelta(days=1),
            requested_by="bench-a",
            approved_by="bench-b",
            approved_at=NOW - dt.timedelta(hours=1),
        )
        session.add_all([entry, granted])
        session.flush()
        session.execute(
            insert(authorisation_watchlists), [{"authorisation_id": granted.id, "watchlist_id": watchlist.id}]
        )
        session.execute(
            insert(authorisation_cameras),
            [{"authorisation_id": granted.id, "camera_id": c} for c in camera_ids],
        )
        _enrol(session, box, rng, entry.id, count)
        return camera_ids, entry.id


def run(backend: str, url: str, directory: Path, count: int, cameras: int) -> list[tuple[str, str, float]]:
    """The three measurements on one database: (backend, what, seconds)."""
    settings = Settings(data_dir=directory, secret_key=SecretStr("bench-secret-key-0123456789abcdef0123"))
    box = faces.biometric_box(settings)
    engine = create_db_engine(url)
    migrations.upgrade(engine)
    factory = create_session_factory(engine)
    camera_ids, entry_id = prepare(factory, box, count, cameras)

    def load(
        ids: Sequence[uuid.UUID], known: Mapping[uuid.UUID, Embedding]
    ) -> dict[uuid.UUID, faces.LiveGallery]:
        with factory() as session:
            return faces.live_galleries(
                session=session, box=box, camera_ids=ids, at=dt.datetime.now(dt.UTC), known=known
            )

    started = time.perf_counter()
    for camera_id in camera_ids:  # the baseline: camera by camera, nothing held ...
        live = load([camera_id], {})[camera_id]
    index = FaceIndex(128)  # ... and, the set of faces being new, its index built anew (once: shared)
    index.add([f.enrolment_id for f in live.faces], np.stack([f.embedding for f in live.faces]))
    baseline = time.perf_counter() - started

    queue = FaceQueue()
    for i, camera_id in enumerate(camera_ids):
        CameraFaces(CameraRef(camera_id, f"Bench {i}", None), queue, sink=lambda _: None)
    stamp = ["start"]
    worker = FaceWorker(FaceEngine(), queue, load, lambda: stamp[0])
    started = time.perf_counter()
    worker.refresh(0.0)
    first = time.perf_counter() - started

    with transaction(factory) as session:
        _enrol(session, box, np.random.default_rng(4), entry_id, 1)
    stamp[0] = "one more"
    started = time.perf_counter()
    worker.refresh(1.0)
    again = time.perf_counter() - started
    sizes = {len(c.gallery.faces) for c in queue.members()}
    assert sizes == {count + 1}, sizes
    engine.dispose()
    per = f"{cameras} cameras"
    return [
        (backend, f"baseline: {per} read and opened one by one, indexed anew", baseline),
        (backend, f"first load: {per} in one reading", first),
        (backend, f"after one enrolment: {per}, only the new face opened", again),
    ]


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=20)
    args = parser.parse_args()
    console = Console(width=120)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), args.faces, args.cameras)
        pg_url = postgres_url()
        why = postgres_reachable(pg_url)
        if why is None:
            with scratch_schema(pg_url) as scratch:
                rows += run("PostgreSQL", scratch.url, Path(tmp), args.faces, args.cameras)
        else:
            console.print(f"[yellow]PostgreSQL skipped: {make_url(pg_url)!r} unreachable ({why})[/]")
    table = Table(title=f"Live face galleries: {args.faces:,} enrolled faces, {args.cameras} cameras")
    for heading in ("backend", "what", "seconds", "baseline vs it"):
        table.add_column(heading, justify="right" if heading in ("seconds", "baseline vs it") else "left")
    baselines = {backend: seconds for backend, what, seconds in rows if what.startswith("baseline")}
    for backend, what, seconds in rows:
        table.add_row(backend, what, f"{seconds:.2f}", f"{baselines[backend] / seconds:.1f}x")
    console.print(table)


if __name__ == "__main__":
    main()
