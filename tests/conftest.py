"""Shared fixtures: the whole suite runs on SQLite and, when SAFECITY_TEST_DATABASE_URL is set, PostgreSQL.

A test that needs a server it was told about but cannot reach fails; one it was not told about skips,
saying what to run. `make test` (SAFECITY_TEST_SERVICES=local) and CI use PostgreSQL, NATS and Mosquitto
on their usual local ports when they answer; the run's closing lines name what it ran against.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import os
import select as io_select  # `select` is SQLAlchemy's here
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import cv2
import numpy as np
import pyotp
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from safecity import migrations
from safecity.app import create_app
from safecity.audit import service as audit_service
from safecity.audit.chain import AuditChain
from safecity.audit.models import AuditEntry, AuditHead
from safecity.auth import service as auth_service
from safecity.auth.models import User
from safecity.auth.principal import SYSTEM, Principal
from safecity.cameras.models import Camera
from safecity.config import Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.core.db import create_db_engine, create_session_factory
from safecity.core.lanes import Lane
from safecity.org.models import District, Province
from safecity.runtime import Services, build_services

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from safecity.video.recorder import SegmentInfo, SegmentRecorder

PG_ENV = "SAFECITY_TEST_DATABASE_URL"
NATS_ENV = "SAFECITY_TEST_NATS_URL"
SERVICES_ENV = "SAFECITY_TEST_SERVICES"  # "local": use the services on their usual local ports (make test)
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_NATS = "nats://127.0.0.1:4222"
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
# How to start each service on a machine of this project's kind (as root), for the skip messages.
START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "nats": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
    "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    "mosquitto": "mosquitto -d -c /etc/mosquitto/mosquitto.conf",
}
MISSING = "missing part: "  # how skips for a part this machine lacks begin (counted in the closing line)
# Tests on the shared NATS server's real streams share its durable consumers: under `pytest -n` (make test)
# they run on one worker, so one test's store never takes another's messages.
SHARED_NATS = pytest.mark.xdist_group("shared-nats")


def missing_part(what: str, fix: str) -> NoReturn:
    """Skip a test that needs `what` (fail in CI, where everything must be there), saying how to fix it."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} ({fix})")
    pytest.skip(f"{MISSING}{what}: {fix}")


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _postgres_version(url: str) -> str:
    """The server's version, or why it could not be asked."""
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(plain, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        return f"unreachable: {str(exc).splitlines()[0]}"
    return str(row[0]).split()[0] if row else "?"


def _nats_info(url: str) -> dict[str, object]:
    """The INFO a NATS server sends on connecting (version, jetstream), or {} if none answers."""
    import json
    from urllib.parse import urlsplit

    where = urlsplit(url)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 4222), timeout=2) as sock:
            line = sock.makefile("rb").readline(65536).decode()
    except OSError:
        return {}
    return dict(json.loads(line.removeprefix("INFO "))) if line.startswith("INFO ") else {}


def pytest_configure(config: pytest.Config) -> None:
    """Under `make test` or CI, use the local PostgreSQL and NATS if they answer (CI: always, to fail)."""
    if os.environ.get(SERVICES_ENV) != "local" and not os.environ.get("CI"):
        return
    ci = bool(os.environ.get("CI"))
    if not os.environ.get(PG_ENV) and (ci or not _postgres_version(LOCAL_POSTGRES).startswith("unreachable")):
        os.environ[PG_ENV] = LOCAL_POSTGRES
    if not os.environ.get(NATS_ENV) and (ci or _nats_info(LOCAL_NATS).get("jetstream")):
        os.environ[NATS_ENV] = LOCAL_NATS


