"""Keeping the recordings within their retention and the disk quota, and the index in step with the disk.

Footage under an evidence lock is never deleted here. When only locked footage is left and the quota is
still exceeded, the report says recording must stop (the caller stops recorders and raises an alert).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.cameras.models import Camera
from safecity.core.errors import Conflict
from safecity.video.models import Recording
from safecity.video.recorder import (
    MASKED_MARK,
    SegmentInfo,
    file_sha256,
    index_segment,
    parse_segment_start,
    segment_file,
    wall_offset,
)

logger = logging.getLogger(__name__)

BATCH = 1000
GB = 1024**3


def _size(n: int) -> str:
    return f"{n / GB:.2f} GB" if n >= GB // 100 else f"{n / 1024**2:.2f} MB"


@dataclass
class RetentionReport:
    """What one retention pass deleted, what is left, and whether recording must stop."""

    quota_bytes: int
    expired: int = 0  # segments older than their camera's retention
    evicted: int = 0  # the oldest unlocked segments, deleted to get under the quota
    freed_bytes: int = 0
    total_bytes: int = 0  # indexed footage left
    locked_bytes: int = 0
    recording_must_stop: bool = False
    message: str = ""


def _delete_segments(
    session: Session, recordings_dir: Path, rows: Sequence[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """Delete the files, then the index rows, of `rows`; returns the ids whose file could not be removed."""
    failed: set[uuid.UUID] = set()
    parents: set[Path] = set()
    for recording_id, path in rows:
        file = segment_file(recordings_dir, path)
        if file is None:  # an index row that points elsewhere: drop the row, never touch that file
            logger.error("retention: recording %s names a file outside the recordings folder", recording_id)
            continue
        try:
            file.unlink(missing_ok=True)
        except OSError:
            logger.exception("retention: cannot delete %s", path)
            failed.add(recording_id)
            continue
        parents.add(file.parent)
    done = [recording_id for recording_id, _ in rows if recording_id not in failed]
    if done:
        session.execute(delete(Recording).where(Recording.id.in_(done)))
    for parent in parents:  # tidy emptied day, month and year folders, up to the camera's
        for folder in (parent, parent.parent, parent.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break
    return failed


def enforce(*, session: Session, recordings_dir: Path, quota_bytes: int, now: dt.datetime) -> RetentionReport:
    """Delete expired segments, then the oldest unlocked ones while over `quota_bytes`; never locked ones."""
    report = RetentionReport(quota_bytes=quota_bytes)
    failed: set[uuid.UUID] = set()
    unlocked = Recording.locked.is_(False)

    for days in session.scalars(select(Camera.retention_days).distinct()):
        cutoff = now - dt.timedelta(days=days)
        cameras = select(Camera.id).where(Camera.retention_days == days)
        while True:
            rows = session.execute(
                select(Recording.id, Recording.path, Recording.bytes)
                .where(Recording.camera_id.in_(cameras), Recording.start < cutoff, Recording.end <= cutoff)
                .where(unlocked, Recording.id.not_in(failed))
                .order_by(Recording.start)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            failed |= _delete_segments(session, recordings_dir, [(r.id, r.path) for r in rows])
            gone = [r for r in rows if r.id not in failed]
            report.expired += len(gone)
            report.freed_bytes += sum(r.bytes for r in gone)

    total = int(
        session.scalar(select(func.coalesce(func.sum(Recording.bytes), 0))) or 0
    )  # numeric on PostgreSQL
    while total > quota_bytes:
        rows = session.execute(
            select(Recording.id, Recording.path, Recording.bytes)
            .where(unlocked, Recording.id.not_in(failed))
            .order_by(Recording.start)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        chosen = []
        for row in rows:
            if total <= quota_bytes:
                break
            chosen.append(row)
            total -= row.bytes
        failed |= _delete_segments(session, recordings_dir, [(r.id, r.path) for r in chosen])
        gone = [r for r in chosen if r.id not in failed]
        total += sum(r.bytes for r in chosen if r.id in failed)
        report.evicted += len(gone)
        report.freed_bytes += sum(r.bytes for r in gone)

    report.total_bytes = total
    report.locked_bytes = int(
        session.scalar(select(func.coalesce(func.sum(Recording.bytes), 0)).where(Recording.locked.is_(True)))
        or 0
    )
    if total > quota_bytes:
        report.recording_must_stop = True
        report.message = (
            f"Recording must stop: {_size(report.locked_bytes)} of footage under evidence lock "
            f"(of {_size(total)} kept) exceeds the disk quota of {_size(quota_bytes)}. Release evidence "
            "locks that are no longer needed, or add storage and raise the quota."
        )
        logger.critical("retention: %s", report.message)
    else:
        report.message = (
            f"Deleted {report.expired} expired and {report.evicted} segments over the quota "
            f"({_size(report.freed_bytes)}); {_size(total)} of {_size(quota_bytes)} in use."
        )
    if report.expired or report.evicted or report.recording_must_stop:
        audit.record(
            session=session,
            action="video.retention",
            outcome="success",
            object_type="recordings",
            detail={
                "expired": report.expired,
                "evicted": report.evicted,
                "freed_bytes": report.freed_bytes,
                "total_bytes": total,
                "locked_bytes": report.locked_bytes,
                "quota_bytes": quota_bytes,
                "recording_must_stop": report.recording_must_stop,
            },
        )
    return report


def remove_camera_footage(*, session: Session, recordings_dir: Path, camera_id: uuid.UUID) -> int:
    """Delete every recorded segment of a camera about to be removed; refused while any is evidence.

    Call it before deleting the camera: its index rows would otherwise go with it (the foreign key
    cascades), leaving files no retention pass could see, and losing the locks on evidence.
    """
    locked = session.scalar(
        select(func.count()).where(Recording.camera_id == camera_id, Recording.locked.is_(True))
    )
    if locked:
        raise Conflict(
            f"{locked} recorded segments of this camera are locked as evidence: release the locks first"
        )
    removed = 0
    failed: set[uuid.UUID] = set()
    while rows := session.execute(
        select(Recording.id, Recording.path)
        .where(Recording.camera_id == camera_id, Recording.id.not_in(failed))
        .limit(BATCH)
    ).all():
        failed |= _delete_segments(session, recordings_dir, [(r.id, r.path) for r in rows])
        removed += sum(1 for r in rows if r.id not in failed)
    if failed:
        raise Conflict(f"{len(failed)} recorded files of this camera could not be deleted; see the log")
    logger.info("camera %s: %d recorded segments deleted with the camera", camera_id, removed)
    return removed


# --- reconciling the index with the disk ----------------------------------------------------------


@dataclass
class ReconcileReport:
    """Files indexed, rows removed, files repaired and files left alone by one reconcile pass."""

    indexed: list[str] = field(default_factory=list)  # files on disk that had no row
    removed: list[str] = field(default_factory=list)  # rows whose file was gone
    lost_evidence: list[str] = field(default_factory=list)  # of those, segments that were locked
    repaired: list[str] = field(default_factory=list)  # cut back to their last complete fragment
    skipped: list[str] = field(default_factory=list)  # "path: why" for files that could not be indexed


@dataclass(frozen=True)
class _Layout:
    init_bytes: int | None  # offset of the first moof
    complete: int  # end of the last complete fragment (or of the head when there is none)


def _scan_boxes(file: Path) -> _Layout:
    """Walk a segment's top-level boxes by their headers, to find its head and its last whole fragment."""
    size = file.stat().st_size
    init: int | None = None
    complete = 0
    moof_at: int | None = None
    offset = 0
    with file.open("rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(8)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length < 8 or offset + length > size:
                break  # cut off here (a crash mid-fragment)
            if kind == b"moof":
                init = offset if init is None else init
                moof_at = offset
            elif kind == b"mdat" and moof_at is not None:
                complete, moof_at = offset + length, None
            elif kind == b"moov":
                complete = offset + length
            offset += length
    return _Layout(init, complete)


def _playback(file: Path) -> tuple[dt.timedelta | None, bool]:
    """How long a segment plays, from its packets' timestamps (None if it holds no video), and whether it
    was recorded masked."""
    with av.open(str(file)) as container:
        masked = container.metadata.get("comment") == MASKED_MARK
        if not container.streams.video:
            return None, masked
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base or Fraction(1, 90_000))
        first: int | None = None
        last = 0
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            last = max(last, packet.pts + (packet.duration or 0))
    return (None if first is None or last <= first else wall_offset(last - first, time_base)), masked


