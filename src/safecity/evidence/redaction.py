"""Privacy redaction: the faces and number plates of people not in a case blurred in exported media.

    picture ─ face detector (RetinaFace) + plate reader (PP-OCR) ─▶ regions ─ review ─▶ blurred copy
    video   ─ frames sampled every `sample_every_s` ─▶ detections linked over time (IoU) into region
              tracks, one per bystander or vehicle ─ review (blur on/off, manual boxes) ─▶ H.264 copy

A plan is JSON (`RedactionPlan.model_dump(mode="json")`) so the export workflow stores it and the review
page edits it: each region track has `blur` (default on), and manual regions (a box over a time span) can
be added. The source file is only ever read: the redacted copy is written beside `dst` and renamed into
place when complete. The blur is a coarse pixelation smoothed by a Gaussian: what was in the box is reduced
to a few cells of colour, not recoverable by deblurring.
"""

from __future__ import annotations

import base64
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.container
import av.video.stream
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from safecity.analytics.faces.base import FaceDetector, build_detector
from safecity.analytics.plates.base import PlateReader, build_reader
from safecity.analytics.types import Image
from safecity.cameras.privacy import service as privacy
from safecity.config import FaceSettings
from safecity.core.errors import InvalidInput

logger = logging.getLogger(__name__)

Kind = Literal["face", "plate", "manual"]
Box = tuple[int, int, int, int]  # x, y, width, height in pixels
Progress = Callable[[float], None]

# below the recognition default (0.8): a missed bystander costs more than a blurred sign
FACE_MIN_SCORE = 0.75
PAD = {"face": 0.2, "plate": 0.12, "manual": 0.0}  # of the box's size, added on every side
LINK_IOU = 0.1  # a detection continues a track when it overlaps the track's last box this much
LINK_DISTANCE = 1.5  # or its centre is within this many box sizes of it (a face moving fast)
MAX_GAP_S = 1.6  # a track missing for longer than this has ended (a new detection starts a new one)
BLUR_CELLS = 8  # the box is reduced to about this many cells across its longer side
THUMB_SIDE = 128
THUMB_CONTEXT = 0.6  # of the box's size shown around it in the thumbnail
PLAN_VERSION = 1
PICTURES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
CRF = "18"  # visually lossless outside the blurred boxes: evidence, not a preview


class Region(BaseModel):
    """A region of a picture to blur: a face, a plate, or one drawn by hand."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    box: Box
    score: float = Field(default=1.0, ge=0, le=1)
    blur: bool = True


class Key(BaseModel):
    """A region track's box at one moment (seconds from the start of the video)."""

    model_config = ConfigDict(extra="forbid")

    t: float = Field(ge=0)
    box: Box


class RegionTrack(BaseModel):
    """One face, plate or manual box over time: one entry the reviewer keeps or removes the blur of.

    `keys` are the boxes found on sampled frames (padded); between two keys the box is interpolated, and
    from `start` to the first key and from the last key to `end` the nearest key's box holds.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Kind
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    keys: list[Key] = Field(min_length=1)
    score: float = Field(default=1.0, ge=0, le=1)
    blur: bool = True
    key_t: float = 0.0  # the moment of the thumbnail (the best detection)
    thumbnail: str = ""  # a data: URL of a small JPEG around the region, its box drawn

    def box_at(self, t: float) -> Box | None:
        """The box at `t` seconds, or None outside the track's span."""
        if t < self.start or t > self.end:
            return None
        keys = self.keys
        if t <= keys[0].t:
            return keys[0].box
        if t >= keys[-1].t:
            return keys[-1].box
        lo, hi = 0, len(keys) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if keys[mid].t <= t:
                lo = mid
            else:
                hi = mid
        a, b = keys[lo], keys[hi]
        f = (t - a.t) / max(b.t - a.t, 1e-9)
        return (
            round(a.box[0] + (b.box[0] - a.box[0]) * f),
            round(a.box[1] + (b.box[1] - a.box[1]) * f),
            round(a.box[2] + (b.box[2] - a.box[2]) * f),
            round(a.box[3] + (b.box[3] - a.box[3]) * f),
        )