def _ran_against() -> str:
    """One line naming the databases, servers, browser and media the run used, and what it lacked."""
    parts = []
    pg_url = os.environ.get(PG_ENV)
    if pg_url:
        url = make_url(pg_url)
        parts.append(f"SQLite + PostgreSQL {_postgres_version(pg_url)} ({url.host}:{url.port or 5432})")
    else:
        parts.append("SQLite only (no PostgreSQL)")
    nats_url = os.environ.get(NATS_ENV, "")
    if nats_url and (info := _nats_info(nats_url)):
        kind = "JetStream" if info.get("jetstream") else "without JetStream"
        parts.append(f"NATS {kind} {info.get('version', '?')} ({nats_url.removeprefix('nats://')})")
    else:
        parts.append("in-process bus only (no NATS)")
    parts.append(f"Mosquitto ({MQTT_HOST}:{MQTT_PORT})" if answers(MQTT_HOST, MQTT_PORT) else "no Mosquitto")
    try:
        version = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split()
        parts.append(f"chromium {next((v for v in version if v[:1].isdigit()), '?')}")
    except OSError:
        parts.append("no chromium")
    rtsp = list(Path("/usr/lib").glob("*/girepository-1.0/GstRtspServer-1.0.typelib"))
    parts.append("GStreamer RTSP server" if rtsp and SYSTEM_PYTHON.exists() else "no GStreamer RTSP server")
    footage = [p.name for p in (CCTV_FOOTAGE, DOG_JPG) if p.is_file()]
    parts.append(f"footage {' + '.join(footage)}" if footage else "no test footage")
    return "ran against: " + ", ".join(parts)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # after every other summary; pytest's own line still ends
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """Say what the run ran against, and how many tests a missing part skipped."""
    yield
    missing = [
        r for r in terminalreporter.stats.get("skipped", []) if MISSING in str(getattr(r, "longrepr", ""))
    ]
    terminalreporter.write_line(_ran_against())
    if missing:
        terminalreporter.write_line(
            f"{len(missing)} tests skipped for missing parts (see the reasons above; `make test` installs "
            "what it can, as root)",
            yellow=True,
        )


@pytest.fixture
def lanes_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long work handed to a Lane (a synopsis rendered, an export prepared or signed) runs in the caller's
    thread: on the lane's thread it would use the test's one database connection at the same time as the
    next request, and their savepoints would cross."""

    def inline(lane: Lane, work: Callable[[], None], *, at_once: int = 1) -> Future[None]:
        done: Future[None] = Future()
        work()
        done.set_result(None)
        return done

    monkeypatch.setattr(Lane, "submit", inline)


# --- waiting for a condition (never a fixed sleep) -------------------------------------------------


def wait_until(condition: Callable[[], object], *, within: float = 10.0, message: str = "") -> None:
    """Poll `condition` until it is truthy; fail after `within` seconds (a bound, not a measurement)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message or f"the condition did not come true within {within} s")
        time.sleep(0.05)


async def wait_until_async(
    condition: Callable[[], object | Awaitable[object]], *, within: float = 10.0, message: str = ""
) -> None:
    """`wait_until` for async tests: the loop keeps running; `condition` may be a coroutine function."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(message or f"the condition did not come true within {within} s")
        await asyncio.sleep(0.05)


def _postgres_url_with_schema(base_url: str, schema: str) -> str:
    """Each test run gets a schema of its own, so parallel runs on one database never collide."""
    url = make_url(base_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def new_database(kind: str, directory: Path) -> Iterator[str]:
    """A freshly migrated, empty database of `kind`; a PostgreSQL one lives in a schema of its own."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / f'safecity-{uuid.uuid4().hex[:8]}.db'}"
        engine = create_db_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        yield url
        return
    base_url = os.environ.get(PG_ENV)
    if not base_url:
        pytest.skip(
            f"{MISSING}PostgreSQL: {PG_ENV} is not set (`make test` sets it when PostgreSQL answers on "
            f"127.0.0.1:5432; to start it, as root: {START['postgresql']})"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(base_url)
    with admin.begin() as conn:  # fails loudly when the server named in the variable is down
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_url_with_schema(base_url, schema)
    engine = create_db_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of each kind, shared by the session's tests (each rolls back its writes)."""
    with new_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection whose outer transaction is rolled back after the test: nothing a test writes stays."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection, settings: Settings) -> sessionmaker[Session]:
    """Sessions on the test's connection; their commits become savepoints inside the test's transaction."""
    return sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info=audit_info(settings),
    )


def audit_info(settings: Settings) -> dict[str, object]:
    """What a test's session factory carries to write the audit chain (its key, its checkpoint file)."""
    return AuditChain.from_settings(settings).session_info()


