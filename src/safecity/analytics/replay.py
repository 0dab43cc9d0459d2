"""Replay: a camera's rules over recorded video, through the live pipeline, storing and publishing nothing.

For the person who sets up a camera: run its rules over a video file (`safecity analytics replay`) or over
a stretch of its recordings (the rule editor page) at the real pace or as fast as the detector goes, and
see what would have fired. Frames are sampled at the analytics rate and go through the same motion gate,
detector, tracker and rule engine as live frames (`CameraAnalytics`); a frame's time is its offset in the
video, so tracks and dwell times follow the video's clock, not the replay's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.counting import crossings
from safecity.analytics.detectors import Detector, DetectorConfig
from safecity.analytics.models import AnalyticsReplay, ReplayStatus
from safecity.analytics.pipeline import CameraAnalytics, CameraInfo, Hit, InferenceQueue, InferenceWorker
from safecity.analytics.schemas import RuleConfig
from safecity.analytics.types import Image, class_name
from safecity.config import Settings
from safecity.core import lanes
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput
from safecity.video.ingest import Frame, FrameSlot, to_bgr
from safecity.video.recorder import wall_offset

logger = logging.getLogger(__name__)


class UnreadableVideo(InvalidInput):
    """The input is not a video this machine can decode."""

    code = "unreadable_video"


@dataclass(frozen=True)
class Picture:
    """One sampled frame: its offset in the replayed video, its wall-clock time, and the picture."""

    offset_s: float
    wall: dt.datetime
    image: Image


def _sampled(pictures: Iterable[tuple[float, dt.datetime, av.VideoFrame]], fps: float) -> Iterator[Picture]:
    """Every frame at least 1/fps after the previous one taken, as the ingest samples a live stream."""
    step = 1.0 / fps
    due = 0.0
    for offset, wall, frame in pictures:
        if offset + 1e-3 < due:
            continue
        due = due + step if offset < due + step else offset + step  # after a gap, from this frame on
        yield Picture(offset, wall, to_bgr(frame))


def _decode(path: Path) -> Generator[tuple[float, av.VideoFrame]]:
    """The frames of a video file with their offsets in seconds from its first frame."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise UnreadableVideo(f"{path} is not a video this machine can read ({exc})") from exc
    with container:
        if not container.streams.video:
            raise UnreadableVideo(f"{path} holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = Fraction(stream.time_base or Fraction(1, 90_000))
        origin: int | None = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else 0
                origin = pts if origin is None else origin
                yield float((pts - origin) * time_base), frame
        except av.error.FFmpegError as exc:
            raise UnreadableVideo(f"{path} could not be decoded ({exc})") from exc
        if origin is None:
            raise UnreadableVideo(f"{path} holds no decodable frame")


def check_video(path: Path) -> None:
    """Raise UnreadableVideo unless the file opens as a video and its first frame decodes."""
    frames = _decode(path)
    try:
        next(frames)
    except StopIteration:
        raise UnreadableVideo(f"{path} holds no decodable frame") from None
    finally:
        frames.close()


def file_pictures(path: Path, *, fps: float, start: dt.datetime) -> Iterator[Picture]:
    """A video file's frames sampled at `fps`, timed from `start` (the wall-clock time of its first frame)."""
    decoded = ((offset, start + dt.timedelta(seconds=offset), frame) for offset, frame in _decode(path))
    return _sampled(decoded, fps)


def recording_pictures(
    segments: Sequence[tuple[Path, dt.datetime]], *, since: dt.datetime, until: dt.datetime, fps: float
) -> Iterator[Picture]:
    """The frames of recorded segments (file, wall-clock start) within [since, until), sampled at `fps`."""

    def decoded() -> Iterator[tuple[float, dt.datetime, av.VideoFrame]]:
        for path, start in segments:
            for offset, frame in _decode(path):
                wall = start + wall_offset(round(offset * 1_000_000), Fraction(1, 1_000_000))
                if wall >= until:
                    return
                if wall >= since:
                    yield (wall - since).total_seconds(), wall, frame

    return _sampled(decoded(), fps)


Counts = dict[str, dict[str, int]]  # direction → class → crossings


@dataclass(frozen=True)
class ReplayEvent:
    """One object making a rule fire during a replay (a counting line: one crossing, with the totals)."""

    offset_s: float
    at: dt.datetime
    kind: str
    rule_id: uuid.UUID
    rule_name: str
    track_id: int
    class_name: str
    direction: str | None = None
    counts: Counts | None = None  # counting lines: everything counted so far by this line

    def as_json(self) -> dict[str, Any]:
        """The event as one JSON object (what `--json` prints on a line)."""
        found: dict[str, Any] = {
            "offset_s": round(self.offset_s, 2),
            "at": self.at.isoformat(),
            "kind": self.kind,
            "rule_id": str(self.rule_id),
            "rule": self.rule_name,
            "track_id": self.track_id,
            "class": self.class_name,
        }
        if self.direction is not None:
            found["direction"] = self.direction
        if self.counts is not None:
            found["counts"] = self.counts
        return found


@dataclass
class ReplayResult:
    """What a replay went through and what its counting lines counted."""

    frames: int = 0  # sampled frames replayed
    events: int = 0
    counts: dict[uuid.UUID, Counter[tuple[str, str]]] = field(default_factory=dict)  # (direction, class)
    cancelled: bool = False

    def totals(self, rule_id: uuid.UUID) -> Counts:
        """A counting line's totals, direction → class → crossings."""
        found: Counts = {}
        for (direction, name), n in sorted(self.counts.get(rule_id, Counter()).items()):
            found.setdefault(direction, {})[name] = n
        return found


def _events(hit: Hit, offset: float, result: ReplayResult) -> list[ReplayEvent]:
    """The replay events of one rule firing (and the counting line's totals updated)."""
    firing, rule, rule_id = hit.firing, hit.firing.rule, hit.firing.rule_id
    at = hit.frame.captured_at
    if rule.kind == "counting_line":
        counted = result.counts.setdefault(firing.rule_id, Counter())
        found = []
        for track, (direction, name) in zip(firing.detail["crossings"], crossings(firing), strict=True):
            counted[direction, name] += 1
            event = ReplayEvent(offset, at, rule.kind, rule_id, rule.name, int(track["track_id"]), name)
            found.append(dataclasses.replace(event, direction=direction, counts=result.totals(rule_id)))
        return found
    summary = firing.detail.get("direction")
    line_direction = str(summary) if summary is not None else None
    return [
        ReplayEvent(
            offset, at, rule.kind, rule_id, rule.name, t.track_id, class_name(t.class_id), line_direction
        )
        for t in hit.tracks
    ]


def replay(
    pictures: Iterable[Picture],
    *,
    camera: CameraInfo,
    rules: Sequence[tuple[uuid.UUID, RuleConfig]],
    detector: Detector,
    settings: Settings,
    on_event: Callable[[ReplayEvent], None],
    detection: DetectorConfig | None = None,
    speed: float = 1.0,
    cancel: threading.Event | None = None,
    on_frame: Callable[[Picture], None] | None = None,
) -> ReplayResult:
    """Run the camera's rules over the pictures and report each event as it happens.

    Args:
        pictures: sampled frames, oldest first (`file_pictures`, `recording_pictures`).
        camera: the camera the rules belong to.
        rules: its rules, as the live analytics load them.
        detector: the detector to run (shared by nothing else while the replay runs).
        detection: how the camera's frames are fed to it (its settings); None: the detector's own config.
        settings: the configuration (analytics rates, motion gate, time zone for schedules).
        on_event: called for each event, in order.
        speed: 1.0 plays at the video's pace, 2.0 twice as fast, 0 as fast as the detector goes.
        cancel: set it to stop after the current frame.
        on_frame: called after each frame (progress).

    Returns:
        The frames replayed, the number of events and what each counting line counted.
    """
    result = ReplayResult()
    queue = InferenceQueue()
    hits: list[Hit] = []
    analysis = CameraAnalytics(
        camera,
        FrameSlot(),
        queue,
        rules,
        sink=hits.append,
        timezone=settings.timezone,
        fps=settings.video.analytics_fps,
        keepalive_s=settings.analytics.keepalive_s,
        motion_threshold=settings.analytics.motion_threshold,
        detection=detection,
    )
    worker = InferenceWorker(detector, queue)
    started = time.monotonic()
    stop = cancel or threading.Event()
    for seq, picture in enumerate(pictures, start=1):
        if speed > 0 and stop.wait(max(0.0, started + picture.offset_s / speed - time.monotonic())):
            break
        if stop.is_set():
            break
        frame = Frame(picture.image, seq=seq, captured_at=picture.wall, monotonic=picture.offset_s)
        if analysis.offer(frame) and (job := queue.get(timeout=0)) is not None:
            worker.run_one(job)
        for hit in hits:
            for event in _events(hit, picture.offset_s, result):
                result.events += 1
                on_event(event)
        hits.clear()
        result.frames += 1
        if on_frame is not None:
            on_frame(picture)
    result.cancelled = stop.is_set()
    return result


# --- replays started from the rule editor page --------------------------------------------------------
# Each lives on an AnalyticsReplay row, so whichever web node a poll reaches shows it; the work runs on
# REPLAYS in the process that took the request, writing progress and events to the row; a cancel is
# written to the row and seen by the work as it next writes.

MAX_RUNNING = 2  # per process: each runs the detector on a CPU core
MAX_EVENTS = 500  # kept per job for the page; the counts still cover everything
KEEP_S = 900.0  # a finished job is kept this long for its page to read
PROGRESS_EVERY_S = 1.0
REPLAYS = lanes.Lane("replay")


def start_job(
    *,
    session: Session,
    camera_id: uuid.UUID,
    user_id: uuid.UUID | None,
    since: dt.datetime,
    until: dt.datetime,
) -> AnalyticsReplay:
    """A new running replay of this process (flushed); Conflict if the user has one running anywhere or this
    process runs MAX_RUNNING. Finished replays older than KEEP_S go first."""
    now = utcnow()
    session.execute(
        delete(AnalyticsReplay).where(
            AnalyticsReplay.status != ReplayStatus.RUNNING,
            AnalyticsReplay.finished_at < now - dt.timedelta(seconds=KEEP_S),
        )
    )
    running = list(
        session.scalars(select(AnalyticsReplay).where(AnalyticsReplay.status == ReplayStatus.RUNNING))
    )
    for job in running:
        if lanes.silent(job.heartbeat or job.created_at):
            _fail(job, "the replay stopped: its process went away")
    running = [j for j in running if not j.done]
    if any(j.user_id == user_id for j in running):
        raise Conflict("you have a replay running: wait for it or cancel it", code="replay_running")
    me = lanes.runner_name()
    if sum(j.runner == me for j in running) >= MAX_RUNNING:
        raise Conflict("the server is busy with other replays: try again shortly", code="replay_busy")
    job = AnalyticsReplay(
        camera_id=camera_id, user_id=user_id, since=since, until=until, runner=me, heartbeat=now
    )
    session.add(job)
    session.flush()
    return job


def _fail(job: AnalyticsReplay, error: str) -> None:
    job.status, job.error, job.finished_at = ReplayStatus.FAILED, error, utcnow()


def get_job(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None) -> AnalyticsReplay | None:
    """The replay, if it is this user's; one whose process went silent is marked failed."""
    job = session.get(AnalyticsReplay, job_id)
    if job is None or job.user_id != user_id:
        return None
    if not job.done and lanes.silent(job.heartbeat or job.created_at):
        _fail(job, "the replay stopped: its process went away")
        session.flush()
    return job


def cancel_job(*, session: Session, job: AnalyticsReplay) -> None:
    """Mark a running replay cancelled; its work stops as it next writes progress."""
    if not job.done:
        job.status, job.finished_at = ReplayStatus.CANCELLED, utcnow()
        session.flush()


def fail_abandoned(session_factory: sessionmaker[Session], *, stopping: bool = False) -> int:
    """Replays left running by a process that went away (lanes.abandoned), marked failed and committed; with
    `stopping`, this process's own (it is ending: its work sees the row and stops)."""
    me = lanes.runner_name()
    with session_factory() as session:
        count = 0
        for job in session.scalars(
            select(AnalyticsReplay).where(AnalyticsReplay.status == ReplayStatus.RUNNING)
        ):
            if job.runner == me if stopping else lanes.abandoned(job.runner, job.heartbeat or job.created_at):
                _fail(job, "the web process stopped before it finished")
                count += 1
        session.commit()
    return count


@dataclass
class ReplayJob:
    """The running side of a replay: its work's callbacks, writing progress and events to its row."""

    id: uuid.UUID
    since: dt.datetime
    until: dt.datetime
    rules: list[tuple[uuid.UUID, RuleConfig]]
    session_factory: sessionmaker[Session]
    cancel: threading.Event = field(default_factory=threading.Event)
    events: list[ReplayEvent] = field(default_factory=list)
    progress: float = 0.0  # fraction of the time range replayed
    frames: int = 0
    _written: float = 0.0  # monotonic

    def add(self, event: ReplayEvent) -> None:
        """Keep an event for the page (the first MAX_EVENTS)."""
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)

    def advance(self, picture: Picture) -> None:
        """Note how far the replay has come; written to the row every PROGRESS_EVERY_S."""
        self.frames += 1
        self.progress = min(1.0, picture.offset_s / max((self.until - self.since).total_seconds(), 1e-6))
        if time.monotonic() - self._written >= PROGRESS_EVERY_S:
            self.write()

    def write(self, *, result: ReplayResult | None = None, error: str | None = None) -> None:
        """Write progress and events to the row (with the outcome once `result` or `error` is known); a row
        no longer running (cancelled, failed, purged) stops the work."""
        self._written = time.monotonic()
        with self.session_factory() as session:
            job = session.get(AnalyticsReplay, self.id, with_for_update=True)
            if job is None:
                self.cancel.set()
                return
            job.progress, job.frames, job.heartbeat = round(self.progress, 4), self.frames, utcnow()
            job.events = [e.as_json() for e in self.events]
            if result is not None:
                job.frames = result.frames
                job.counts = {
                    c.name: result.totals(rid) for rid, c in self.rules if c.kind == "counting_line"
                }
            if job.done:
                self.cancel.set()
            elif error is not None:
                _fail(job, error)
            elif result is not None:
                job.status = ReplayStatus.CANCELLED if result.cancelled else ReplayStatus.DONE
                job.finished_at = utcnow()
            session.commit()

    def run(self, work: Callable[[ReplayJob], ReplayResult]) -> None:
        """Run `work` for the job here, its outcome written to the row."""
        try:
            result = work(self)
        except InvalidInput as exc:
            self.write(error=exc.message)
        except Exception:  # the page says it failed; the details go to the log
            logger.exception("replay %s failed", self.id)
            self.write(error="the replay failed: see the server's log")
        else:
            self.write(result=result)

    def start(self, work: Callable[[ReplayJob], ReplayResult]) -> None:
        """Run `work` on REPLAYS (the job's row committed first)."""
        REPLAYS.submit(functools.partial(self.run, work), at_once=MAX_RUNNING)