class RedactionPlan(BaseModel):
    """What to blur in one video: its region tracks, found automatically and edited by a reviewer."""

    model_config = ConfigDict(extra="forbid")

    version: int = PLAN_VERSION
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    duration: float = Field(ge=0)
    sample_every_s: float = Field(gt=0)
    samples: int = 0  # frames looked at
    tracks: list[RegionTrack] = Field(default_factory=list)

    def track(self, track_id: str) -> RegionTrack:
        """The region track with this id (InvalidInput if there is none)."""
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise InvalidInput(f"no region {track_id!r} in this plan", code="no_such_region")

    def set_blur(self, track_id: str, blur: bool) -> RegionTrack:
        """Keep (True) or remove (False) the blur of one region track."""
        track = self.track(track_id)
        track.blur = blur
        return track

    def add_manual(self, box: Box, start: float, end: float) -> RegionTrack:
        """A box drawn by the reviewer, blurred from `start` to `end` seconds (clipped to the picture)."""
        clipped = clip_box(box, self.width, self.height)
        if clipped is None:
            raise InvalidInput("the box lies outside the picture", code="box_outside_picture")
        if end < start or start < 0:
            raise InvalidInput("a region's time span must run forwards from zero", code="bad_time_span")
        number = 1 + sum(t.kind == "manual" for t in self.tracks)
        while any(t.id == f"m{number}" for t in self.tracks):
            number += 1
        track = RegionTrack(
            id=f"m{number}",
            kind="manual",
            start=start,
            end=end,
            keys=[Key(t=start, box=clipped)],
            key_t=start,
        )
        self.tracks.append(track)
        return track

    def remove_manual(self, track_id: str) -> None:
        """Take away a manual region (found regions are kept: their blur is switched off instead)."""
        track = self.track(track_id)
        if track.kind != "manual":
            raise InvalidInput(
                "only manual regions are removed; switch the blur off instead", code="not_manual"
            )
        self.tracks.remove(track)

    def boxes_at(self, t: float) -> list[Box]:
        """Every box to blur at `t` seconds."""
        out = []
        for track in self.tracks:
            if track.blur:
                box = track.box_at(t)
                if box is not None:
                    out.append(box)
        return out

    @property
    def blurred(self) -> int:
        """How many region tracks will be blurred."""
        return sum(t.blur for t in self.tracks)


# --- detection ----------------------------------------------------------------------------------------


class Detectors:
    """The face detector and plate reader redaction uses, built on first use, one caller at a time."""

    def __init__(self, faces: dict[str, Any] | None = None, plates: dict[str, Any] | None = None) -> None:
        config = dict(faces if faces is not None else FaceSettings().detector)
        config["min_score"] = min(float(config.get("min_score", FACE_MIN_SCORE)), FACE_MIN_SCORE)
        self._face_config = config
        self._plate_config = plates if plates is not None else {"type": "rapidocr", "region": "ANY"}
        self._faces: FaceDetector | None = None
        self._plates: PlateReader | None = None
        self._lock = threading.Lock()

    def find(self, image: Image, *, thorough: bool = True) -> list[Region]:
        """The faces and plates in a BGR picture (`thorough` False: one pass each, for video frames)."""
        with self._lock:
            if self._faces is None:
                self._faces = build_detector(self._face_config)
            if self._plates is None:
                self._plates = build_reader(self._plate_config)
            faces = self._faces.detect(image)
            plates = self._plates.read(image, retry=thorough)
        height, width = image.shape[:2]
        out: list[Region] = []
        for face in faces:
            box = clip_box(padded(face.box, PAD["face"]), width, height)
            if box is not None:
                out.append(Region(kind="face", box=box, score=round(min(face.score, 1.0), 3)))
        for plate in plates:
            box = clip_box(padded(plate.box, PAD["plate"]), width, height)
            if box is not None:
                score = round(min(max(plate.confidence, 0.0), 1.0), 3)
                out.append(Region(kind="plate", box=box, score=score))
        return out


