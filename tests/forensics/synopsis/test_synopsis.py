"""Video synopsis over a real recording: three real objects crossing a real scene at three different
minutes come out together in a short video, each labelled with its time, with a heatmap of where they went.

The scene is synopsis_data's: recorded by the real recorder in 20 s segments, tracks stored as the
analytics would; the synopsis is rendered by the real renderer (PyAV decode, OpenCV, libx264).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from synopsis_data import HEIGHT, OBJECTS, SECONDS, SEGMENT_S, T0, WIDTH, encode, scene, store_tracks

from conftest import Factory, add_camera, record
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core import lanes
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.forensics.models import ObjectTrack
from safecity.forensics.synopsis import heatmap, service
from safecity.forensics.synopsis.models import Synopsis, SynopsisStatus
from safecity.forensics.synopsis.render import Tube, label_text, schedule
from safecity.org.models import District

UNTIL = T0 + dt.timedelta(seconds=SECONDS)
PURPOSE = "FIR 123/2026 theft at the market"


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three minutes of the scene, encoded once."""
    return encode(tmp_path_factory.mktemp("scene") / "scene.mp4")


@dataclass
class Scene:
    district: District
    camera: Camera
    tracks: list[ObjectTrack]


@pytest.fixture
def recorded(scene_video: Path, settings: Settings, session: Session, factory: Factory) -> Scene:
    district = factory.district()
    camera = add_camera(session, district.id)
    record(session, camera, settings.recordings_dir, scene_video, T0, SEGMENT_S)
    return Scene(district, camera, store_tracks(session, camera))


def _render(
    session: Session, session_factory: sessionmaker[Session], settings: Settings, job: Synopsis
) -> list[float]:
    session.commit()
    seen: list[float] = []
    service.run(
        session_factory=session_factory,
        synopsis_id=job.id,
        synopses_dir=settings.data_dir / "synopses",
        recordings_dir=settings.recordings_dir,
        progress=seen.append,
    )
    session.refresh(job)
    return seen


