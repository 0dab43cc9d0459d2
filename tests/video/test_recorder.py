"""The recorder cuts a camera's packets into playable fMP4 segments; index, retention and reconcile keep them.

The camera is real CCTV footage (opencv-doc's vtest.avi) encoded to H.264 at 320x240, 10 fps, a key frame
every 10 frames, demuxed and handed to the recorder packet by packet as the ingest worker does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import uuid
from pathlib import Path

import av
import av.video.stream
import numpy as np
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from conftest import FOOTAGE_FPS, FOOTAGE_GOP, Factory, add_camera, feed, record
from safecity.audit.models import AuditEntry
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.video import recorder, retention
from safecity.video.models import Recording
from safecity.video.recorder import SegmentInfo, SegmentRecorder

T0 = dt.datetime(2025, 11, 22, 5, 0, 0, tzinfo=dt.UTC)


def decode(file: Path) -> list[av.VideoFrame]:
    with av.open(str(file)) as container:
        return list(container.decode(video=0))


def sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


# --- the recorder ---------------------------------------------------------------------------------


def test_segments_have_the_configured_length_start_on_a_key_frame_and_play(
    footage: Path, tmp_path: Path
) -> None:
    infos: list[SegmentInfo] = []
    camera_id = uuid.uuid4()
    feed(SegmentRecorder(camera_id, tmp_path, 2, infos.append), footage, T0)

    assert [(i.start - T0).total_seconds() for i in infos] == [0, 2, 4, 6]
    assert all(i.end - i.start == dt.timedelta(seconds=2) for i in infos)
    for info in infos:
        file = tmp_path / info.path
        assert info.path == f"{camera_id}/2025/11/22/{info.start:%Y%m%dT%H%M%S.%fZ}.mp4"
        assert info.bytes == file.stat().st_size and info.sha256 == sha256(file)
        frames = decode(file)
        assert len(frames) == 20 and frames[0].key_frame
        assert file.read_bytes()[info.init_bytes + 4 : info.init_bytes + 8] == b"moof"


def test_packets_before_the_first_key_frame_are_dropped(footage: Path, tmp_path: Path) -> None:
    infos: list[SegmentInfo] = []
    sink = SegmentRecorder(uuid.uuid4(), tmp_path, 2, infos.append)
    feed(sink, footage, T0, skip=5, limit=40)  # joins mid-GOP: the stream's first packet is at T0

    assert sink.dropped == 5
    assert infos[0].start == T0 + dt.timedelta(seconds=0.5)  # the first key frame, 5 frames later
    assert decode(tmp_path / infos[0].path)[0].key_frame


def test_recording_stops_at_the_next_key_frame_while_it_is_not_allowed(footage: Path, tmp_path: Path) -> None:
    infos: list[SegmentInfo] = []
    disk_full = False
    sink = SegmentRecorder(uuid.uuid4(), tmp_path, 2, infos.append, allowed=lambda: not disk_full)
    with av.open(str(footage)) as container:
        stream = container.streams.video[0]
        sink.open(stream, started_at=T0)
        for number, packet in enumerate(container.demux(stream)):
            disk_full = 30 <= number < 60  # retention reports that recording must stop, then room again
            sink.write(packet)
        sink.close()
    # The segment under way when recording had to stop (2-4 s) is finished; 4-6 s is not recorded.
    assert [((i.start - T0).total_seconds(), (i.end - T0).total_seconds()) for i in infos] == [
        (0, 2),
        (2, 4),
        (6, 8),
    ]
    assert len(list(tmp_path.rglob("*.mp4"))) == 3


def test_a_segment_cut_short_by_a_crash_plays_up_to_its_last_complete_fragment(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    camera = add_camera(session, factory.district().id)
    infos: list[SegmentInfo] = []
    sink = SegmentRecorder(camera.id, tmp_path / "live", 10, infos.append)
    feed(sink, footage, T0, limit=35, close=False)  # the process dies with 5 frames not yet flushed
    written = next((tmp_path / "live").rglob("*.mp4"))
    crashed = tmp_path / "crashed" / written.relative_to(tmp_path / "live")
    crashed.parent.mkdir(parents=True)
    shutil.copyfile(written, crashed)
    sink.close()
    assert infos, "closing still finishes the segment"

    assert len(decode(crashed)) == 30  # three whole fragments (one per GOP) reached the disk
    # A write torn in the middle of the third fragment: the first two still play.
    with crashed.open("r+b") as f:
        f.truncate(crashed.stat().st_size - 500)
    with av.open(str(crashed)) as container:
        played = 0
        with pytest.raises(av.FFmpegError):
            for _ in container.decode(video=0):
                played += 1
    assert played >= 20

    # At the next start, reconcile trims the torn fragment and indexes what is whole.
    report = retention.reconcile(session=session, recordings_dir=tmp_path / "crashed", grace_seconds=0)
    relative = crashed.relative_to(tmp_path / "crashed").as_posix()
    assert report.indexed == [relative] and report.repaired == [relative]
    row = session.scalars(select(Recording).where(Recording.path == relative)).one()
    assert row.start == T0 and row.end == T0 + dt.timedelta(seconds=2)
    assert row.sha256 == sha256(crashed) and len(decode(crashed)) == 20


# --- the index and evidence locks -----------------------------------------------------------------


def test_the_index_holds_each_segment_and_an_outage_shows_as_a_gap(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = add_camera(session, district.id)
    first = record(session, camera, tmp_path, footage, T0, limit=40)
    # The camera drops out; the ingest reconnects 5 s (wall clock) after the last frame.
    second = record(session, camera, tmp_path, footage, first[-1].end + dt.timedelta(seconds=5), limit=40)

    rows = session.scalars(
        select(Recording).where(Recording.camera_id == camera.id).order_by(Recording.start)
    )
    assert [(r.start, r.end, r.path, r.bytes, r.sha256) for r in rows] == [
        (i.start, i.end, i.path, i.bytes, i.sha256) for i in first + second
    ]
    operator = factory.principal(factory.user("operator", districts=[district]))
    spans = recorder.timeline(
        session=session,
        principal=operator,
        camera_id=camera.id,
        since=T0 - dt.timedelta(minutes=1),
        until=T0 + dt.timedelta(minutes=1),
    )
    assert [s.kind for s in spans] == ["gap", "recorded", "gap", "recorded", "gap"]
    outage = spans[2]
    assert abs((outage.end - outage.start).total_seconds() - 5) <= 2
    assert spans[1].start == T0 and spans[1].end == first[-1].end  # two segments, one span


def test_timeline_is_scoped_to_the_principals_districts(
    tmp_path: Path, session: Session, factory: Factory
) -> None:
    camera = add_camera(session, factory.district().id)
    elsewhere = factory.principal(factory.user("operator", districts=[factory.district()]))
    dispatcher = factory.principal(factory.user("dispatcher"))
    window = {"since": T0, "until": T0 + dt.timedelta(hours=1)}
    with pytest.raises(NotFound):
        recorder.timeline(session=session, principal=elsewhere, camera_id=camera.id, **window)
    with pytest.raises(PermissionDenied):
        recorder.timeline(session=session, principal=dispatcher, camera_id=camera.id, **window)


def test_evidence_lock_needs_video_export_and_is_audited(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = add_camera(session, district.id)
    infos = record(session, camera, tmp_path, footage, T0, limit=40)
    investigator = factory.user("investigator", districts=[district])
    principal = factory.principal(investigator)
    window = {"since": T0 + dt.timedelta(seconds=1), "until": T0 + dt.timedelta(seconds=3)}

    with pytest.raises(PermissionDenied):
        recorder.lock(
            session=session,
            principal=factory.principal(factory.user("operator", districts=[district])),
            camera_id=camera.id,
            reason="FIR 12/2026",
            **window,
        )
    with pytest.raises(InvalidInput):
        recorder.lock(
            session=session,
            principal=principal,
            camera_id=camera.id,
            reason="FIR 12/2026",
            since=T0,
            until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )
    assert (
        recorder.lock(
            session=session, principal=principal, camera_id=camera.id, reason="FIR 12/2026", **window
        )
        == 2
    )
    rows = {r.path: r for r in session.scalars(select(Recording).where(Recording.camera_id == camera.id))}
    locked = rows[infos[0].path]
    assert locked.locked and locked.lock_reason == "FIR 12/2026" and locked.locked_by == investigator.id
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "video.lock")).one()
    assert (
        entry.object_id == str(camera.id) and entry.purpose == "FIR 12/2026" and entry.detail["segments"] == 2
    )

    spans = recorder.timeline(
        session=session,
        principal=principal,
        camera_id=camera.id,
        since=T0,
        until=T0 + dt.timedelta(seconds=4),
    )
    assert [(s.kind, s.locked) for s in spans] == [("recorded", True)]

    released = recorder.unlock(
        session=session, principal=principal, camera_id=camera.id, reason="case closed", **window
    )
    assert released == 2 and not any(r.locked for r in rows.values())


# --- retention ------------------------------------------------------------------------------------


def _paths(session: Session) -> set[str]:
    return set(session.scalars(select(Recording.path)))


def test_retention_deletes_oldest_unlocked_first_and_never_locked_footage(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    a, b = add_camera(session, district.id), add_camera(session, district.id)
    older = record(session, a, tmp_path, footage, T0, limit=40)  # 2 segments, 05:00:00 and 05:00:02
    newer = record(session, b, tmp_path, footage, T0 + dt.timedelta(seconds=3), limit=40)
    principal = factory.principal(factory.user("investigator"))
    recorder.lock(
        session=session,
        principal=principal,
        camera_id=a.id,
        since=T0,
        until=T0 + dt.timedelta(seconds=1),
        reason="FIR 7",
    )
    total = sum(i.bytes for i in older + newer)
    now = T0 + dt.timedelta(hours=1)

    # Over the quota by a little: the oldest unlocked segment (camera A's second) goes, nothing else.
    report = retention.enforce(session=session, recordings_dir=tmp_path, quota_bytes=total - 1, now=now)
    assert (report.evicted, report.expired, report.recording_must_stop) == (1, 0, False)
    assert _paths(session) == {i.path for i in [older[0], *newer]}
    assert not (tmp_path / older[1].path).exists() and (tmp_path / older[0].path).exists()

    # A quota smaller than the locked footage: every unlocked segment goes, the locked one stays.
    report = retention.enforce(session=session, recordings_dir=tmp_path, quota_bytes=1000, now=now)
    assert report.evicted == 2 and report.recording_must_stop
    assert report.locked_bytes == older[0].bytes == report.total_bytes
    assert "evidence lock" in report.message and "Recording must stop" in report.message
    assert _paths(session) == {older[0].path} and (tmp_path / older[0].path).exists()
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "video.retention")).all()


def test_retention_deletes_what_is_older_than_each_cameras_retention(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    short, long = add_camera(session, district.id, retention_days=1), add_camera(session, district.id)
    gone = record(session, short, tmp_path, footage, T0, limit=20)
    kept = record(session, long, tmp_path, footage, T0, limit=20)
    report = retention.enforce(
        session=session, recordings_dir=tmp_path, quota_bytes=10**12, now=T0 + dt.timedelta(days=1, hours=1)
    )
    assert (report.expired, report.evicted, report.recording_must_stop) == (1, 0, False)
    assert _paths(session) == {kept[0].path}
    assert not (tmp_path / gone[0].path).exists()
    assert not (tmp_path / str(short.id) / "2025").exists(), "emptied folders are tidied away"


def test_a_removed_cameras_footage_goes_with_it_unless_it_is_evidence(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = add_camera(session, district.id)
    infos = record(session, camera, tmp_path, footage, T0, limit=40)
    investigator = factory.principal(factory.user("investigator"))
    window = {"since": T0, "until": T0 + dt.timedelta(seconds=1), "reason": "FIR 3/2025"}
    recorder.lock(session=session, principal=investigator, camera_id=camera.id, **window)

    with pytest.raises(Conflict):
        retention.remove_camera_footage(session=session, recordings_dir=tmp_path, camera_id=camera.id)
    assert all((tmp_path / i.path).exists() for i in infos)
    recorder.unlock(session=session, principal=investigator, camera_id=camera.id, **window)
    assert retention.remove_camera_footage(session=session, recordings_dir=tmp_path, camera_id=camera.id) == 2
    assert _paths(session) == set() and not any((tmp_path / i.path).exists() for i in infos)


# --- reconcile ------------------------------------------------------------------------------------


def test_reconcile_indexes_orphan_files_and_forgets_missing_ones(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    camera = add_camera(session, factory.district().id)
    unindexed: list[SegmentInfo] = []
    feed(SegmentRecorder(camera.id, tmp_path, 2, unindexed.append), footage, T0, limit=40)
    indexed = record(session, camera, tmp_path, footage, T0 + dt.timedelta(minutes=1), limit=40)
    (tmp_path / indexed[1].path).unlink()  # someone deleted a file behind the index's back
    stranger = tmp_path / str(uuid.uuid4()) / "2025" / "11" / "22"
    stranger.mkdir(parents=True)
    shutil.copyfile(tmp_path / unindexed[0].path, stranger / "20251122T050000.000000Z.mp4")

    report = retention.reconcile(session=session, recordings_dir=tmp_path, grace_seconds=0)

    assert sorted(report.indexed) == sorted(i.path for i in unindexed)
    assert report.removed == [indexed[1].path] and report.lost_evidence == [] and report.repaired == []
    assert len(report.skipped) == 1 and "unknown camera" in report.skipped[0]
    rows = {r.path: r for r in session.scalars(select(Recording).where(Recording.camera_id == camera.id))}
    for info in unindexed:  # probed: the same times, size and digest the recorder reported
        row = rows[info.path]
        assert (row.start, row.end, row.bytes, row.sha256, row.init_bytes) == (
            info.start,
            info.end,
            info.bytes,
            info.sha256,
            info.init_bytes,
        )
    assert set(rows) == {unindexed[0].path, unindexed[1].path, indexed[0].path}
    again = retention.reconcile(session=session, recordings_dir=tmp_path, grace_seconds=0)
    assert (again.indexed, again.removed) == ([], [])


def test_reconcile_leaves_files_still_being_written_alone(
    footage: Path, tmp_path: Path, session: Session, factory: Factory
) -> None:
    camera = add_camera(session, factory.district().id)
    infos: list[SegmentInfo] = []
    feed(SegmentRecorder(camera.id, tmp_path, 2, infos.append), footage, T0, limit=20)
    report = retention.reconcile(session=session, recordings_dir=tmp_path, grace_seconds=60)
    assert report.indexed == [] and _paths(session) == set()


# --- privacy masks: burned into the recording ------------------------------------------------------

WINDOW = ((0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.1, 0.5))  # a home's window, in fractions of the picture


def encode_window_scene(path: Path, frames: int) -> Path:
    """A grey street with a bright white window (WINDOW), H.264 as `encode_footage` makes it."""
    picture = np.full((240, 320, 3), 128, dtype=np.uint8)
    picture[24:120, 32:128] = 255  # inside WINDOW (x 32..128, y 24..120), with a margin
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FOOTAGE_FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "g": str(FOOTAGE_GOP), "sc_threshold": "0"}
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def brightness(frame: av.VideoFrame) -> tuple[float, float]:
    """The mean luma inside the window and in the street around it."""
    luma = frame.to_ndarray(format="gray")
    return float(luma[40:100, 50:110].mean()), float(luma[150:230, 180:310].mean())


def test_a_camera_with_masks_is_recorded_masked_from_the_key_frame_after_they_are_drawn(
    tmp_path: Path, session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = add_camera(session, district.id)
    scene = encode_window_scene(tmp_path / "scene.mp4", 40)
    drawn: list[tuple[tuple[float, float], ...]] = []
    infos: list[SegmentInfo] = []

    def on_segment(info: SegmentInfo) -> None:
        infos.append(info)
        recorder.index_segment(session=session, info=info)

    sink = SegmentRecorder(camera.id, tmp_path / "rec", 60, on_segment, masks=lambda: tuple(drawn))
    with av.open(str(scene)) as container:
        stream = container.streams.video[0]
        sink.open(stream, started_at=T0)
        for number, packet in enumerate(container.demux(stream)):
            if number == 15:
                drawn.append(WINDOW)  # drawn mid-GOP: applies from the key frame at packet 20
            sink.write(packet)
        sink.close()

    assert [((i.start - T0).total_seconds(), i.masked) for i in infos] == [(0, False), (2, True)]
    clear, masked = (decode(tmp_path / "rec" / i.path) for i in infos)
    assert len(clear) == 20 and all(brightness(f)[0] > 200 for f in clear)  # remuxed as sent
    assert len(masked) == 20 and masked[0].key_frame and masked[10].key_frame
    assert [f.key_frame for f in masked].count(True) == 2  # key frames where the camera had them
    for frame in masked:
        window, street = brightness(frame)
        assert window < 30 and 110 < street < 145  # the window black, the street still grey
    assert (masked[0].width, masked[0].height) == (320, 240)
    rows = session.scalars(
        select(Recording).where(Recording.camera_id == camera.id).order_by(Recording.start)
    )
    assert [(r.masked, r.sha256, r.bytes) for r in rows] == [
        (i.masked, sha256(tmp_path / "rec" / i.path), (tmp_path / "rec" / i.path).stat().st_size)
        for i in infos
    ]
    operator = factory.principal(factory.user("operator", districts=[district]))
    spans = recorder.timeline(
        session=session, principal=operator, camera_id=camera.id, since=T0, until=T0 + dt.timedelta(seconds=4)
    )
    assert [(s.kind, s.start - T0, s.masked) for s in spans] == [  # one footage, two ways: no gap between
        ("recorded", dt.timedelta(0), False),
        ("recorded", dt.timedelta(seconds=2), True),
    ]

    # Lost from the index (a crash before indexing): reconcile finds it again, still flagged masked.
    session.execute(delete(Recording).where(Recording.camera_id == camera.id))
    report = retention.reconcile(session=session, recordings_dir=tmp_path / "rec", grace_seconds=0)
    assert sorted(report.indexed) == sorted(i.path for i in infos)
    rows = session.scalars(
        select(Recording).where(Recording.camera_id == camera.id).order_by(Recording.start)
    )
    assert [r.masked for r in rows] == [False, True]


def test_removing_the_masks_returns_to_remuxing_at_the_next_key_frame(tmp_path: Path) -> None:
    scene = encode_window_scene(tmp_path / "scene.mp4", 30)
    drawn = [WINDOW]
    infos: list[SegmentInfo] = []
    sink = SegmentRecorder(uuid.uuid4(), tmp_path, 60, infos.append, masks=lambda: tuple(drawn))
    with av.open(str(scene)) as container:
        stream = container.streams.video[0]
        sink.open(stream, started_at=T0)
        for number, packet in enumerate(container.demux(stream)):
            if number == 12:
                drawn.clear()  # the rest of this GOP stays masked; the next is remuxed
            sink.write(packet)
        sink.close()

    assert [((i.start - T0).total_seconds(), i.masked) for i in infos] == [(0, True), (2, False)]
    masked, clear = (decode(tmp_path / i.path) for i in infos)
    assert [brightness(f)[0] < 30 for f in masked] == [True] * 12 + [False] * 8  # masks per picture
    assert len(clear) == 10 and all(brightness(f)[0] > 200 for f in clear)