@functools.cache
def shared_detectors() -> Detectors:
    """The process's detectors for redaction (the models load on first use)."""
    return Detectors()


def find_regions(image: Image, *, detectors: Detectors | None = None) -> list[Region]:
    """Every face and number plate in a BGR picture, as regions to blur (boxes padded a little).

    Args:
        image: a BGR picture.
        detectors: the models to use (default: the process's shared ones).

    Returns:
        Faces first, then plates; each with blur on.
    """
    return (detectors or shared_detectors()).find(image)


def plan_image(image: Image, *, detectors: Detectors | None = None) -> RedactionPlan:
    """A picture's faces and plates as a plan of its own (a single moment, t = 0), to review like a video's.

    Each region is a track with one key; `regions_of` turns the reviewed plan back into regions to blur.
    """
    height, width = image.shape[:2]
    counters = {"face": 0, "plate": 0, "manual": 0}
    tracks = []
    for region in find_regions(image, detectors=detectors):
        counters[region.kind] += 1
        tracks.append(
            RegionTrack(
                id=f"{region.kind[0]}{counters[region.kind]}",
                kind=region.kind,
                start=0.0,
                end=0.0,
                keys=[Key(t=0.0, box=region.box)],
                score=region.score,
                thumbnail=_jpeg_url(_thumbnail(image, region.box)),
            )
        )
    return RedactionPlan(
        width=width, height=height, fps=1.0, duration=0.0, sample_every_s=1.0, samples=1, tracks=tracks
    )


def regions_of(plan: RedactionPlan, t: float = 0.0) -> list[Region]:
    """The plan's regions at `t` (a picture's plan: t = 0), with their blur as reviewed."""
    out = []
    for track in plan.tracks:
        box = track.box_at(t)
        if box is not None:
            out.append(Region(kind=track.kind, box=box, score=track.score, blur=track.blur))
    return out