# --- tampering with the audit log, as someone with rights on the database can -------------------


def unguard(session: Session) -> None:
    """Lift the append-only guard inside the session's transaction."""
    if session.get_bind().dialect.name == "sqlite":
        triggers = session.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit_%'")
        ).all()
        for name in triggers:
            session.execute(text(f'DROP TRIGGER "{name}"'))
    else:
        session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
        session.execute(text("ALTER TABLE audit_head DISABLE TRIGGER ALL"))


class PlainSha256(AuditChain):
    """The chain as it was hashed before it was keyed: what anyone can recompute without the key."""

    @classmethod
    def unkeyed(cls) -> PlainSha256:
        return cls(key=b"", checkpoint_key=b"", checkpoint_path=Path(os.devnull))

    def seal(self, prev_hash: str, payload: str) -> str:
        return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def rewrite_chain(session: Session, first: int, chain: AuditChain) -> None:
    """Mark entry `first` a failure, then recompute every later hash and the head under `chain`."""
    unguard(session)
    rows = session.scalars(select(AuditEntry).where(AuditEntry.seq >= first).order_by(AuditEntry.seq)).all()
    prev_hash = rows[0].prev_hash
    for row in rows:
        fields = {name: getattr(row, name) for name in audit_service.HASHED_FIELDS}
        if row.seq == first:
            fields["outcome"] = "failure"
        new_hash = audit_service.entry_hash(chain, prev_hash, fields)
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == row.seq)
            .values(outcome=fields["outcome"], prev_hash=prev_hash, hash=new_hash)
        )
        prev_hash = new_hash
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))
    session.expire_all()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


# --- factories and the web application -----------------------------------------------------------

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"
PASSWORD = "correct horse battery staple"


@dataclass
class Factory:
    """Makes districts and users the way the system would, so tests read as stories."""

    session: Session
    box: SecretBox
    totp_secrets: dict[str, str] = field(default_factory=dict)

    def district(self, code: str | None = None) -> District:
        province = self.session.scalars(select(Province)).first()
        if province is None:
            province = Province(code="KP", name="Khyber Pakhtunkhwa")
            self.session.add(province)
            self.session.flush()
        code = code or f"T{uuid.uuid4().hex[:5].upper()}"
        district = self.session.scalars(select(District).where(District.code == code)).one_or_none()
        if district is None:
            district = District(
                province_id=province.id, code=code, name=f"District {code}", latitude=34.0, longitude=71.5
            )
            self.session.add(district)
            self.session.flush()
        return district

    def user(
        self,
        *roles: str,
        districts: list[District] | None = None,
        username: str | None = None,
        mfa: bool = True,
    ) -> User:
        """A user with these roles in `districts` (None: the whole province), MFA enrolled if asked."""
        auth_service.ensure_roles(session=self.session)
        username = username or f"u{uuid.uuid4().hex[:10]}"
        user = auth_service.create_user(
            session=self.session,
            actor=SYSTEM,
            username=username,
            password=PASSWORD,
            roles=roles,
            district_ids=None if districts is None else frozenset(d.id for d in districts),
        )
        if mfa:
            secret = pyotp.random_base32()
            user.mfa_secret, user.mfa_enabled = self.box.encrypt(secret), True
            self.totp_secrets[username] = secret
        self.session.flush()
        return user

    def totp(self, username: str) -> str:
        return str(pyotp.TOTP(self.totp_secrets[username]).now())

    def principal(self, user: User) -> Principal:
        return auth_service.principal_for(session=self.session, user=user)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as the application does."""
    return "asyncio"


@pytest.fixture
def own_db(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated database of its own (URL and session factory): for runtimes that work from threads."""
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        engine = create_db_engine(url)
        yield url, create_session_factory(engine, info=audit_info(settings))
        engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Cameras are not run inside the test app: video tests start their own ingest on their own database.
    return Settings(
        data_dir=tmp_path, secret_key=SecretStr(TEST_SECRET_KEY), video=VideoSettings(run_in_web=False)
    )


@pytest.fixture
def factory(session: Session, settings: Settings) -> Factory:
    return Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))


@pytest.fixture
def services(settings: Settings, session_factory: sessionmaker[Session]) -> Services:
    return build_services(settings, session_factory=session_factory)