def _frames(file: Path) -> list[np.ndarray]:
    with av.open(str(file)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def test_three_objects_of_three_minutes_play_together_in_a_short_labelled_video(
    recorded: Scene,
    settings: Settings,
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    job = service.create(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        since=T0,
        until=UNTIL,
        purpose=PURPOSE,
    )
    assert job.status == SynopsisStatus.QUEUED
    seen = _render(session, session_factory, settings, job)

    assert job.status == SynopsisStatus.DONE, job.error
    assert seen[-1] == 1.0 and all(a <= b for a, b in itertools.pairwise(seen)) and len(seen) > 3
    assert job.objects == 3 and job.counts == {"car": 1, "cat": 1, "person": 1}
    assert job.duration_s < SECONDS / 10  # 8 s crossings shown at once: about 8 s for 180 s of video
    folder = settings.data_dir / "synopses" / str(job.id)
    frames = _frames(folder / "synopsis.mp4")
    assert len(frames) / 10 == pytest.approx(job.duration_s, abs=0.2)
    assert frames[0].shape == (HEIGHT, WIDTH, 3)

    index = json.loads((folder / "index.json").read_text())
    # Some window shows all three objects at once, each labelled with its own original time.
    together = [w for w in index["windows"] if len(w) == 3]
    assert together
    window = together[len(together) // 2]
    assert sorted(o["class_name"] for o in window) == ["car", "cat", "person"]
    for thing in window:
        moment = dt.datetime.fromisoformat(thing["at"])
        first = next(t.first_seen for t in recorded.tracks if str(t.id) == thing["track_id"])
        assert first <= moment <= first + dt.timedelta(seconds=8)
        assert thing["label"] == label_text(moment, thing["class_name"])
        assert thing["url"].startswith(f"/cameras/{recorded.camera.id}?at=")
    minutes = {dt.datetime.fromisoformat(o["at"]).minute for o in window}
    assert minutes == {0, 1, 2}  # seen at three different minutes, shown together

    # In the frame of that window each object's pixels differ from the empty scene; outside them not.
    number = round((together.index(window) + 0.5) * index["window_s"] * index["fps"])
    number = min(number, len(frames) - 1)
    slot = int(number / index["fps"] / index["window_s"])
    empty = scene().astype(np.int16)
    frame = frames[number].astype(np.int16)
    for thing in index["windows"][slot]:
        x1, y1, x2, y2 = thing["box"]
        inner = (
            slice(int(y1 * HEIGHT) + 6, int(y2 * HEIGHT) - 4),
            slice(int(x1 * WIDTH) + 4, int(x2 * WIDTH) - 4),
        )
        assert np.abs(frame[inner] - empty[inner]).mean() > 25, thing["class_name"]
    assert np.abs(frame[:, -20:] - empty[:, -20:]).mean() < 12 or number < 5

    heat = cv2.imread(str(folder / "heatmap.png"))
    assert heat is not None and heat.shape == (HEIGHT, WIDTH, 3)


def test_the_heatmap_is_hottest_where_objects_moved(recorded: Scene) -> None:
    heat = heatmap.accumulate([(t.class_name, t.path) for t in recorded.tracks], aspect=HEIGHT / WIDTH)
    x, y = heat.hottest
    bands = [(top / HEIGHT, (top + 52) / HEIGHT) for _c, _f, top in OBJECTS]
    assert any(a <= y <= b for a, b in bands) and 0.03 < x < 0.97
    assert heat.grid[-1].sum() == 0  # nothing moved along the bottom edge
    picture = cv2.imdecode(np.frombuffer(heatmap.overlay(heat, scene()), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (HEIGHT, WIDTH, 3)
    changed = np.abs(picture.astype(np.int16) - scene().astype(np.int16)).sum(axis=2)
    band = int((bands[0][0] + bands[0][1]) / 2 * HEIGHT)
    assert changed[band].mean() > changed[HEIGHT - 3].mean() + 20


def test_a_class_filter_leaves_the_other_objects_out(
    recorded: Scene,
    settings: Settings,
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    job = service.create(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        since=T0,
        until=UNTIL,
        classes=["Cat"],
        purpose=PURPOSE,
    )
    _render(session, session_factory, settings, job)
    assert job.status == SynopsisStatus.DONE and job.objects == 1 and job.counts == {"cat": 1}


def test_who_may_ask_and_what_periods(recorded: Scene, session: Session, factory: Factory) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    elsewhere = factory.principal(factory.user("investigator", districts=[factory.district()]))
    operator = factory.principal(factory.user("operator", districts=[recorded.district]))
    args = {"session": session, "camera_id": recorded.camera.id, "purpose": PURPOSE}
    with pytest.raises(NotFound):
        service.create(principal=elsewhere, since=T0, until=UNTIL, **args)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        service.create(principal=operator, since=T0, until=UNTIL, **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at most"):
        service.create(principal=investigator, since=T0, until=T0 + dt.timedelta(days=2), **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="after its start"):
        service.create(principal=investigator, since=UNTIL, until=T0, **args)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no recordings"):
        service.create(
            principal=investigator,
            since=T0 - dt.timedelta(hours=3),
            until=T0 - dt.timedelta(hours=2),
            **args,  # type: ignore[arg-type]
        )
    job = service.create(principal=investigator, since=T0, until=UNTIL, **args)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.get(session=session, principal=elsewhere, synopsis_id=job.id)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "forensics.synopsis.create")).one()
    assert entry.purpose == PURPOSE and entry.object_id == str(job.id)


def test_jobs_left_unfinished_by_a_restart_are_marked_failed(
    recorded: Scene, session: Session, factory: Factory
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    job = service.create(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        since=T0,
        until=UNTIL,
        purpose=PURPOSE,
    )
    job.status, job.runner = SynopsisStatus.RENDERING, f"{lanes.runner_name().split(':')[0]}:999999999"
    assert service.fail_abandoned(session=session) == 1
    assert job.status == SynopsisStatus.FAILED and "restarted" in (job.error or "")


def _tube(first_s: float, y: float, *, seconds: float = 4.0, size: float = 0.1) -> Tube:
    """An object crossing the picture left to right at height y over `seconds`."""
    path = [
        [k / 2, 0.9 * k / 2 / seconds, y, 0.9 * k / 2 / seconds + size, y + size]
        for k in range(int(seconds * 2) + 1)
    ]
    first = T0 + dt.timedelta(seconds=first_s)
    return Tube(uuid.uuid4(), "person", first, first + dt.timedelta(seconds=seconds), path)


def test_objects_apart_in_the_picture_play_at_once_and_those_on_the_same_path_one_after_another() -> None:
    apart = [_tube(60.0 * n, 0.1 * n) for n in range(8)]  # eight minutes, eight lanes
    assert [p.start for p in schedule(apart)] == [0.0] * 8

    same = schedule([_tube(60.0 * n, 0.5) for n in range(4)])  # the same lane each time
    starts = sorted(p.start for p in same)
    assert starts[0] == 0.0 and all(b > a for a, b in itertools.pairwise(starts))
    for a, b in itertools.combinations(same, 2):  # never two in the same place at the same moment
        for t in np.arange(0, 12, 0.5):
            if a.start <= t < a.start + a.length and b.start <= t < b.start + b.length:
                box_a, box_b = a.tube.box_at(a.source_offset(t)), b.tube.box_at(b.source_offset(t))
                assert min(box_a[2], box_b[2]) - max(box_a[0], box_b[0]) < 0.05

    crowded = schedule([_tube(60.0 * n, 0.06 * n, size=0.05) for n in range(15)], max_together=12)
    assert sorted(p.start for p in crowded)[:12] == [0.0] * 12 and min(p.start for p in crowded[12:]) > 0


def test_a_long_stay_is_time_lapsed_into_the_synopsis() -> None:
    (placed,) = schedule([_tube(0.0, 0.2, seconds=600.0)])
    assert placed.speed == pytest.approx(30.0) and placed.length == pytest.approx(20.0)


def test_a_job_whose_recordings_are_gone_fails_with_the_reason(
    recorded: Scene,
    settings: Settings,
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    job = service.create(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        since=T0,
        until=UNTIL,
        purpose=PURPOSE,
    )
    for file in settings.recordings_dir.rglob("*.mp4"):
        file.unlink()
    _render(session, session_factory, settings, job)
    assert job.status == SynopsisStatus.FAILED and "gone from the disk" in (job.error or "")
    assert not (settings.data_dir / "synopses" / str(job.id)).exists()


def test_a_job_silent_for_too_long_is_marked_failed_when_looked_at(
    recorded: Scene, session: Session, factory: Factory
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    job = service.create(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        since=T0,
        until=UNTIL,
        purpose=PURPOSE,
    )
    job.status, job.progress = SynopsisStatus.RENDERING, 0.4
    job.heartbeat = dt.datetime.now(dt.UTC) - lanes.STALE + dt.timedelta(seconds=30)
    assert (
        service.get(session=session, principal=investigator, synopsis_id=job.id).status
        == SynopsisStatus.RENDERING
    )
    job.heartbeat = dt.datetime.now(dt.UTC) - lanes.STALE - dt.timedelta(seconds=30)
    seen = service.get(session=session, principal=investigator, synopsis_id=job.id)
    assert seen.status == SynopsisStatus.FAILED and "went away" in (seen.error or "")


def _job(
    session: Session, factory: Factory, scene: Scene, role: str = "investigator"
) -> tuple[Synopsis, Principal]:
    asker = factory.principal(factory.user(role, districts=[scene.district]))
    job = service.create(
        session=session, principal=asker, camera_id=scene.camera.id, since=T0, until=UNTIL, purpose=PURPOSE
    )
    return job, asker


def test_cancelled_while_rendering_it_stops_and_leaves_no_files(
    recorded: Scene,
    settings: Settings,
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
) -> None:
    job, asker = _job(session, factory, recorded)
    out_dir = settings.synopses_dir / str(job.id)
    seen: list[float] = []

    def cancel_once_under_way(fraction: float) -> None:
        seen.append(fraction)
        if fraction > 0.1 and len(seen) == 3:  # the background is made, objects are being cut out
            assert out_dir.is_dir()
            with session_factory() as other:
                service.cancel(session=other, principal=asker, synopsis_id=job.id)
                other.commit()

    session.commit()
    service.run(
        session_factory=session_factory,
        synopsis_id=job.id,
        synopses_dir=settings.synopses_dir,
        recordings_dir=settings.recordings_dir,
        progress=cancel_once_under_way,
    )
    session.refresh(job)
    assert len(seen) >= 3 and seen[-1] < 1.0  # it stopped before the end
    assert job.status == SynopsisStatus.CANCELLED and job.video_path is None and job.finished_at is not None
    assert not out_dir.exists()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "forensics.synopsis.cancel")).one()
    assert entry.object_id == str(job.id) and entry.purpose == PURPOSE
    with pytest.raises(Conflict):  # once is enough
        service.cancel(session=session, principal=asker, synopsis_id=job.id)


def test_only_who_asked_or_a_supervisor_of_the_district_may_cancel(
    recorded: Scene, session: Session, factory: Factory
) -> None:
    job, _ = _job(session, factory, recorded)
    colleague = factory.principal(factory.user("investigator", districts=[recorded.district]))
    elsewhere = factory.principal(factory.user("supervisor", districts=[factory.district()]))
    operator = factory.principal(factory.user("operator", districts=[recorded.district]))
    with pytest.raises(PermissionDenied, match="who asked"):
        service.cancel(session=session, principal=colleague, synopsis_id=job.id)
    with pytest.raises(NotFound):
        service.cancel(session=session, principal=elsewhere, synopsis_id=job.id)
    with pytest.raises(PermissionDenied):
        service.cancel(session=session, principal=operator, synopsis_id=job.id)
    assert job.status == SynopsisStatus.QUEUED
    supervisor = factory.principal(factory.user("supervisor", districts=[recorded.district]))
    assert service.cancel(session=session, principal=supervisor, synopsis_id=job.id).status == (
        SynopsisStatus.CANCELLED
    )


def test_finished_synopses_past_their_retention_go_with_their_folders(
    recorded: Scene,
    settings: Settings,
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = dt.datetime.now(dt.UTC)
    days = settings.forensics.synopsis_retention_days
    jobs: dict[str, Synopsis] = {}
    for name, status, age in (
        ("done", SynopsisStatus.DONE, days + 1),
        ("failed", SynopsisStatus.FAILED, days + 2),
        ("cancelled", SynopsisStatus.CANCELLED, days + 3),
        ("rendering", SynopsisStatus.RENDERING, days + 1),  # its renderer owns it until it ends
        ("recent", SynopsisStatus.DONE, days - 1),
    ):
        job, _ = _job(session, factory, recorded)
        job.status, job.created_at = status, now - dt.timedelta(days=age)
        (settings.synopses_dir / str(job.id)).mkdir(parents=True)
        (settings.synopses_dir / str(job.id) / "synopsis.mp4").write_bytes(b"video")
        jobs[name] = job
    session.commit()
    monkeypatch.setattr(service, "PURGE_BATCH", 2)

    deleted = service.purge(
        session_factory=session_factory, synopses_dir=settings.synopses_dir, retention_days=days, now=now
    )

    assert deleted == 3
    session.expire_all()
    left = set(session.scalars(select(Synopsis.id)))
    assert left == {jobs["rendering"].id, jobs["recent"].id}
    assert {p.name for p in settings.synopses_dir.iterdir()} == {str(i) for i in left}
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "forensics.synopsis.retention")
    ).one()
    assert entry.detail["deleted"] == 3