def probe_segment(*, recordings_dir: Path, path: str, camera_id: uuid.UUID) -> tuple[SegmentInfo, bool]:
    """Describe a segment file found on disk, first cutting off an incomplete last fragment.

    Returns the segment and whether it was repaired; raises ValueError when it cannot be indexed.
    """
    file = recordings_dir / path
    start = parse_segment_start(file.name)
    if start is None:
        raise ValueError("not a segment file name")
    layout = _scan_boxes(file)
    if layout.init_bytes is None or layout.complete <= layout.init_bytes:
        raise ValueError("no complete fragment")
    repaired = file.stat().st_size > layout.complete
    if repaired:
        with file.open("r+b") as f:
            f.truncate(layout.complete)
    try:
        duration, masked = _playback(file)
    except av.FFmpegError as exc:
        raise ValueError(f"unreadable: {exc}") from exc
    if duration is None:
        raise ValueError("no video")
    info = SegmentInfo(
        camera_id=camera_id,
        start=start,
        end=start + duration,
        path=path,
        bytes=file.stat().st_size,
        sha256=file_sha256(file),
        init_bytes=layout.init_bytes,
        masked=masked,
    )
    return info, repaired


def _remove_missing(session: Session, recordings_dir: Path, report: ReconcileReport) -> None:
    listings: dict[Path, set[str]] = {}
    for camera_id in session.scalars(select(Recording.camera_id).distinct()).all():
        gone: list[tuple[uuid.UUID, str, bool]] = []
        rows = session.execute(
            select(Recording.id, Recording.path, Recording.locked)
            .where(Recording.camera_id == camera_id)
            .order_by(Recording.start)
        )
        for recording_id, path, locked in rows:
            file = segment_file(recordings_dir, path)
            if file is None:
                gone.append((recording_id, path, locked))
                continue
            if file.parent not in listings:  # rows come in time order: one listing per day folder
                listings.clear()
                listings[file.parent] = {p.name for p in file.parent.glob("*.mp4")}
            if file.name not in listings[file.parent]:
                gone.append((recording_id, path, locked))
        for chunk in _chunks(gone, BATCH):
            session.execute(delete(Recording).where(Recording.id.in_([g[0] for g in chunk])))
        for _, path, locked in gone:
            report.removed.append(path)
            if locked:
                report.lost_evidence.append(path)
                logger.error("reconcile: locked evidence segment %s is missing from the disk", path)