@pytest.fixture
def web_app(services: Services) -> FastAPI:
    """The application on the test's one connection, so without its background loops: their sessions would
    open and roll back savepoints on that connection from other threads beside the requests' and the test's,
    undoing what those had just released (a log-in's session row, say, hence a 401 on the next request).
    Tests of a loop run it themselves, or run the whole application on a database of its own (`own_db`).
    """
    return create_app(services=services, background=False)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app) as c:
        yield c


def login(client: TestClient, factory: Factory, user: User, session: Session) -> TestClient:
    """Log `user` in through the API (password, then TOTP code); the client then carries the CSRF header."""
    session.commit()  # make the factory's rows visible to the app's own sessions
    response = client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    if response.json()["mfa_step"] == "verify":
        verified = client.post("/api/v1/auth/mfa/verify", json={"code": factory.totp(user.username)})
        assert verified.status_code == 204, verified.text
    return client


@pytest.fixture
def login_as(web_app: FastAPI, factory: Factory, session: Session) -> Iterator[Callable[[User], TestClient]]:
    """Log a user in on a client of their own (each person has their own browser)."""
    clients: list[TestClient] = []

    def _login(user: User) -> TestClient:
        c = TestClient(web_app)
        clients.append(c)
        return login(c, factory, user, session)

    yield _login
    for c in clients:
        c.close()


# --- the whole application behind a real uvicorn ----------------------------------------------