def padded(box: Box, fraction: float) -> Box:
    """The box grown by `fraction` of its size on every side."""
    x, y, w, h = box
    dx, dy = round(w * fraction), round(h * fraction)
    return (x - dx, y - dy, w + 2 * dx, h + 2 * dy)


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The box cut to the picture, or None when nothing of it is inside."""
    x, y, w, h = box
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(width, x + w), min(height, y + h)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# --- blurring -----------------------------------------------------------------------------------------


def blur_boxes(image: Image, boxes: Iterable[Box]) -> Image:
    """The picture with every box pixelated and smoothed, in place (the caller's array is changed)."""
    height, width = image.shape[:2]
    for box in boxes:
        clipped = clip_box(box, width, height)
        if clipped is None:
            continue
        x, y, w, h = clipped
        patch = image[y : y + h, x : x + w]
        cell = max(2.0, max(w, h) / BLUR_CELLS)
        small = cv2.resize(
            patch, (max(1, round(w / cell)), max(1, round(h / cell))), interpolation=cv2.INTER_AREA
        )
        coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        sigma = max(1.0, cell / 2)
        image[y : y + h, x : x + w] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return image


def redact_image(src: Path, dst: Path, regions: Sequence[Region], *, masks: privacy.Masks = ()) -> Path:
    """A copy of the picture at `src` with every region whose blur is on blurred (and the camera's privacy
    `masks` blacked out), written to `dst`.

    The format follows `dst`'s suffix (JPEG at quality 95, or PNG); `src` is only read.
    """
    if dst.resolve() == src.resolve():
        raise InvalidInput("a redacted copy never replaces its original", code="redaction_in_place")
    read = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if read is None:
        raise InvalidInput(f"{src.name} is not a picture", code="not_a_picture")
    image: Image = np.asarray(privacy.apply_masks(read, masks), dtype=np.uint8)
    blur_boxes(image, [r.box for r in regions if r.blur])
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if dst.suffix.lower() in {".jpg", ".jpeg"} else []
    ok, encoded = cv2.imencode(dst.suffix or ".jpg", image, params)
    if not ok:
        raise InvalidInput(f"cannot write a {dst.suffix} picture", code="bad_picture_format")
    partial = dst.with_name(dst.name + ".part")
    partial.write_bytes(encoded.tobytes())
    partial.replace(dst)
    return dst


def draw_regions(image: Image, regions: Iterable[tuple[str, Box, bool]]) -> Image:
    """A copy of the picture with each (label, box, blur) drawn: red when blurred, green when kept."""
    out = image.copy()
    for label, (x, y, w, h), blur in regions:
        colour = (40, 40, 230) if blur else (60, 200, 60)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        at = (x + 2, max(12, y - 4))
        cv2.putText(out, label, at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def _jpeg_url(image: Image, quality: int = 80) -> str:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _thumbnail(image: Image, box: Box) -> Image:
    """The region with some context around it, its box drawn, at most THUMB_SIDE pixels."""
    height, width = image.shape[:2]
    around = clip_box(padded(box, THUMB_CONTEXT), width, height) or (0, 0, width, height)
    x, y, w, h = around
    crop = image[y : y + h, x : x + w].copy()
    bx, by = box[0] - x, box[1] - y
    cv2.rectangle(crop, (bx, by), (bx + box[2] - 1, by + box[3] - 1), (40, 40, 230), 2)
    scale = min(1.0, THUMB_SIDE / max(w, h))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return np.asarray(crop, dtype=np.uint8)


# --- planning a video ---------------------------------------------------------------------------------


@dataclass
class _Open:
    """A region track being followed through the samples."""

    kind: Kind
    keys: list[Key] = field(default_factory=list)
    best: float = -1.0
    best_t: float = 0.0
    thumb: Image | None = None

    @property
    def last(self) -> Key:
        return self.keys[-1]


def _similarity(track: _Open, region: Region) -> float:
    """How well a detection continues a track: above 1 by overlap, 0-1 by nearness; negative: no match."""
    last = track.last.box
    overlap = iou(last, region.box)
    if overlap >= LINK_IOU:
        return 1.0 + overlap
    size = max(last[2], last[3], 1)
    ratio = (region.box[2] * region.box[3]) / max(last[2] * last[3], 1)
    if not 0.4 <= ratio <= 2.5:
        return -1.0
    ax, ay = last[0] + last[2] / 2, last[1] + last[3] / 2
    bx, by = region.box[0] + region.box[2] / 2, region.box[1] + region.box[3] / 2
    distance = float(np.hypot(ax - bx, ay - by)) / size
    return 1.0 - distance / LINK_DISTANCE if distance <= LINK_DISTANCE else -1.0


def _link(open_: list[_Open], regions: list[Region], t: float, image: Image) -> list[_Open]:
    """Each detection added to the track it continues best (greedy), or starting a new one."""
    pairs = sorted(
        (
            (_similarity(track, region), i, j)
            for i, track in enumerate(open_)
            for j, region in enumerate(regions)
            if track.kind == region.kind and track.last.t < t
        ),
        reverse=True,
    )
    taken_tracks: set[int] = set()
    taken_regions: set[int] = set()
    for score, i, j in pairs:
        if score < 0 or i in taken_tracks or j in taken_regions:
            continue
        taken_tracks.add(i)
        taken_regions.add(j)
        _add(open_[i], regions[j], t, image)
    new = []
    for j, region in enumerate(regions):
        if j not in taken_regions:
            track = _Open(kind=region.kind)
            _add(track, region, t, image)
            new.append(track)
    return new


def _add(track: _Open, region: Region, t: float, image: Image) -> None:
    track.keys.append(Key(t=round(t, 3), box=region.box))
    if region.score > track.best:
        track.best, track.best_t = region.score, t
        track.thumb = _thumbnail(image, region.box)


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise InvalidInput("the file holds no video", code="no_video")
    return container.streams.video[0]


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _rate(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(25)


def plan_video(
    path: Path,
    *,
    sample_every_s: float = 0.4,
    progress: Progress | None = None,
    detectors: Detectors | None = None,
) -> RedactionPlan:
    """The faces and plates of a video as region tracks, each with blur on, for review.

    Frames are looked at every `sample_every_s` seconds; the frames between are decoded only when others
    refer to them (no picture is converted unless it is looked at). A detection continues the track of its
    kind whose last box it overlaps (or is near, for fast movement) and which was seen within MAX_GAP_S;
    boxes are padded, interpolated between samples and held half a sample beyond the first and last.

    Args:
        path: the video (any container and codec PyAV reads); only read.
        sample_every_s: seconds between the frames looked at (0.2-0.5 keeps a walking face covered).
        progress: called with the fraction done (0-1) as the frames are looked at.
        detectors: the models to use (default: the process's shared ones).

    Returns:
        The plan: one region track per face or plate followed over time, in order of first appearance.
    """
    if not 0.04 <= sample_every_s <= 5:
        raise InvalidInput("sample between 0.04 and 5 seconds apart", code="bad_sampling")
    models = detectors or shared_detectors()
    open_: list[_Open] = []
    done: list[_Open] = []
    samples = 0
    origin: float | None = None
    last_t = 0.0
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container)
            rate = _rate(stream)
            duration = _duration(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            decoder = stream.codec_context
            decoder.thread_type = "AUTO"
            tolerance = 0.5 / float(rate)
            time_base = stream.time_base or Fraction(1, 90_000)
            due = 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and origin is not None:
                    # a frame not due to be looked at is decoded only if others refer to it
                    at = float(packet.pts * time_base) - origin
                    wanted = packet.is_keyframe or at >= due - tolerance
                    decoder.skip_frame = "DEFAULT" if wanted else "NONREF"
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    if origin is None:  # times count from the first frame shown, as in redact_video
                        origin = frame.time
                    t = frame.time - origin
                    last_t = max(last_t, t)
                    if t < due - tolerance:
                        continue
                    due = t + sample_every_s
                    image: Image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                    width, height = image.shape[1], image.shape[0]
                    regions = models.find(image, thorough=False)
                    samples += 1
                    still: list[_Open] = []
                    for track in open_:
                        (still if t - track.last.t <= MAX_GAP_S else done).append(track)
                    open_ = still
                    open_.extend(_link(open_, regions, t, image))
                    if progress is not None and duration > 0:
                        progress(min(1.0, t / duration))
    except av.FFmpegError as exc:
        raise InvalidInput(f"the video cannot be read: {exc}", code="unreadable_video") from exc
    if samples == 0:
        raise InvalidInput("the video holds no frame", code="no_frames")
    if progress is not None:
        progress(1.0)
    duration = max(duration, last_t + 1 / float(rate))
    found = sorted([*done, *open_], key=lambda k: (k.keys[0].t, k.kind))
    counters = {"face": 0, "plate": 0, "manual": 0}
    tracks = []
    for item in found:
        counters[item.kind] += 1
        tracks.append(
            RegionTrack(
                id=f"{item.kind[0]}{counters[item.kind]}",
                kind=item.kind,
                start=round(max(0.0, item.keys[0].t - sample_every_s), 3),
                end=round(min(duration, item.keys[-1].t + sample_every_s), 3),
                keys=item.keys,
                score=round(max(item.best, 0.0), 3),
                key_t=round(item.best_t, 3),
                thumbnail=_jpeg_url(item.thumb) if item.thumb is not None else "",
            )
        )
    return RedactionPlan(
        width=width,
        height=height,
        fps=round(float(rate), 3),
        duration=round(duration, 3),
        sample_every_s=sample_every_s,
        samples=samples,
        tracks=tracks,
    )


def frame_at(path: Path, t: float) -> Image:
    """The frame shown at `t` seconds into the video (the last one before it), as BGR."""
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container)
            start: float | None = None
            for frame in container.decode(stream):  # the first frame shown: where the plan's times start
                if frame.time is not None:
                    start = frame.time
                    break
            if start is None:
                raise InvalidInput("the video holds no frame", code="no_frames")
            time_base = stream.time_base or Fraction(1, 90_000)
            container.seek(max(0, round((start + t - 1.0) / time_base)), stream=stream, backward=True)
            chosen: Image | None = None
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if chosen is not None and frame.time - start > t + 1e-3:
                    break
                chosen = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
    except av.FFmpegError as exc:
        raise InvalidInput(f"the video cannot be read: {exc}", code="unreadable_video") from exc
    if chosen is None:
        raise InvalidInput("the video holds no frame", code="no_frames")
    return chosen


def preview(path: Path, plan: RedactionPlan, t: float, *, max_side: int = 960) -> bytes:
    """A JPEG of the frame at `t` seconds (of a picture: the picture) with every region there drawn (red:
    blurred, green: kept)."""
    if path.suffix.lower() in PICTURES:
        read = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if read is None:
            raise InvalidInput(f"{path.name} is not a picture", code="not_a_picture")
        image: Image = np.asarray(read, dtype=np.uint8)
    else:
        image = frame_at(path, t)
    drawn = draw_regions(
        image, [(track.id, box, track.blur) for track in plan.tracks if (box := track.box_at(t)) is not None]
    )
    height, width = drawn.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        drawn = np.asarray(cv2.resize(drawn, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InvalidInput("the preview could not be encoded", code="bad_picture_format")
    return encoded.tobytes()


# --- redacting a video --------------------------------------------------------------------------------


def redact_video(
    src: Path,
    dst: Path,
    plan: RedactionPlan,
    *,
    progress: Progress | None = None,
    masks: privacy.Masks = (),
) -> Path:
    """A copy of the video with every region track whose blur is on blurred in every frame it spans, and
    the camera's privacy `masks` blacked out in every frame.

    Re-encoded as H.264 (libx264, yuv420p) in an MP4 with its index first (faststart), at the source's
    resolution and frame timing; audio is not carried (recordings hold none). `src` is only read; the copy
    is written next to `dst` and renamed into place once complete.

    Args:
        src: the original video.
        dst: where the redacted MP4 goes (never `src`).
        plan: what to blur.
        progress: called with the fraction done (0-1).
        masks: the camera's privacy masks (polygons in fractions of the picture).

    Returns:
        `dst`.
    """
    if dst.resolve() == src.resolve():
        raise InvalidInput("a redacted copy never replaces its original", code="redaction_in_place")
    partial = dst.with_name(dst.name + ".part")
    try:
        with av.open(str(src)) as source:
            stream = _video_stream(source)
            rate = _rate(stream)
            duration = _duration(source, stream) or plan.duration
            stream.codec_context.thread_type = "AUTO"
            time_base = stream.time_base or Fraction(1, 90_000)
            with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                encoder = out.add_stream("libx264", rate=rate)
                encoder.width = stream.codec_context.width
                encoder.height = stream.codec_context.height
                encoder.pix_fmt = "yuv420p"
                encoder.time_base = time_base
                encoder.codec_context.options = {"crf": CRF, "preset": "veryfast"}
                origin: int | None = None
                last_pts = -1
                for frame in source.decode(stream):
                    if frame.pts is None:
                        continue
                    if origin is None:
                        origin = frame.pts
                    t = float((frame.pts - origin) * time_base)
                    decoded = privacy.apply_masks(frame.to_ndarray(format="bgr24"), masks)
                    image = np.array(decoded, dtype=np.uint8)  # a copy of its own: blurred in place
                    blur_boxes(image, plan.boxes_at(t))
                    picture = av.VideoFrame.from_ndarray(image, format="bgr24")
                    pts = max(frame.pts - origin, last_pts + 1)  # strictly increasing for the muxer
                    picture.pts, picture.time_base, last_pts = pts, time_base, pts
                    out.mux(encoder.encode(picture))
                    if progress is not None and duration > 0:
                        progress(min(0.999, t / duration))
                out.mux(encoder.encode(None))
                if origin is None:
                    raise InvalidInput("the video holds no frame", code="no_frames")
        partial.replace(dst)
    except av.FFmpegError as exc:
        raise InvalidInput(f"the video cannot be redacted: {exc}", code="unreadable_video") from exc
    finally:
        partial.unlink(missing_ok=True)
    if progress is not None:
        progress(1.0)
    return dst
