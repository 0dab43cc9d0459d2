"""Replaying a camera's stored rules over video: the CLI on a file (JSON lines), the page on recordings."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
import uuid
from contextlib import closing
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import CCTV_FOOTAGE, Factory, audit_info, encode_cctv_clip, login
from safecity.analytics import replay as replays
from safecity.analytics import service as analytics
from safecity.analytics.models import AnalyticsReplay
from safecity.analytics.schemas import rule_adapter
from safecity.app import create_app
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.cli import app
from safecity.config import Settings
from safecity.core import lanes
from safecity.core.crypto import SecretBox
from safecity.core.db import create_db_engine, create_session_factory, utcnow
from safecity.events.models import Event
from safecity.org import service as org
from safecity.runtime import build_services
from safecity.video import recorder

pytestmark = pytest.mark.skipif(not CCTV_FOOTAGE.exists(), reason="opencv-doc's vtest.avi is not installed")

runner = CliRunner()
DRAWER = Principal(None, "test", frozenset({"cameras.read", "analytics.manage"}), None, via="system")
# vtest.avi's pedestrians walk across the square, left and right, through the middle of the picture.
RULES = [
    {"kind": "counting_line", "name": "Walkers", "classes": ["person"], "line": [[0.5, 0.3], [0.5, 0.98]]},
    {"kind": "line_crossing", "name": "Crossing", "line": [[0.5, 0.3], [0.5, 0.98]]},
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_cctv_clip(
        tmp_path_factory.mktemp("clip") / "square.mp4", width=768, height=576, fps=10, seconds=30
    )


@pytest.fixture
def camera_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    url = f"sqlite:///{tmp_path / 'safecity.db'}"
    monkeypatch.setenv("SAFECITY_DATABASE_URL", url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    engine = create_db_engine(url)
    with create_session_factory(engine, info=audit_info(Settings()))() as session:
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = Camera(name="Square", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
        session.add(camera)
        session.flush()
        for rule in RULES:
            config = rule_adapter.validate_python(rule)
            analytics.create_rule(session=session, principal=DRAWER, camera_id=camera.id, config=config)
        session.commit()
        found = camera.id
    engine.dispose()
    return found


def test_replay_prints_each_event_as_a_json_line_and_stores_nothing(clip: Path, camera_id: uuid.UUID) -> None:
    result = runner.invoke(
        app, ["analytics", "replay", str(clip), "--camera", str(camera_id), "--speed", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    counted = [e for e in lines if e["kind"] == "counting_line"]
    crossed = [e for e in lines if e["kind"] == "line_crossing"]
    assert counted and crossed
    for event in counted:
        assert event["rule"] == "Walkers" and event["class"] == "person"
        assert event["direction"] in {"left_to_right", "right_to_left"}
        assert 0 <= event["offset_s"] <= 30
    # Each track counted once per direction; the totals grow by one per crossing.
    assert len({(e["track_id"], e["direction"]) for e in counted}) == len(counted)
    last = counted[-1]["counts"]
    assert sum(n for by_class in last.values() for n in by_class.values()) == len(counted)
    # The same line as an event rule fires for the same tracks (every walker: the cool-down is per track).
    assert {e["track_id"] for e in crossed} == {e["track_id"] for e in counted}
    engine = create_db_engine(os.environ["SAFECITY_DATABASE_URL"])
    with create_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    engine.dispose()


def test_replay_refuses_what_is_not_video_and_unknown_cameras(tmp_path: Path, camera_id: uuid.UUID) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    result = runner.invoke(app, ["analytics", "replay", str(fake), "--camera", str(camera_id), "--json"])
    assert result.exit_code == 1
    assert "not a video" in result.stderr and not result.stdout.strip()
    missing = runner.invoke(
        app, ["analytics", "replay", str(tmp_path / "none.mp4"), "--camera", str(camera_id)]
    )
    assert missing.exit_code == 1 and "not a video" in missing.stderr
    unknown = runner.invoke(app, ["analytics", "replay", str(fake), "--camera", str(uuid.uuid4())])
    assert unknown.exit_code == 1 and "no camera" in unknown.stderr


def _wait_done(client: TestClient, url: str) -> str:
    deadline = time.monotonic() + 120
    while 'data-state="done"' not in (view := client.get(url).text):
        assert time.monotonic() < deadline, view
        time.sleep(0.5)
    return view


def test_a_replay_started_on_one_web_node_is_followed_and_cancelled_on_another(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, clip: Path
) -> None:
    """Two web nodes on one database, one browser behind a load balancer: the replay lives on its row."""
    _, session_factory = own_db
    with session_factory() as session:
        factory = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))
        district = factory.district()
        camera = Camera(name="Square", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
        session.add(camera)
        session.flush()
        for rule in RULES:
            config = rule_adapter.validate_python(rule)
            analytics.create_rule(session=session, principal=DRAWER, camera_id=camera.id, config=config)
        # A recorded segment of the camera: the square's footage, ten minutes ago.
        relative = f"{camera.id}/segment.mp4"
        (settings.recordings_dir / str(camera.id)).mkdir(parents=True)
        shutil.copy(clip, settings.recordings_dir / relative)
        start = (utcnow() - dt.timedelta(minutes=10)).replace(microsecond=0)
        recorder.index_segment(
            session=session,
            info=recorder.SegmentInfo(
                camera.id, start, start + dt.timedelta(seconds=30), relative, 1, "0" * 64, 0
            ),
        )
        user = factory.user("supervisor", districts=[district])
        stranger = factory.user("supervisor", districts=[district])
        session.commit()
        nodes = [
            create_app(services=build_services(settings, session_factory=session_factory), background=False)
            for _ in range(2)
        ]
        # Another person on node b: a client beside b's own (whose context runs the node's lifespan).
        with TestClient(nodes[0]) as a, TestClient(nodes[1]) as b, closing(TestClient(nodes[1])) as other:
            login(a, factory, user, session)
            b.cookies.update(a.cookies)  # the same browser, its requests spread over both nodes
            b.headers["X-CSRF-Token"] = a.headers["X-CSRF-Token"]
            login(other, factory, stranger, session)
            assert 'data-testid="replay-card"' in b.get(f"/cameras/{camera.id}/analytics").text

            local = ZoneInfo(settings.timezone)
            form = {
                "since": start.astimezone(local).strftime("%Y-%m-%dT%H:%M:%S"),
                "until": (start + dt.timedelta(seconds=20)).astimezone(local).strftime("%Y-%m-%dT%H:%M:%S"),
            }
            # Longer than five minutes is refused, as is a second replay while one runs, on either node.
            too_long = {
                **form,
                "until": (start + dt.timedelta(minutes=6)).astimezone(local).strftime("%Y-%m-%dT%H:%M"),
            }
            refused = a.post(f"/cameras/{camera.id}/analytics/replay", data=too_long)
            assert "at most" in refused.text and refused.headers["HX-Retarget"] == "#flash"
            started = a.post(f"/cameras/{camera.id}/analytics/replay", data=form)
            assert started.status_code == 200, started.text
            first = re.search(r'hx-get="([^"]+)"', started.text)
            assert first is not None
            assert "replay running" in b.post(f"/cameras/{camera.id}/analytics/replay", data=form).text
            # Someone else cannot read it or cancel it; its owner cancels it through the other node.
            assert other.get(first.group(1)).status_code == 404
            assert other.post(f"{first.group(1)}/cancel").status_code == 404
            assert "Replaying" in b.get(first.group(1)).text
            assert 'data-state="done"' in b.post(f"{first.group(1)}/cancel").text
            assert "Cancelled after" in _wait_done(a, first.group(1))

            again = a.post(f"/cameras/{camera.id}/analytics/replay", data=form)
            second = re.search(r'hx-get="([^"]+)"', again.text)
            assert second is not None, again.text
            view = _wait_done(b, second.group(1))
            assert "Replay failed" not in view and "Done: " in view
            rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", view)
            assert {kind for _, _, kind in rows} == {"counting_line", "line_crossing"}
            assert 'data-testid="replay-counts">Walkers: ' in view and " person" in view
            assert a.get(second.group(1)).text == view

        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "video.playback", AuditEntry.object_id == str(camera.id)
            )
        ).all()
        assert [e.detail["view"] for e in entries] == ["analytics_replay"] * 2
        assert (
            session.scalar(select(func.count()).select_from(Event).where(Event.camera_id == camera.id)) == 0
        )


def test_replays_whose_process_went_away_are_marked_failed_and_only_their_owner_sees_them(
    factory: Factory, session: Session, session_factory: sessionmaker[Session]
) -> None:
    district = factory.district()
    camera = Camera(name="Square", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
    session.add(camera)
    owner, stranger = factory.user("supervisor"), factory.user("supervisor")
    now = utcnow()
    host = lanes.runner_name().split(":")[0]

    def running(runner: str, heartbeat: dt.datetime) -> AnalyticsReplay:
        job = AnalyticsReplay(
            camera_id=camera.id, user_id=owner.id, since=now, until=now, runner=runner, heartbeat=heartbeat
        )
        session.add(job)
        return job

    restarted = running(f"{host}:999999999", now)  # this host's earlier process, gone: its lane with it
    beside = running(f"{host}:{os.getppid()}", now)  # another process of this host, still running
    elsewhere = running("other-node:7", now)  # another node's, still writing progress
    silent = running("other-node:8", now - lanes.STALE - dt.timedelta(minutes=1))
    session.commit()

    assert replays.fail_abandoned(session_factory) == 2
    session.expire_all()
    assert [restarted.status, beside.status, elsewhere.status, silent.status] == [
        "failed",
        "running",
        "running",
        "failed",
    ]
    assert restarted.error == "the web process stopped before it finished"
    # Polled after the other node went silent, its replay is marked failed too; only its owner sees it.
    elsewhere.heartbeat = now - lanes.STALE - dt.timedelta(minutes=1)
    assert replays.get_job(session=session, job_id=elsewhere.id, user_id=stranger.id) is None
    seen = replays.get_job(session=session, job_id=elsewhere.id, user_id=owner.id)
    assert seen is not None and seen.status == "failed" and seen.done
