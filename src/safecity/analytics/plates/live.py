"""Plate reading on live cameras: one sighting per vehicle pass, read on a thread of its own.

    detector thread ─ CameraAnalytics.on_detections ─▶ CameraPlates.on_tracks (vehicle crops, tracks ended)
    camera thread   ─ CameraAnalytics.offer (moved)  ─▶ CameraPlates.on_motion (dedicated: the frame)
                                   │ put (one pending job per camera; newer crops replace older ones)
                                   ▼
                              PlateQueue ──▶ PlateWorker (thread: the plate reader, shared)
                                                  │ reads gathered per pass; a pass that ended is voted on
                                                  ▼
                                          sink(Finished) ─▶ stored and published by the analytics flows

`vehicles` mode reads inside tracked vehicles' boxes (a few times per track, not every frame: when it
is new, every few detections, and when its box grew, up to a cap), and a pass is a track: it ends when the
tracker drops it. `dedicated` mode (an ANPR camera on a lane) reads whole frames that moved, without the
vehicle detector, and a pass is a plate seen in about the same place or with the same text, ending when
it has not been seen for PASS_GAP_S. The detector thread only cuts small crops and never waits for OCR;
a slow reader makes each camera skip to its newest crops (counted as drops).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from prometheus_client import Counter

from safecity.analytics import attributes
from safecity.analytics.plates.base import PlateReader
from safecity.analytics.plates.schemas import PlateSettings
from safecity.analytics.plates.types import PlateRead
from safecity.analytics.plates.voting import Vote, combine
from safecity.analytics.queue import LatestQueue
from safecity.analytics.tracking import Track
from safecity.analytics.types import VEHICLES, Image, class_name
from safecity.video.ingest import Frame

logger = logging.getLogger(__name__)

READ_EVERY = 2  # a track is read again after this many of its detections ...
GROWTH = 1.25  # ... or sooner when its box grew this much wider (coming closer) since its last read
MAX_READS = 10  # per track: enough frames to vote on; more only costs CPU
CROP_SIDE = 640  # a vehicle crop's longest side is shrunk to this before reading (text detection's cost)
PADDING = 0.05  # of the box, around a vehicle crop (a plate on the bumper's edge)
PLATE_PADDING = 0.2  # of the plate's height, around a stored plate crop
PASS_GAP_S = 1.0  # dedicated mode: a plate unseen this long has passed
MAX_PASS_READS = 40  # dedicated mode: reads kept per pass (a car standing at a light)
MAX_PICTURES = 4  # per pass: the pictures of the best read of this many different texts

READS = Counter("safecity_plate_reads_total", "Pictures the plate reader ran on", ["camera"])
DROPS = Counter("safecity_plate_queue_drops_total", "Plate crops replaced by newer ones before reading")
FAILURES = Counter("safecity_plate_read_failures_total", "Plate reads that failed", ["camera"])
PASSES = Counter("safecity_plate_passes_total", "Vehicle passes finished with a plate read", ["camera"])


@dataclass(frozen=True)
class CameraRef:
    """Who the sightings are of: the camera and its district."""

    camera_id: uuid.UUID
    name: str
    district_id: uuid.UUID | None


Cut = tuple[int, int, int, int]  # where a picture was cut out of its frame: x1, y1, x2, y2 pixels


@dataclass(frozen=True)
class VehicleCrop:
    """A tracked vehicle's box cut out of a frame (a copy), shrunk by `scale`, at `offset` in the frame."""

    track_id: int
    image: Image
    offset: tuple[int, int]
    scale: float
    wall: dt.datetime
    frame_size: tuple[int, int]  # the frame's width and height: where the camera's privacy masks lie

    def in_frame(self, cut: Cut) -> Cut:
        """A part of the crop (its pixels: x1, y1, x2, y2) as where it lies in the frame."""
        left, top = self.offset
        x1, y1, x2, y2 = (round(v / self.scale) for v in cut)
        return (left + x1, top + y1, left + x2, top + y2)


@dataclass(frozen=True)
class Ended:
    """A track the tracker dropped (the vehicle left): what it showed of the vehicle."""

    track_id: int
    vehicle_class: str
    colour: str | None
    direction: str | None
    first_seen: dt.datetime | None = None  # when the track was followed: the pass, beyond its plate reads
    last_seen: dt.datetime | None = None


