"""Video synopsis jobs: asked for by an investigator, rendered off the request, progress kept on the row.

A synopsis needs `forensics.investigate` and playback of the camera (its district, and a current grant
where the camera is shared on request); someone of another district gets 404. Asking for one and
looking at it are audited with the purpose given. Rendering is long: `start` hands it to RENDERS (one
render at a time per process, on a thread of its own), which writes progress to the row; a job whose
process went away (lanes.abandoned) is marked failed. The person who asked, or
a supervisor of its district (`cases.share`), may cancel it while unfinished: the renderer sees that as it
next writes progress and stops, its files removed. Finished jobs are deleted with their files after
`forensics.synopsis_retention_days` (`purge`).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.privacy import service as privacy
from safecity.core import lanes
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.core.storage import contained
from safecity.forensics.models import ObjectTrack
from safecity.forensics.synopsis import heatmap, render
from safecity.forensics.synopsis.models import Synopsis, SynopsisStatus
from safecity.video.recorder import PLAYBACK_PERMISSION, camera_in_scope, check_range, segment_file, segments

logger = logging.getLogger(__name__)

INVESTIGATE = "forensics.investigate"
OVERSEE = "cases.share"  # a supervisor of investigations: may cancel their districts' synopses
MAX_PERIOD = dt.timedelta(hours=24)
MAX_OBJECTS = 2000  # tracks in one synopsis, the first seen kept
MAX_CLASSES = 12
MAX_TRACK = dt.timedelta(hours=6)  # a track longer than this is not looked for before the period
PROGRESS_EVERY_S = 1.0
UNFINISHED = (SynopsisStatus.QUEUED, SynopsisStatus.RENDERING)
PURGE_BATCH = 100
FILES = {"video": "synopsis.mp4", "index": "index.json", "heatmap": "heatmap.png"}
MEDIA_TYPES = {"video": "video/mp4", "index": "application/json", "heatmap": "image/png"}


def create(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    classes: Sequence[str] = (),
    purpose: str,
) -> Synopsis:
    """A queued synopsis of the camera over [since, until) (at most MAX_PERIOD), audited with its purpose.

    The caller commits, then hands the job to `start`.
    """
    principal.require(INVESTIGATE)
    camera = camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, permission=PLAYBACK_PERMISSION
    )
    check_range(since, until, limit=MAX_PERIOD)
    wanted = sorted({c.strip().lower() for c in classes if c.strip()})
    if len(wanted) > MAX_CLASSES or any(len(c) > 32 for c in wanted):
        raise InvalidInput(f"name at most {MAX_CLASSES} classes of up to 32 characters", field="classes")
    purpose = " ".join(purpose.split())
    if len(purpose) < 5:
        raise InvalidInput("give the purpose of this synopsis (a case or incident number)", field="purpose")
    if not segments(session=session, camera_id=camera.id, since=since, until=until):
        raise NotFound("no recordings of this camera in that period", code="no_recordings")
    job = Synopsis(
        id=uuid.uuid4(),
        camera_id=camera.id,
        district_id=camera.district_id,
        since=since.astimezone(dt.UTC),
        until=until.astimezone(dt.UTC),
        classes=wanted,
        purpose=purpose[:500],
        status=SynopsisStatus.QUEUED,
        progress=0.0,
        objects=0,
        counts={},
        duration_s=0.0,
        render_s=0.0,
        runner=lanes.runner_name(),  # the process that renders it: `start` is called here once committed
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(job)
    audit.record(
        session=session,
        action="forensics.synopsis.create",
        outcome="success",
        actor=principal,
        object_type="synopsis",
        object_id=str(job.id),
        purpose=job.purpose,
        district_id=camera.district_id,
        detail={
            "camera_id": str(camera.id),
            "since": job.since.isoformat(),
            "until": job.until.isoformat(),
            "classes": wanted,
        },
    )
    session.flush()
    return job


def get(*, session: Session, principal: Principal, synopsis_id: uuid.UUID) -> Synopsis:
    """A synopsis the principal may see (NotFound otherwise); one whose process went away is marked failed."""
    principal.require(INVESTIGATE)
    principal.require(PLAYBACK_PERMISSION)
    job = session.get(Synopsis, synopsis_id)
    if job is None or not principal.sees_district(job.district_id):
        raise NotFound("no such synopsis")
    if job.camera_id is not None:
        camera_in_scope(
            session=session, principal=principal, camera_id=job.camera_id, permission=PLAYBACK_PERMISSION
        )
    if job.status in UNFINISHED and lanes.silent(job.heartbeat or job.created_at):
        _fail(job, "rendering stopped: its process went away")
        session.flush()
    return job


def _fail(job: Synopsis, error: str) -> None:
    job.status, job.error, job.finished_at = SynopsisStatus.FAILED, error, utcnow()


def viewed(*, session: Session, principal: Principal, job: Synopsis, what: str) -> None:
    """Audit that the principal looked at a finished synopsis (its page, video or heatmap)."""
    audit.record(
        session=session,
        action="forensics.synopsis.view",
        outcome="success",
        actor=principal,
        object_type="synopsis",
        object_id=str(job.id),
        purpose=job.purpose,
        district_id=job.district_id,
        detail={"what": what, "camera_id": str(job.camera_id)},
    )


def mine(*, session: Session, principal: Principal, limit: int = 20) -> list[Synopsis]:
    """The principal's recent synopses, newest first (within their districts)."""
    principal.require(INVESTIGATE)
    query = (
        select(Synopsis)
        .where(Synopsis.created_by == principal.user_id, principal.district_filter(Synopsis.district_id))
        .order_by(Synopsis.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def may_cancel(principal: Principal, job: Synopsis) -> bool:
    """Whether the principal may cancel the job: who asked for it (still an investigator), or a supervisor
    (the district is checked by the caller)."""
    asker = job.created_by is not None and job.created_by == principal.user_id
    return (asker and principal.can(INVESTIGATE)) or principal.can(OVERSEE)


def cancel(*, session: Session, principal: Principal, synopsis_id: uuid.UUID) -> Synopsis:
    """Cancel an unfinished synopsis: the person who asked (still an investigator), or a supervisor of its
    district; audited. Its renderer stops as it next reports progress (within PROGRESS_EVERY_S)."""
    if not (principal.can(INVESTIGATE) or principal.can(OVERSEE)):
        raise PermissionDenied(f"this needs the '{INVESTIGATE}' or the '{OVERSEE}' permission")
    job = session.get(Synopsis, synopsis_id, with_for_update=True)
    if job is None or not principal.sees_district(job.district_id):
        raise NotFound("no such synopsis")
    if not may_cancel(principal, job):
        raise PermissionDenied("only who asked for the synopsis, or a supervisor, may cancel it")
    if job.status not in UNFINISHED:
        raise Conflict(f"the synopsis is already {job.status.value}", code="synopsis_finished")
    job.status, job.finished_at = SynopsisStatus.CANCELLED, utcnow()
    audit.record(
        session=session,
        action="forensics.synopsis.cancel",
        outcome="success",
        actor=principal,
        object_type="synopsis",
        object_id=str(job.id),
        purpose=job.purpose,
        district_id=job.district_id,
        detail={"camera_id": str(job.camera_id), "progress": job.progress},
    )
    session.flush()
    return job


def output_file(*, job: Synopsis, kind: str, synopses_dir: Path) -> Path:
    """The file of a finished synopsis: 'video', 'index' or 'heatmap' (NotFound until it is there)."""
    if kind not in FILES:
        raise NotFound("no such file")
    if job.status != SynopsisStatus.DONE:
        raise NotFound("the synopsis is not ready yet", code="synopsis_not_ready")
    file = synopses_dir / str(job.id) / FILES[kind]
    if not file.is_file():
        raise NotFound("the synopsis's file is missing from the disk")
    return file


def purge_expired(
    *, session: Session, synopses_dir: Path, before: dt.datetime, batch: int = PURGE_BATCH
) -> int:
    """Delete up to `batch` finished (done, failed or cancelled) synopses asked for before `before`, with
    their folders; how many went. The caller commits and calls again while a whole batch went."""
    ids = list(
        session.scalars(
            select(Synopsis.id)
            .where(Synopsis.status.not_in(UNFINISHED), Synopsis.created_at < before)
            .order_by(Synopsis.created_at)
            .limit(batch)
        )
    )
    for synopsis_id in ids:
        folder = contained(synopses_dir, str(synopsis_id))
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if ids:
        session.execute(delete(Synopsis).where(Synopsis.id.in_(ids)))
    return len(ids)


def purge(
    *, session_factory: sessionmaker[Session], synopses_dir: Path, retention_days: int, now: dt.datetime
) -> int:
    """Delete every finished synopsis older than the retention period with its files, batch by batch;
    audited."""
    before = now - dt.timedelta(days=retention_days)
    return audit.purged(
        session_factory=session_factory,
        purge_batch=lambda session: purge_expired(
            session=session, synopses_dir=synopses_dir, before=before, batch=PURGE_BATCH
        ),
        batch=PURGE_BATCH,
        action="forensics.synopsis.retention",
        object_type="synopses",
        detail={"before": before.isoformat(), "days": retention_days},
    )


def fail_abandoned(*, session: Session) -> int:
    """At start-up: the jobs left unfinished by a process that went away (lanes.abandoned), marked failed."""
    count = 0
    for job in session.scalars(select(Synopsis).where(Synopsis.status.in_(UNFINISHED))):
        if lanes.abandoned(job.runner, job.heartbeat or job.created_at):
            _fail(job, "the web process restarted before it finished")
            count += 1
    if count:
        logger.warning("synopsis: %d unfinished jobs marked failed after a restart", count)
    return count


def fail_abandoned_jobs(session_factory: sessionmaker[Session]) -> int:
    """fail_abandoned in a session of its own, committed (the web process calls it as it starts)."""
    with session_factory() as session:
        count = fail_abandoned(session=session)
        session.commit()
        return count


# --- rendering ------------------------------------------------------------------------------------


RENDERS = lanes.Lane("synopsis")  # one render at a time: decoding and encoding take a core each


class _Stopped(Exception):
    """The job was cancelled while it rendered: stop, remove its files, leave its row as it is."""


def start(
    *,
    session_factory: sessionmaker[Session],
    synopsis_id: uuid.UUID,
    synopses_dir: Path,
    recordings_dir: Path,
    timezone: str = "Asia/Karachi",
) -> Future[None]:
    """Render a committed, queued synopsis off the caller's thread; progress goes to its row."""

    def work() -> None:
        run(
            session_factory=session_factory,
            synopsis_id=synopsis_id,
            synopses_dir=synopses_dir,
            recordings_dir=recordings_dir,
            timezone=timezone,
        )

    return RENDERS.submit(work)


def run(
    *,
    session_factory: sessionmaker[Session],
    synopsis_id: uuid.UUID,
    synopses_dir: Path,
    recordings_dir: Path,
    progress: Callable[[float], None] | None = None,
    timezone: str = "Asia/Karachi",
) -> None:
    """Render one queued synopsis now, in this thread: video, index and heatmap; the row says how it went."""
    began = time.perf_counter()
    out_dir = synopses_dir / str(synopsis_id)
    with session_factory() as session:
        job = session.get(Synopsis, synopsis_id)
        if job is None or job.status != SynopsisStatus.QUEUED or job.camera_id is None:
            return
        job.status, job.runner, job.heartbeat = SynopsisStatus.RENDERING, lanes.runner_name(), utcnow()
        sources = [
            render.Source(file, row.start, row.end)
            for row in segments(session=session, camera_id=job.camera_id, since=job.since, until=job.until)
            if (file := segment_file(recordings_dir, row.path)) is not None and file.is_file()
        ]
        query = (
            select(ObjectTrack)
            .where(
                ObjectTrack.camera_id == job.camera_id,
                ObjectTrack.first_seen < job.until,
                ObjectTrack.first_seen > job.since - MAX_TRACK,
                ObjectTrack.last_seen > job.since,
            )
            .order_by(ObjectTrack.first_seen)
            .limit(MAX_OBJECTS)
        )
        if job.classes:
            query = query.where(ObjectTrack.class_name.in_(job.classes))
        tracks = list(session.scalars(query))
        tubes = [render.Tube(t.id, t.class_name, t.first_seen, t.last_seen, t.path) for t in tracks if t.path]
        aspect = (
            tracks[0].frame_height / tracks[0].frame_width if tracks and tracks[0].frame_width else 9 / 16
        )
        camera_id, since, until = job.camera_id, job.since, job.until
        session.commit()
    last = [0.0, time.monotonic()]

    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)
        now = time.monotonic()
        if fraction < 1.0 and fraction - last[0] < 0.02 and now - last[1] < PROGRESS_EVERY_S:
            return
        last[:] = [fraction, now]
        with session_factory() as s:
            row = s.get(Synopsis, synopsis_id)
            if row is None or row.status != SynopsisStatus.RENDERING:
                raise _Stopped  # cancelled (or deleted) meanwhile
            row.progress, row.heartbeat = round(min(fraction, 0.999), 4), utcnow()
            s.commit()

    try:
        if not sources:
            raise NotFound("the recordings of this period are gone from the disk")
        out_dir.mkdir(parents=True, exist_ok=True)
        result = render.render(
            sources=sources,
            tubes=tubes,
            since=since,
            until=until,
            out=out_dir / FILES["video"],
            index_out=out_dir / FILES["index"],
            background_out=out_dir / "background.png",
            camera_id=camera_id,
            progress=report,
            zone=ZoneInfo(timezone),
            masks=privacy.viewer_masks(session_factory, camera_id, None),
        )
        heat = heatmap.accumulate([(t.class_name, t.path) for t in tubes], aspect=aspect)
        (out_dir / FILES["heatmap"]).write_bytes(heatmap.overlay(heat, result.background))
    except _Stopped:
        logger.info("synopsis %s cancelled while rendering", synopsis_id)
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    except Exception as exc:  # any failure ends the job with its reason; the process carries on
        logger.exception("synopsis %s failed", synopsis_id)
        shutil.rmtree(out_dir, ignore_errors=True)
        with session_factory() as session:
            row = session.get(Synopsis, synopsis_id)
            if row is not None and row.status == SynopsisStatus.RENDERING:
                _fail(row, getattr(exc, "message", None) or f"rendering failed ({type(exc).__name__})")
                row.render_s = time.perf_counter() - began
                session.commit()
        return
    with session_factory() as session:
        row = session.get(Synopsis, synopsis_id, with_for_update=True)
        if row is None or row.status != SynopsisStatus.RENDERING:  # cancelled after its last progress
            shutil.rmtree(out_dir, ignore_errors=True)
            return
        row.status, row.progress, row.finished_at = SynopsisStatus.DONE, 1.0, utcnow()
        row.video_path = f"{synopsis_id}/{FILES['video']}"
        row.index_path = f"{synopsis_id}/{FILES['index']}"
        row.heatmap_path = f"{synopsis_id}/{FILES['heatmap']}"
        row.objects, row.counts = result.objects, heat.counts
        row.duration_s, row.render_s = result.duration_s, time.perf_counter() - began
        session.commit()
    logger.info(
        "synopsis %s: %d objects of %.0f s in %.1f s of video, rendered in %.1f s",
        synopsis_id,
        result.objects,
        (until - since).total_seconds(),
        result.duration_s,
        time.perf_counter() - began,
    )