@contextmanager
def serve_in_thread(
    app: FastAPI, *, lifespan: bool = True, slow_callback: float | None = None
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """`app` (lifespan and all, unless told) behind a real uvicorn on a free loopback port: URL and loop.

    With `slow_callback` (seconds), the server's loop runs in asyncio's debug mode, which logs every
    callback that holds the loop longer than that ("Executing ... took ... seconds", logger asyncio).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on" if lifespan else "off"))
    loop = asyncio.new_event_loop()
    if slow_callback is not None:
        loop.set_debug(True)
        loop.slow_callback_duration = slow_callback
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), within=30)
        assert server.started, "the test server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", loop
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()
        sock.close()


@dataclass
class LiveApp:
    """The whole application behind a real uvicorn, run on an event loop the test can reach."""

    base: str
    services: Services
    loop: asyncio.AbstractEventLoop

    def publish(self, subject: str, data: bytes, msg_id: str) -> None:
        """Publish on the app's bus from the test's thread, as the analytics pipeline would."""
        asyncio.run_coroutine_threadsafe(
            self.services.bus.publish(subject, data, msg_id=msg_id), self.loop
        ).result(5)


@contextmanager
def serve(
    settings: Settings, db_url: str, tmp_path: Path, *, slow_callback: float | None = None
) -> Iterator[LiveApp]:
    """The application on a database of its own, behind a real uvicorn on a free port."""
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        services = build_services(settings.model_copy(update={"database_url": SecretStr(url)}))
        with serve_in_thread(create_app(services=services), slow_callback=slow_callback) as (base, loop):
            yield LiveApp(base, services, loop)


# --- a real RTSP camera (GStreamer's RTSP server under Debian's python3) --------------------------

RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
# Real pedestrian CCTV footage from Debian's opencv-doc, 768x576 at 10 fps.
CCTV_FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def encode_cctv_clip(path: Path, *, width: int, height: int, fps: int, seconds: float) -> Path:
    """Re-encode `seconds` of real CCTV footage as H.264 MP4 at `width`x`height` and `fps` (re-timed)."""
    import av

    wanted = max(1, round(fps * seconds))
    with av.open(str(CCTV_FOOTAGE)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # A key frame every second, so a client joining mid-stream starts quickly; fast to encode.
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        written = 0
        while written < wanted:  # loop the footage when asked for more than it holds
            source.seek(0)
            for frame in source.decode(video=0):
                image = frame.reformat(width=width, height=height, format="yuv420p")
                image.pts = None
                out.mux(stream.encode(image))
                written += 1
                if written == wanted:
                    break
        out.mux(stream.encode(None))
    return path


# --- recorded cameras: real footage cut into a camera's indexed segments, as its recorder does -----------

FOOTAGE_FPS, FOOTAGE_GOP = 10, 10


def encode_footage(path: Path, frames: int) -> Path:
    """`frames` frames of real CCTV footage as H.264 MP4, 320x240 at 10 fps, a key frame every 10 frames
    exactly (segments and clips are cut on key frames).
    """
    import av

    if not CCTV_FOOTAGE.exists():
        missing_part(str(CCTV_FOOTAGE), "run `make test-deps` as root (apt-get install opencv-doc)")
    with av.open(str(CCTV_FOOTAGE)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FOOTAGE_FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "g": str(FOOTAGE_GOP),
            "keyint_min": str(FOOTAGE_GOP),
            "sc_threshold": "0",
        }
        for number, frame in enumerate(source.decode(video=0)):
            if number == frames:
                break
            image = frame.reformat(width=320, height=240, format="yuv420p")
            image.pts = None
            out.mux(stream.encode(image))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight seconds of a camera (80 frames of `encode_footage`)."""
    return encode_footage(tmp_path_factory.mktemp("footage") / "cctv.mp4", 80)


def add_camera(
    session: Session, district_id: uuid.UUID, retention_days: int = 30, name: str | None = None
) -> Camera:
    """A camera row as the registry would hold it."""
    camera = Camera(
        name=name or f"Cam {uuid.uuid4().hex[:6]}",
        district_id=district_id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://127.0.0.1/x",
        retention_days=retention_days,
    )
    session.add(camera)
    session.flush()
    return camera


def feed(
    sink: SegmentRecorder,
    source: Path,
    started_at: dt.datetime,
    *,
    skip: int = 0,
    limit: int | None = None,
    close: bool = True,
) -> None:
    """Play `source` into the recorder as one connection: packets `skip` to `limit`, then close it."""
    import av

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        sink.open(stream, started_at=started_at)
        for number, packet in enumerate(container.demux(stream)):
            if limit is not None and number >= limit:
                break
            if number >= skip:
                sink.write(packet)
        if close:
            sink.close()


def record(
    session: Session,
    camera: Camera,
    directory: Path,
    source: Path,
    started_at: dt.datetime,
    segment_seconds: float = 2,
    **feed_args: int,
) -> list[SegmentInfo]:
    """Record one connection of `camera` into `directory` and index its segments as the worker would."""
    from safecity.video import recorder

    infos: list[SegmentInfo] = []

    def on_segment(info: SegmentInfo) -> None:
        infos.append(info)
        recorder.index_segment(session=session, info=info)

    sink = recorder.SegmentRecorder(camera.id, directory, segment_seconds, on_segment)
    feed(sink, source, started_at, **feed_args)
    return infos


@dataclass
class RtspCamera:
    """A real RTSP server streaming H.264 at `url`; `stop()` cuts it, `start()` restarts it (same port)."""

    url: str
    port: int
    mount: str
    clip: Path
    user: str = ""
    password: str = ""
    process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it listens."""
        if self.process is not None and self.process.poll() is None:
            return
        args = [str(SYSTEM_PYTHON), str(RTSP_SERVER_SCRIPT), "--port", str(self.port), "--mount", self.mount]
        args += ["--file", str(self.clip)]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        # GStreamer's warnings go to a file: an unread pipe could fill up and stall the server.
        log = self.clip.with_name(f"{self.mount}-{self.port}.log")
        with log.open("a") as stderr:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert self.process.stdout is not None
        ready, _, _ = io_select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the RTSP server did not start: {line!r} {log.read_text()[-500:]}")

    def stop(self) -> None:
        """Stop the server (by its pid) and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def _rtsp_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rtsp-clips")


@pytest.fixture
def rtsp_camera(_rtsp_clips: Path) -> Iterator[Callable[..., RtspCamera]]:
    """Factory: `rtsp_camera(width=640, height=480, fps=10, seconds=4, user="", password="", clip=None)` ->
    started; `clip` serves an H.264 MP4 of the test's own instead of the CCTV footage.

    Clips are encoded once per session and shape; every server started is stopped after the test.
    """
    if not RTSP_SERVER_SCRIPT.exists() or not CCTV_FOOTAGE.exists() or not SYSTEM_PYTHON.exists():
        missing_part("GStreamer's RTSP server or the opencv-doc footage", "run `make test-deps` as root")
    cameras: list[RtspCamera] = []

    def _make(
        width: int = 640,
        height: int = 480,
        fps: int = 10,
        seconds: float = 4,
        user: str = "",
        password: str = "",
        clip: Path | None = None,
    ) -> RtspCamera:
        if clip is None:  # a clip of the test's own (H.264 MP4) or the CCTV footage
            clip = _rtsp_clips / f"cctv-{width}x{height}-{fps}fps-{seconds}s.mp4"
            if not clip.exists():
                encode_cctv_clip(clip, width=width, height=height, fps=fps, seconds=seconds)
        port, mount = _free_port(), f"cam{len(cameras)}"
        camera = RtspCamera(f"rtsp://127.0.0.1:{port}/{mount}", port, mount, clip, user, password)
        cameras.append(camera)
        camera.start()
        return camera

    yield _make
    for camera in cameras:
        camera.stop()


# --- Debian's chromium, driven by Playwright ------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
# Debian's build, never a Playwright download; no first-run, sync or update traffic in a test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
]


