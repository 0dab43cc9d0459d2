"""Replaying a camera's stored rules over video: the CLI on a file (JSON lines), the page on recordings."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from conftest import CCTV_FOOTAGE, encode_cctv_clip
from safecity.analytics import service as analytics
from safecity.analytics.schemas import rule_adapter
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.cli import app
from safecity.core.db import create_db_engine, create_session_factory
from safecity.events.models import Event
from safecity.org import service as org

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
    with create_session_factory(engine)() as session:
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
