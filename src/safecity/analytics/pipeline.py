"""Frames to rule firings: per-camera motion gating, one shared detector, per-camera tracking and rules.

    ingest FrameSlot ──▶ CameraAnalytics (thread: check the frame, motion gate)
                              │ put (one pending frame per camera; a newer one replaces it)
                              ▼
                        InferenceQueue ──▶ InferenceWorker (thread: the detector, shared)
                                                │ on_detections
                                                ▼
                        CameraAnalytics: tracker ▶ rules ▶ Hit ▶ sink (events, snapshots, alerts)

Frames are never copied or queued in bulk: the queue holds at most one reference per camera, so a slow
detector makes each camera skip to its newest frame instead of falling behind, and one camera that
sends garbage or floods frames cannot hold up another.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from prometheus_client import Counter, Histogram

from safecity.analytics.detectors import Detector, DetectorConfig, InvalidFrame, check_image
from safecity.analytics.motion import MotionGate
from safecity.analytics.plates.live import CameraPlates
from safecity.analytics.queue import LatestQueue
from safecity.analytics.rules import Firing, RuleEngine
from safecity.analytics.schemas import RuleConfig
from safecity.analytics.stats import AnalyticsStats, CameraAnalyticsStats
from safecity.analytics.tracking import Track, Tracker
from safecity.analytics.types import Detections, Image
from safecity.video.ingest import Frame, FrameSlot

if TYPE_CHECKING:
    from safecity.analytics.faces.live import CameraFaces

logger = logging.getLogger(__name__)

WINDOW_S = 10.0  # rates are averaged over this many seconds
LATENCY_SAMPLES = 500

FRAMES = Counter("safecity_analytics_frames_total", "Frames analysed (motion-checked)", ["camera"])
DETECTED = Counter("safecity_analytics_detector_frames_total", "Frames the detector ran on", ["camera"])
REJECTED = Counter("safecity_analytics_rejected_frames_total", "Frames refused as not a picture", ["camera"])
DROPS = Counter("safecity_analytics_queue_drops_total", "Frames replaced by a newer one before detection")
HITS = Counter("safecity_analytics_rule_hits_total", "Rule firings", ["camera", "kind"])
DETECTOR_SECONDS = Histogram(
    "safecity_analytics_detector_seconds",
    "Time the detector took per frame",
    buckets=(0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0),
)


@dataclass(frozen=True)
class CameraInfo:
    """What analytics need to know of a camera."""

    camera_id: uuid.UUID
    name: str
    district_id: uuid.UUID | None


@dataclass(frozen=True)
class Hit:
    """A rule fired on a frame: what the event about it is made of."""

    camera: CameraInfo
    firing: Firing
    frame: Frame
    image: Image
    detections: Detections  # every object in the frame, track ids set
    objects: Detections  # the objects that made the rule fire
    tracks: list[Track]  # their tracks (since when each was followed)


# Called on the detector thread: it must return quickly (hand the hit over to an event loop).
Sink = Callable[[Hit], None]


@dataclass(frozen=True)
class Followed:
    """An object the camera stopped following (gone from view, or the camera stopped): what forensic
    search keeps of it.
    """

    camera: CameraInfo
    track: Track
    view: Image | None  # its best (largest) view, cut from the frame; None if none could be cut


# Called on the detector thread, like Sink.
TrackSink = Callable[[Followed], None]
VIEW_MAX_PX = 320  # an object's kept view is at most this wide or high
VIEW_GROWTH = 1.25  # a new view is cut only when the box grew this much (not on every frame)


class _Rate:
    """Events per second over the last WINDOW_S seconds."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def per_second(self, now: float) -> float:
        self._trim(now)
        return len(self._times) / WINDOW_S

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - WINDOW_S:
            self._times.popleft()


@dataclass
class Job:
    """A frame waiting for the detector."""

    camera: CameraAnalytics
    frame: Frame
    image: Image


class InferenceQueue(LatestQueue[uuid.UUID, Job, None]):
    """The detector's queue: each camera's newest frame, by camera id (see LatestQueue)."""

    def __init__(self) -> None:
        super().__init__(DROPS)