@dataclass
class PlateJob:
    """What one camera has waiting for the plate reader."""

    camera: CameraPlates
    crops: dict[int, VehicleCrop] = field(default_factory=dict)  # by track id, newest
    frame: tuple[Frame, Image] | None = None  # dedicated mode: the newest frame that moved, checked
    ended: list[Ended] = field(default_factory=list)
    flush: bool = False  # finish every open pass (the camera stops)

    def add(
        self,
        crops: Iterable[VehicleCrop],
        frame: tuple[Frame, Image] | None,
        ended: Iterable[Ended],
        flush: bool,
    ) -> int:
        """Gather newer work into the job; how many crops or frames it replaced. Tracks that ended are
        never dropped, so every pass is finished.
        """
        replaced = 0
        for crop in crops:
            replaced += crop.track_id in self.crops
            self.crops[crop.track_id] = crop
        if frame is not None:
            replaced += self.frame is not None
            self.frame = frame
        self.ended.extend(ended)
        self.flush = self.flush or flush
        return replaced


@dataclass(frozen=True)
class Finished:
    """A pass voted on: what one sighting is made of (pictures in memory, not yet written)."""

    camera: CameraRef
    vote: Vote
    region: str
    plate_crop: Image
    vehicle: Image
    box: tuple[int, int, int, int]  # the plate in the frame: x, y, w, h
    # Where each picture was cut out of the frame, and the frame's width and height: so the camera's
    # privacy masks can be applied to them (the vehicle picture of a dedicated camera is the whole frame).
    plate_cut: Cut
    vehicle_cut: Cut
    frame_size: tuple[int, int]
    seen_at: dt.datetime
    first_seen: dt.datetime
    last_seen: dt.datetime
    track_id: int | None
    vehicle_class: str | None
    colour: str | None
    direction: str | None


# Called on the plate worker's thread: it must return quickly (hand over to an event loop).
Sink = Callable[[Finished], None]


@dataclass(frozen=True)
class _Shot:
    """The pictures of one read: the plate and the vehicle (dedicated: the frame), and where each was cut."""

    plate: Image
    plate_cut: Cut
    vehicle: Image
    vehicle_cut: Cut
    frame_size: tuple[int, int]
    wall: dt.datetime


@dataclass
class _Pass:
    """The reads of one vehicle pass so far, and the pictures of the best read of each text."""

    first: dt.datetime
    last: dt.datetime
    last_mono: float = 0.0
    reads: list[PlateRead] = field(default_factory=list)  # boxes in frame pixels
    pictures: dict[str | None, tuple[float, _Shot]] = field(default_factory=dict)
    path: list[tuple[float, float, float]] = field(default_factory=list)  # dedicated: plate centres

    def add(self, read: PlateRead, shot: _Shot) -> None:
        self.reads.append(read)
        self.last = max(self.last, shot.wall)
        kept = self.pictures.get(read.text)
        if kept is None or read.confidence > kept[0]:
            self.pictures[read.text] = (read.confidence, shot)
        if len(self.pictures) > MAX_PICTURES:  # a dedicated camera's pictures are whole frames
            del self.pictures[min(self.pictures, key=lambda text: self.pictures[text][0])]

    def picture_of(self, text: str | None) -> _Shot:
        """The pictures of the best read of `text`, or of the best read kept."""
        return (self.pictures.get(text) or max(self.pictures.values(), key=lambda kept: kept[0]))[1]


class PlateQueue(LatestQueue[int, PlateJob, "CameraPlates"]):
    """The plate reader's queue: each camera's pending job, newer crops merged into it (see LatestQueue).

    Jobs are keyed by the CameraPlates object, not the camera: a camera whose settings changed keeps the
    old one's final job apart from the new one's. Its members are the cameras whose open passes the worker
    ends even when nothing comes.
    """

    def __init__(self) -> None:
        super().__init__(DROPS)