def _chunks(
    items: list[tuple[uuid.UUID, str, bool]], size: int
) -> Iterable[list[tuple[uuid.UUID, str, bool]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _index_orphans(
    session: Session, recordings_dir: Path, grace_seconds: float, report: ReconcileReport
) -> None:
    cameras = set(session.scalars(select(Camera.id)))
    settled_before = time.time() - grace_seconds  # newer files may still be being written
    for camera_dir in sorted(p for p in recordings_dir.iterdir() if p.is_dir()):
        try:
            camera_id = uuid.UUID(camera_dir.name)
        except ValueError:
            report.skipped.append(f"{camera_dir.name}: not a camera folder")
            continue
        for day_dir in sorted(p for p in camera_dir.glob("*/*/*") if p.is_dir()):
            files = sorted(day_dir.glob("*.mp4"))
            if not files:
                continue
            relative = day_dir.relative_to(recordings_dir).as_posix()
            if camera_id not in cameras:
                report.skipped.append(f"{relative}: {len(files)} files of an unknown camera")
                continue
            try:
                day = dt.datetime.strptime(relative.split("/", 1)[1], "%Y/%m/%d").replace(tzinfo=dt.UTC)
            except ValueError:
                report.skipped.append(f"{relative}: not a day folder")
                continue
            known = set(
                session.scalars(
                    select(Recording.path).where(
                        Recording.camera_id == camera_id,
                        Recording.start >= day,
                        Recording.start < day + dt.timedelta(days=1),
                    )
                )
            )
            for file in files:
                path = f"{relative}/{file.name}"
                if path in known or file.stat().st_mtime > settled_before:
                    continue
                try:
                    info, repaired = probe_segment(
                        recordings_dir=recordings_dir, path=path, camera_id=camera_id
                    )
                except (ValueError, OSError) as exc:
                    report.skipped.append(f"{path}: {exc}")
                    continue
                index_segment(session=session, info=info)
                report.indexed.append(path)
                if repaired:
                    report.repaired.append(path)


def reconcile(*, session: Session, recordings_dir: Path, grace_seconds: float = 60.0) -> ReconcileReport:
    """Bring the index in step with the disk: remove rows whose file is gone, index files without a row.

    Run it at start, before recorders; files changed in the last `grace_seconds` are left alone in case a
    recorder is still writing them. A file cut short by a crash is first trimmed to its last whole fragment.
    """
    report = ReconcileReport()
    _remove_missing(session, recordings_dir, report)
    if recordings_dir.is_dir():
        _index_orphans(session, recordings_dir, grace_seconds, report)
    if report.indexed or report.removed:
        audit.record(
            session=session,
            action="video.reconcile",
            outcome="success",
            object_type="recordings",
            detail={
                "indexed": len(report.indexed),
                "removed": len(report.removed),
                "lost_evidence": report.lost_evidence[:20],
                "repaired": len(report.repaired),
                "skipped": len(report.skipped),
            },
        )
    logger.info(
        "reconcile: %d files indexed (%d repaired), %d rows removed, %d files skipped",
        len(report.indexed),
        len(report.repaired),
        len(report.removed),
        len(report.skipped),
    )
    return report