class CameraAnalytics:
    """One camera: reads its newest frames, gates them on motion, tracks detections and applies its rules."""

    def __init__(
        self,
        info: CameraInfo,
        slot: FrameSlot,
        queue: InferenceQueue,
        rules: Sequence[tuple[uuid.UUID, RuleConfig]],
        *,
        sink: Sink,
        timezone: str,
        fps: float,
        keepalive_s: float,
        motion_threshold: float,
        detection: DetectorConfig | None = None,
        plates: CameraPlates | None = None,
        faces: CameraFaces | None = None,
        on_track: TrackSink | None = None,
    ) -> None:
        self.info = info
        self.on_track = on_track  # where finished tracks go (None: nowhere)
        self._views: dict[int, tuple[float, Image]] = {}  # track id: (box area, best view so far)
        self.plates = plates  # how this camera reads number plates (None: it does not)
        self.faces = faces  # its face matching (None: no live authorisation covers it)
        self.detection = detection  # this camera's way of feeding the shared detector (None: its own)
        self.slot = slot
        self.queue = queue
        self.sink = sink
        self.zone = ZoneInfo(timezone)
        self.gate = MotionGate(keepalive_s=keepalive_s, threshold=motion_threshold)
        # Still objects are only seen at the keep-alive rate: their tracks must outlive that gap.
        self.tracker = Tracker(fps=fps, lost_after_s=max(2.0, 2.5 * keepalive_s))
        self.rules = list(rules)
        self.engine = RuleEngine(self.rules, timezone=self.zone)
        self.events = 0
        self.rejected = 0
        self.last_event_at: dt.datetime | None = None
        self.last_error: str | None = None
        self.tracks: list[Track] = []
        self._frames = _Rate()
        self._detected = _Rate()
        self._lock = threading.Lock()  # the tracker and rules: the detector thread vs rule reloads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._label = str(info.camera_id)
        # This camera's counters, looked up once rather than on every frame.
        self._frames_total = FRAMES.labels(self._label)
        self._detected_total = DETECTED.labels(self._label)
        self._rejected_total = REJECTED.labels(self._label)

    def start(self) -> None:
        """Start reading frames."""
        self._thread = threading.Thread(target=self._run, name=f"analytics-{self.info.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading frames and drop any pending one."""
        self._stop.set()
        self.queue.discard(self.info.camera_id)
        if self._thread is not None:
            self._thread.join(timeout)
        self.set_plates(None)
        self.set_faces(None)
        with self._lock:  # the objects in view now are followed no further: they are finished here
            self._finish(self.tracker.active())

    def _keep_views(self, image: Image, tracks: Sequence[Track]) -> None:
        """Cut a new best view of each object whose box grew markedly since its last one."""
        if self.on_track is None:
            return
        height, width = image.shape[:2]
        for track in tracks:
            x1, y1, x2, y2 = (int(v) for v in track.box)
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
            area = float((x2 - x1) * (y2 - y1))
            kept = self._views.get(track.track_id)
            if area <= 0 or (kept is not None and area < kept[0] * VIEW_GROWTH):
                continue
            view = image[y1:y2, x1:x2]
            scale = VIEW_MAX_PX / max(view.shape[:2])
            small = (
                cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if scale < 1
                else None
            )
            self._views[track.track_id] = (area, view.copy() if small is None else cast(Image, small))

    def _finish(self, tracks: Sequence[Track]) -> None:
        """Hand the finished tracks over to `on_track` (those seen in more than one frame)."""
        for track in tracks:
            _, view = self._views.pop(track.track_id, (0.0, None))
            if self.on_track is None or len(track.path) < 2:
                continue
            try:
                self.on_track(Followed(self.info, track, view))
            except Exception:  # a track that cannot be handed over must not stop the detector
                logger.exception("camera %s: finished track not handed over", self.info.camera_id)

    def set_plates(self, plates: CameraPlates | None) -> None:
        """Read plates this new way from the next frame on; the passes open so far are finished."""
        with self._lock:  # the detector thread hands vehicles over under this lock too
            old, self.plates = self.plates, plates
            if old is not None:
                old.close(self.tracker.active())

    def set_faces(self, faces: CameraFaces | None) -> None:
        """Match faces this new way from the next frame on (None: stop; its pending frame is dropped)."""
        old, self.faces = self.faces, faces
        if old is not None and old is not faces:
            old.close()

    @property
    def needs_detector(self) -> bool:
        """False for a dedicated ANPR camera, or a face-matching one, without rules: neither needs the
        object detector.
        """
        if self.rules:
            return True
        if self.plates is not None:
            return not self.plates.dedicated
        return self.faces is None

    def set_rules(self, rules: Sequence[tuple[uuid.UUID, RuleConfig]]) -> None:
        """Apply a changed set of rules from the next frame on (tracks are kept)."""
        with self._lock:
            self.rules = list(rules)
            self.engine = RuleEngine(self.rules, timezone=self.zone)

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            frame = self.slot.wait_newer(seq, timeout=0.5)
            if frame is None:
                continue
            seq = frame.seq
            try:
                self.offer(frame)
            except Exception as exc:  # one bad frame or bug must not end this camera's analytics
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("camera %s: frame %s could not be analysed", self.info.camera_id, seq)

    def offer(self, frame: Frame) -> bool:
        """Check one frame and queue it for the detector if something moved; whether it was queued."""
        self._frames_total.inc()
        self._frames.tick(frame.monotonic)
        try:
            image = check_image(frame.image)
        except InvalidFrame as exc:
            self.rejected += 1
            self.last_error = f"frame refused: {exc}"
            self._rejected_total.inc()
            logger.warning("camera %s: frame %s refused: %s", self.info.camera_id, frame.seq, exc)
            return False
        faces = self.faces
        if faces is not None:  # before the motion gate: a face held still in view is still matched
            faces.offer(frame, image)
        if not self.gate.check(image, frame.monotonic):
            return False
        plates = self.plates
        if plates is not None and plates.dedicated:
            plates.on_motion(frame, image)
        if not self.needs_detector:
            return True
        self.queue.put(self.info.camera_id, Job(self, frame, image))
        return True

    def on_detections(self, job: Job, detections: Detections) -> list[Hit]:
        """Track the detections, apply the rules, and hand every firing to the sink."""
        frame = job.frame
        height, width = job.image.shape[:2]
        self._detected_total.inc()
        self._detected.tick(frame.monotonic)
        with self._lock:
            tracked, tracks = self.tracker.update(
                detections, at=frame.monotonic, wall=frame.captured_at, frame_size=(width, height)
            )
            expired = self.tracker.expire(frame.monotonic)
            self.engine.forget(t.track_id for t in expired)
            self._keep_views(job.image, tracks)
            self._finish(expired)
            firings = self.engine.evaluate(tracks, at=frame.monotonic, wall=frame.captured_at)
            self.tracks = self.tracker.active()
            if self.plates is not None:
                try:
                    self.plates.on_tracks(job.image, tracks, expired, frame.captured_at)
                except Exception:  # a crop that cannot be cut costs its plate read, not the camera's rules
                    logger.exception(
                        "camera %s: vehicles not handed to the plate reader", self.info.camera_id
                    )
        hits = []
        for firing in firings:
            objects = tracked.take(np.isin(tracked.track_ids, list(firing.track_ids)))
            fired = [t for t in tracks if t.track_id in firing.track_ids]
            hits.append(Hit(self.info, firing, frame, job.image, tracked, objects, fired))
            self.events += 1
            self.last_event_at = frame.captured_at
            HITS.labels(self._label, firing.rule.kind).inc()
        for hit in hits:
            try:
                self.sink(hit)
            except Exception:  # an event that cannot be handed over must not stop the detector
                logger.exception("camera %s: rule hit could not be handed over", self.info.camera_id)
        return hits

    def stats(self, now: float) -> CameraAnalyticsStats:
        """This camera's figures now."""
        return CameraAnalyticsStats(
            camera_id=self.info.camera_id,
            name=self.info.name,
            fps=round(self._frames.per_second(now), 2),
            detect_fps=round(self._detected.per_second(now), 2),
            motion=self.gate.motion > self.gate.threshold,
            tracks=len(self.tracks),
            events=self.events,
            rejected_frames=self.rejected,
            last_event_at=self.last_event_at,
            last_error=self.last_error,
        )


@dataclass
class InferenceWorker:
    """The detector's thread: takes the longest-waiting camera's newest frame and runs the model on it."""

    detector: Detector
    queue: InferenceQueue
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start taking frames."""
        self._thread = threading.Thread(target=self._run, name="analytics-detector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the frame in hand."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self.queue.get(timeout=0.5)
            if job is not None:
                self.run_one(job)

    def run_one(self, job: Job) -> list[Hit]:
        """Detect on one queued frame and pass the result to its camera."""
        started = time.perf_counter()
        try:
            detections = self.detector.detect(job.image, job.camera.detection)
        except Exception as exc:  # a frame the model chokes on is that frame's problem only
            job.camera.last_error = f"detector failed: {type(exc).__name__}: {exc}"
            logger.exception("camera %s: the detector failed on a frame", job.camera.info.camera_id)
            return []
        elapsed = time.perf_counter() - started
        self.latencies.append(elapsed)
        DETECTOR_SECONDS.observe(elapsed)
        try:
            return job.camera.on_detections(job, detections)
        except Exception as exc:
            job.camera.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("camera %s: tracking or rules failed", job.camera.info.camera_id)
            return []


def summarise(
    detector: str, cameras: Sequence[CameraAnalytics], worker: InferenceWorker, queue: InferenceQueue
) -> AnalyticsStats:
    """The figures of a set of cameras sharing one detector."""
    now = time.monotonic()
    each = [c.stats(now) for c in cameras]
    latencies = sorted(worker.latencies)

    def percentile(q: float) -> float | None:
        if not latencies:
            return None
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return AnalyticsStats(
        detector=detector,
        cameras=each,
        total_fps=round(sum(c.fps for c in each), 2),
        detect_fps=round(sum(c.detect_fps for c in each), 2),
        detector_ms_p50=percentile(0.5),
        detector_ms_p95=percentile(0.95),
        queue_drops=queue.drops,
    )
