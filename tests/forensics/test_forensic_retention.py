"""Objects the cameras followed are kept `forensics.track_retention_days`, then deleted with their best
views, batch by batch, except those a case refers to (evidence outlives the retention)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.cameras.models import Camera
from safecity.config import ForensicsSettings, Settings
from safecity.evidence import service as evidence
from safecity.evidence.models import ItemKind
from safecity.evidence.schemas import CaseIn, ItemIn
from safecity.forensics import service as forensics
from safecity.forensics.models import ObjectTrack
from safecity.forensics.schemas import TrackIn

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _camera(session: Session, district_id: uuid.UUID, name: str) -> Camera:
    camera = Camera(name=name, district_id=district_id, latitude=34.0, longitude=71.5, stream_url="")
    session.add(camera)
    session.flush()
    return camera


def _track(session: Session, camera: Camera, at: dt.datetime, snapshots_dir: Path) -> tuple[uuid.UUID, Path]:
    """A stored object first seen at `at`, with its best view written where the analytics write it."""
    track_id = uuid.uuid4()
    relative = forensics.snapshot_path(camera.id, track_id, at)
    picture = snapshots_dir / relative
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_bytes(b"\xff\xd8 a best view \xff\xd9")
    forensics.record_tracks(
        session=session,
        tracks=[
            TrackIn(
                id=track_id,
                camera_id=camera.id,
                district_id=camera.district_id,
                track_id=1,
                class_name="car",
                colour="red",
                colour_share=0.9,
                first_seen=at,
                last_seen=at + dt.timedelta(seconds=3),
                direction="right",
                path=[(0.0, 0.1, 0.1, 0.2, 0.2)],
                frame_width=640,
                frame_height=480,
                snapshot=relative,
            )
        ],
    )
    return track_id, picture


def test_objects_past_their_retention_go_with_their_pictures_but_those_of_a_case_stay(
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    district = factory.district()
    gate, market = _camera(session, district.id, "Gate"), _camera(session, district.id, "Market")
    days = settings.forensics.track_retention_days
    old = NOW - dt.timedelta(days=days + 1)
    expired = [
        _track(session, camera, old + dt.timedelta(minutes=n), settings.snapshots_dir)
        for camera in (gate, market)
        for n in range(3)
    ]
    in_case, in_case_picture = _track(session, gate, old, settings.snapshots_dir)
    recent, recent_picture = _track(
        session, market, NOW - dt.timedelta(days=days - 1), settings.snapshots_dir
    )
    outside = settings.data_dir / "precious.jpg"
    outside.write_bytes(b"not an object's")
    named_outside, _ = _track(session, gate, old, settings.snapshots_dir)
    session.get_one(ObjectTrack, named_outside).snapshot = "../precious.jpg"
    investigator = factory.principal(factory.user("investigator", districts=[district]))
    case = evidence.create_case(session=session, principal=investigator, data=CaseIn(title="Bank robbery"))
    evidence.add_item(
        session=session,
        principal=investigator,
        case_id=case.id,
        data=ItemIn(kind=ItemKind.OBJECT_TRACK, ref_id=in_case, reason="the getaway car"),
    )
    session.commit()
    monkeypatch.setattr(forensics, "PURGE_BATCH", 2)  # several batches, across both cameras

    deleted = forensics.purge(
        session_factory=session_factory, snapshots_dir=settings.snapshots_dir, retention_days=days, now=NOW
    )

    assert deleted == 7
    session.expire_all()
    assert set(session.scalars(select(ObjectTrack.id))) == {in_case, recent}
    assert not any(picture.exists() for _, picture in expired)
    assert in_case_picture.exists() and recent_picture.exists() and outside.exists()
    # The market's pictures of that day all went, and so did their folder; the case keeps the gate's.
    assert not expired[-1][1].parent.exists() and expired[-1][1].parent.parent.exists()
    assert in_case_picture.parent == expired[0][1].parent and in_case_picture.parent.exists()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "forensics.retention").order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None and entry.detail["deleted"] == 7 and entry.detail["days"] == days
    # Nothing left to delete: no pass, no audit entry.
    assert (
        forensics.purge(
            session_factory=session_factory,
            snapshots_dir=settings.snapshots_dir,
            retention_days=days,
            now=NOW,
        )
        == 0
    )


def test_the_retention_is_bounded() -> None:
    assert ForensicsSettings().track_retention_days == 30 and ForensicsSettings().synopsis_retention_days == 7
    for bad in ({"track_retention_days": 0}, {"track_retention_days": 3651}, {"synopsis_retention_days": 0}):
        with pytest.raises(ValidationError):
            ForensicsSettings.model_validate(bad)


def test_cli_purge_uses_the_configured_retention(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safecity.cli import app

    url, make_session = own_db
    now = dt.datetime.now(dt.UTC)
    with make_session() as session:
        camera = _camera(session, Factory(session, None).district().id, "Gate")
        _, old_picture = _track(session, camera, now - dt.timedelta(days=10), settings.snapshots_dir)
        kept, _ = _track(session, camera, now - dt.timedelta(days=2), settings.snapshots_dir)
        session.commit()
    monkeypatch.setenv("SAFECITY_DATABASE_URL", url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("SAFECITY_FORENSICS__TRACK_RETENTION_DAYS", "7")
    result = CliRunner().invoke(app, ["forensics", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 objects" in result.output and "0 synopses" in result.output
    with make_session() as session:
        assert set(session.scalars(select(ObjectTrack.id))) == {kept}
    assert not old_picture.exists()
