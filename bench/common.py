"""Set-up the benchmarks share: a throwaway PostgreSQL schema per run, sessions that write the audit chain,
and the KP/Peshawar district with one camera that a benchmark's rows hang on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit.chain import AuditChain
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.db import create_db_engine, create_session_factory
from safecity.org.models import District, Province

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL server to measure: SAFECITY_TEST_DATABASE_URL, as the tests use, else the local one."""
    return os.environ.get("SAFECITY_TEST_DATABASE_URL", DEFAULT_PG_URL)


def postgres_reachable(url: str) -> str | None:
    """None if PostgreSQL answers at `url`, else why not."""
    engine = create_db_engine(url)
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Scratch:
    """A throwaway schema: `url` for SQLAlchemy (psycopg, the schema first on the search path), and
    `conninfo` with `options` for a raw psycopg connection to the same schema (COPY fills)."""

    schema: str
    url: str
    conninfo: str

    @property
    def options(self) -> str:
        return f"-csearch_path={self.schema}"


@contextmanager
def scratch_schema(base_url: str) -> Iterator[Scratch]:
    """A new, empty schema on the server at `base_url` for one run, dropped with everything in it after."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base_url).set(drivername="postgresql+psycopg")
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
        conninfo = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
        yield Scratch(schema, url.render_as_string(hide_password=False), conninfo)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def audited_sessions(engine: Engine, settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions that write the audit chain as the application's do; its head is checkpointed on leaving.

    Left to the chain's timer, that checkpoint could be written while the benchmark's temporary data
    directory is being removed, re-creating its folder there ("Directory not empty").
    """
    chain = AuditChain.from_settings(settings)
    try:
        yield create_session_factory(engine, info=chain.session_info())
    finally:
        chain.flush()


def seed_camera(session: Session, name: str = "Bench Chowk") -> Camera:
    """Khyber Pakhtunkhwa, its Peshawar district (PSW) and one camera there; flushed, not committed."""
    province = Province(code="KP", name="Khyber Pakhtunkhwa")
    session.add(province)
    session.flush()
    district = District(province_id=province.id, code="PSW", name="Peshawar", latitude=34.0, longitude=71.5)
    session.add(district)
    session.flush()
    camera = Camera(
        name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://x/1"
    )
    session.add(camera)
    session.flush()
    return camera