class CameraPlates:
    """One camera's plate reading: picks what to read (detector or camera thread) and gathers the reads
    of each pass until it ends (worker thread). Each side touches only its own state; the queue joins them.
    """

    def __init__(
        self, ref: CameraRef, settings: PlateSettings, queue: PlateQueue, *, sink: Sink, floor: float = 0.6
    ) -> None:
        self.ref = ref
        self.settings = settings
        self.queue = queue
        self.sink = sink
        self.floor = floor  # below this a voted plate is unreadable (the reader's own floor)
        self.reads = 0
        self.failures = 0
        self.passes = 0
        self.last_error: str | None = None
        # Detector thread: per track, (reads asked, its detections so far, detections at the last read,
        # box width at the last read).
        self._asked: dict[int, tuple[int, int, int, float]] = {}
        # Worker thread: the open passes, by track id (vehicles) or a number of their own (dedicated).
        self._open: dict[int, _Pass] = {}
        self._next_pass = 0
        # Camera thread: when the newest frame that moved was handed over (monotonic; one float, so
        # the worker reads it whole).
        self._moved_at = -float("inf")
        self._label = str(ref.camera_id)
        queue.register(ref.camera_id, self)

    @property
    def dedicated(self) -> bool:
        """Whether this camera reads whole frames (an ANPR camera) rather than tracked vehicles."""
        return self.settings.mode == "dedicated"

    # --- detector and camera threads: what to read -------------------------------------------------

    def on_tracks(self, image: Image, tracks: list[Track], expired: list[Track], wall: dt.datetime) -> None:
        """Hand the vehicles worth reading in this frame to the reader, and the tracks that ended."""
        if self.dedicated:
            return
        crops = []
        for track in tracks:
            if track.class_id not in VEHICLES:
                continue
            x1, y1, x2, y2 = (float(v) for v in track.box)
            width = x2 - x1
            if width < self.settings.min_vehicle_px:
                continue
            asked, seen, at_read, read_width = self._asked.get(track.track_id, (0, 0, 0, 0.0))
            seen += 1
            due = asked == 0 or seen - at_read >= READ_EVERY or width >= read_width * GROWTH
            if due and asked < MAX_READS:
                crop = _vehicle_crop(image, track.track_id, (x1, y1, x2, y2), wall)
                if crop is not None:
                    crops.append(crop)
                    asked, at_read, read_width = asked + 1, seen, width
            self._asked[track.track_id] = (asked, seen, at_read, read_width)
        ended = [_ended(t) for t in expired if self._asked.pop(t.track_id, None) is not None]
        if crops or ended:
            self.hand_over(crops=crops, ended=ended)

    def on_motion(self, frame: Frame, image: Image) -> None:
        """Dedicated mode: hand a frame that moved to the reader."""
        if self.dedicated:
            self._moved_at = frame.monotonic
            self.hand_over(frame=(frame, image))

    def close(self, active: Iterable[Track] = ()) -> None:
        """Finish every open pass (the camera stops or its settings changed); `active`: its live tracks."""
        ended = [_ended(t) for t in active if self._asked.pop(t.track_id, None) is not None]
        self._asked.clear()
        self.hand_over(ended=ended, flush=True)
        self.queue.unregister(self.ref.camera_id, self)

    def hand_over(
        self,
        *,
        crops: Iterable[VehicleCrop] = (),
        frame: tuple[Frame, Image] | None = None,
        ended: Iterable[Ended] = (),
        flush: bool = False,
    ) -> None:
        """Add to this camera's job waiting for the reader (newer crops of a track replace older ones)."""

        def gather(waiting: PlateJob | None) -> tuple[PlateJob, int]:
            job = waiting or PlateJob(self)
            return job, job.add(crops, frame, ended, flush)

        self.queue.update(id(self), gather)

    # --- the worker thread: reading, gathering, finishing ------------------------------------------

    def process(self, job: PlateJob, reader: PlateReader) -> list[Finished]:
        """Read a job's crops or frame, then finish the passes that ended; what was finished."""
        for crop in job.crops.values():
            self._read_vehicle(reader, crop)
        if job.frame is not None:
            self._read_frame(reader, *job.frame)
        finished = []
        for ended in job.ended:
            found = self._open.pop(ended.track_id, None)
            if found is not None:
                finished.append(self._finish(found, ended.track_id, ended))
        if job.flush:
            finished.extend(
                self._finish(p, key if not self.dedicated else None) for key, p in self._open.items()
            )
            self._open.clear()
        elif job.frame is not None:
            finished.extend(self.expire(job.frame[0].monotonic))
        self._hand_over(finished)
        return finished

    def expire(self, now: float) -> list[Finished]:
        """Dedicated mode: finish the passes whose plate was unseen for PASS_GAP_S at (monotonic) `now`."""
        if not self.dedicated:
            return []
        gone = [key for key, p in self._open.items() if now - p.last_mono > PASS_GAP_S]
        return [self._finish(self._open.pop(key), None) for key in gone]

    def tick(self, now: float) -> None:
        """End the passes that are over although no frame came (the lane went quiet).

        While frames still come, a pass ends by the frames' own times (in `process`), so a reader that
        falls behind never splits a pass in two.
        """
        if now - self._moved_at > PASS_GAP_S:
            self._hand_over(self.expire(now))

    def _read(self, reader: PlateReader, image: Image) -> list[PlateRead]:
        self.reads += 1
        READS.labels(self._label).inc()
        try:
            return reader.read(image, self.settings.region)
        except Exception as exc:  # a picture the reader chokes on costs that read only
            self.failures += 1
            self.last_error = f"plate reader failed: {type(exc).__name__}: {exc}"
            FAILURES.labels(self._label).inc()
            logger.exception("camera %s: the plate reader failed on a picture", self.ref.camera_id)
            return []

    def _read_vehicle(self, reader: PlateReader, crop: VehicleCrop) -> None:
        for read in self._read(reader, crop.image):
            if read.box[2] / crop.scale < self.settings.min_plate_px:
                continue  # too small to read reliably: a later, closer frame will do
            in_frame = _to_frame(read, crop)
            found = self._open.setdefault(crop.track_id, _Pass(crop.wall, crop.wall))
            plate, plate_cut = _plate_crop(crop.image, read.box)
            height, width = crop.image.shape[:2]
            vehicle_cut = crop.in_frame((0, 0, width, height))
            shot = _Shot(plate, crop.in_frame(plate_cut), crop.image, vehicle_cut, crop.frame_size, crop.wall)
            found.add(in_frame, shot)
            return  # one plate per vehicle: the most confident

    def _read_frame(self, reader: PlateReader, frame: Frame, image: Image) -> None:
        height, width = image.shape[:2]
        for read in self._read(reader, image):
            x, y, w, h = read.box
            if w < self.settings.min_plate_px:
                continue
            key = self._match(read)
            found = self._open.get(key)
            if found is None:
                found = self._open[key] = _Pass(frame.captured_at, frame.captured_at)
            if len(found.reads) >= MAX_PASS_READS:
                found.last_mono = frame.monotonic
                continue
            plate, plate_cut = _plate_crop(image, read.box)
            found.add(
                read,
                _Shot(plate, plate_cut, image, (0, 0, width, height), (width, height), frame.captured_at),
            )
            found.last_mono = frame.monotonic
            found.path.append((frame.monotonic, (x + w / 2) / width, (y + h) / height))

    def _match(self, read: PlateRead) -> int:
        """The open pass this read belongs to: the same text, or the nearest plate close enough; else new."""
        x, y, w, h = read.box
        best, distance = None, float("inf")
        for key, p in self._open.items():
            if read.text is not None and any(r.text == read.text for r in p.reads):
                return key
            px, py, pw, ph = p.reads[-1].box
            gap = float(np.hypot((x + w / 2) - (px + pw / 2), (y + h / 2) - (py + ph / 2)))
            if gap < 1.5 * max(w, pw) and gap < distance:
                best, distance = key, gap
        if best is not None:
            return best
        self._next_pass += 1
        return self._next_pass

    def _finish(self, found: _Pass, track_id: int | None, ended: Ended | None = None) -> Finished:
        vote = combine(found.reads, region=self.settings.region, floor=self.floor)
        best = found.reads[vote.best]
        shot = found.picture_of(best.text)
        direction = ended.direction if ended is not None else None
        if ended is None and found.path:  # the whole pass: its last reads may be seconds apart or at rest
            direction = attributes.motion(found.path, shot.frame_size, window_s=math.inf)["direction"]
        return Finished(
            camera=self.ref,
            vote=vote,
            region=self.settings.region,
            plate_crop=shot.plate,
            vehicle=shot.vehicle,
            box=best.box,
            plate_cut=shot.plate_cut,
            vehicle_cut=shot.vehicle_cut,
            frame_size=shot.frame_size,
            seen_at=shot.wall,
            first_seen=min(found.first, ended.first_seen) if ended and ended.first_seen else found.first,
            last_seen=max(found.last, ended.last_seen) if ended and ended.last_seen else found.last,
            track_id=track_id,
            vehicle_class=ended.vehicle_class if ended is not None else None,
            colour=ended.colour if ended is not None else None,
            direction=direction,
        )

    def _hand_over(self, finished: list[Finished]) -> None:
        for done in finished:
            self.passes += 1
            PASSES.labels(self._label).inc()
            try:
                self.sink(done)
            except Exception:  # a sighting that cannot be handed over must not stop the reader
                logger.exception("camera %s: a plate sighting could not be handed over", self.ref.camera_id)