def fits_window(page: Page, *buttons: str) -> None:
    """Nothing scrolls sideways, and the named buttons (the first of each name) lie inside the window."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url}: {overflow} px wider than the window"
    width = page.viewport_size["width"] if page.viewport_size else 0
    for name in buttons:
        box = page.get_by_role("button", name=name, exact=True).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (name, box)


def log_in(page: Page, base: str, username: str, code: str) -> None:
    """Log in through the form, with the second factor."""
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a picture of a page for a person to look at, in the folder SAFECITY_SCREENSHOTS names (if set)."""
    if folder := os.environ.get("SAFECITY_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Debian's headless chromium launched through Playwright's sync API, closed after the test.

    Function scope: the sync API runs an event loop on this thread, which must not outlive the test
    (other tests run their own loops here). Pages come from `chromium.new_page()`, each with its own cookies.
    """
    if not CHROMIUM.exists():
        missing_part("Debian's chromium", "run `make test-deps` as root (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- real pictures for the analytics (detectors, rules, pipeline) ---------------------------------

DOG_JPG = Path("/usr/share/darknet/data/dog.jpg")  # Debian's darknet: a bicycle, a pickup truck, a dog


def _require_media(path: Path, package: str) -> Path:
    if not path.is_file():
        missing_part(str(path), f"run `make test-deps` as root (apt-get install {package})")
    return path


@pytest.fixture(scope="session")
def dog_image() -> np.ndarray:
    """darknet's dog.jpg as BGR."""
    image = cv2.imread(str(_require_media(DOG_JPG, "darknet")))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def motorcycle_image() -> np.ndarray:
    """scikit-image's stereo motorcycle (left view) as BGR."""
    from skimage import data

    left, _right, _disparity = data.stereo_motorcycle()
    return cv2.cvtColor(left, cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def pedestrian_frames() -> list[np.ndarray]:
    """Every 40th frame of vtest.avi (people walking in a square), as BGR."""
    capture = cv2.VideoCapture(str(_require_media(CCTV_FOOTAGE, "opencv-doc")))
    frames = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 40 == 0:
            frames.append(frame)
        index += 1
    capture.release()
    assert len(frames) >= 10
    return frames


@pytest.fixture(scope="session")
def empty_square(pedestrian_frames: list[np.ndarray]) -> np.ndarray:
    """vtest.avi's square with the people taken out (the median over the clip): a real, empty scene."""
    return np.median(np.stack(pedestrian_frames), axis=0).astype(np.uint8)


@pytest.fixture(scope="session")
def walker(pedestrian_frames: list[np.ndarray]) -> np.ndarray:
    """A real pedestrian cut out of vtest.avi (about 37x82 pixels, with the pavement around them)."""
    return pedestrian_frames[4][215:298, 492:530].copy()


@pytest.fixture(scope="session")
def pickup(dog_image: np.ndarray) -> np.ndarray:
    """The pickup truck of dog.jpg, cut out (225x93 pixels)."""
    return dog_image[77:170, 465:690].copy()