def _ended(track: Track) -> Ended:
    described: dict[str, Any] = attributes.describe_track(track)
    return Ended(
        track.track_id,
        class_name(track.class_id),
        described["colour"],
        described["direction"],
        track.first_wall,
        track.last_wall,
    )


def _vehicle_crop(
    image: Image, track_id: int, box: tuple[float, float, float, float], wall: dt.datetime
) -> VehicleCrop | None:
    """The vehicle's box (a little padded) copied out of the frame and shrunk to CROP_SIDE at most."""
    x1, y1, x2, y2 = box
    pad_x, pad_y = PADDING * (x2 - x1), PADDING * (y2 - y1)
    height, width = image.shape[:2]
    left, top = max(0, round(x1 - pad_x)), max(0, round(y1 - pad_y))
    right, bottom = min(width, round(x2 + pad_x)), min(height, round(y2 + pad_y))
    if right - left < 8 or bottom - top < 8:
        return None
    crop = image[top:bottom, left:right]
    scale = min(1.0, CROP_SIDE / max(crop.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        shrunk = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    else:
        shrunk = crop.copy()
    return VehicleCrop(track_id, shrunk, (left, top), scale, wall, (width, height))


def _to_frame(read: PlateRead, crop: VehicleCrop) -> PlateRead:
    """The read with its box in the frame's pixels rather than the crop's."""
    x, y, w, h = read.box
    left, top = crop.offset
    box = (
        left + round(x / crop.scale),
        top + round(y / crop.scale),
        round(w / crop.scale),
        round(h / crop.scale),
    )
    return PlateRead(
        text=read.text,
        confidence=read.confidence,
        char_confidences=read.char_confidences,
        box=box,
        layout=read.layout,
        jurisdiction=read.jurisdiction,
        raw=read.raw,
        alternatives=read.alternatives,
    )


def _plate_crop(image: Image, box: tuple[int, int, int, int]) -> tuple[Image, Cut]:
    """The plate (a little padded) copied out of the picture it was read in, and where it was cut."""
    x, y, w, h = box
    pad = round(PLATE_PADDING * h)
    height, width = image.shape[:2]
    left, top = max(0, x - pad), max(0, y - pad)
    right, bottom = min(width, x + w + pad), min(height, y + h + pad)
    return image[top:bottom, left:right].copy(), (left, top, right, bottom)


@dataclass
class PlateWorker:
    """The plate reader's thread: takes the longest-waiting camera's job and reads it."""

    reader: PlateReader
    queue: PlateQueue
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start taking jobs."""
        self._thread = threading.Thread(target=self._run, name="analytics-plates", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop once the jobs waiting are done (cameras stopping leave their final job)."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self.queue.get(timeout=0.5)
            if job is None and self._stop.is_set():
                return
            if job is not None:
                self.run_one(job)
            now = time.monotonic()
            for camera in self.queue.members():
                try:
                    camera.tick(now)
                except Exception:
                    logger.exception("camera %s: open plate passes could not be ended", camera.ref.camera_id)

    def run_one(self, job: PlateJob) -> list[Finished]:
        """Read one job; a failure is that job's problem only."""
        try:
            return job.camera.process(job, self.reader)
        except Exception as exc:
            job.camera.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("camera %s: plate reading failed", job.camera.ref.camera_id)
            return []
