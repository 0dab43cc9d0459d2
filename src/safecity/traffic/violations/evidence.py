"""A violation's evidence packet, built from the recording: the ±5 s clip remuxed without re-encoding,
the frames 1 s before, at and 1 s after the offence with the vehicle marked, and the plate crop; each
file's SHA-256 and size in a manifest, with what a public copy is to blur and keep.

Finding the offence in the recording: the event's time is when the analytics decoded the frame, and the
recording's timeline is the recorder's; the two agree to within a second. Where the event's snapshot is
kept, the frame is found exactly: the recorded frame (within ALIGN_S of the event's time) whose pixels in
the vehicle's box best match the snapshot's. The vehicle is then followed to the frames a second before
and after by matching its picture near where it was (several scales: it grows as it comes closer). A
vehicle not found there is left unmarked rather than marked in the wrong place, and the manifest says so.

Public copies (`write_public_copies`, made from the packet's frames when a challan is issued: most violations
never become one, and a reviewer works from the frames themselves) blur all of the picture except the
offending vehicle (and the signal's lamps, where a lamp is read): a detector would miss some faces and
plates; blurring everything else misses none.

Violations come in bursts (a junction's red phase, a platoon past a speed camera) whose clips come from
the same few segments, so the violations of one camera close in time are built together (`bursts`,
`build_burst`): each segment is opened and demuxed once and every clip remuxed from its packets, and the
frames they all need are decoded in one pass (each span from the key frame at or before it; frames nothing
needs and nothing refers to skipped; gaps between spans jumped over) and handed to every violation as they
come. A violation's pictures are made as soon as its frames are chosen, so few decoded frames are held: at
most KEEP_BYTES, past which the oldest go and a frame still wanted is decoded again.

Blocking work (decoding, encoding, hashing): run it off the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

import av
import av.video.frame
import cv2
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from safecity.analytics.types import Image
from safecity.core.storage import contained
from safecity.traffic.violations.service import EvidencePlan
from safecity.video.clips import Demuxed, read_segment, remux_segments
from safecity.video.recorder import file_sha256, wall_offset

logger = logging.getLogger(__name__)

VERSION = 2  # 2: no public copies in the packet (they are made for the challan)
JPEG_QUALITY = 90
ALIGN_S = 1.2  # the recording's and the analytics' clocks agree to about a second
FRAME_OFFSET_S = 1.0  # "before" and "after" frames
MARGIN_S = 0.25  # a frame shown is the recorded one nearest its moment, if that is within this
KEEP_BYTES = 64 << 20  # of decoded frames held for pictures still to be chosen (at 4K some are decoded twice)
DECODE_THREADS = "NONE"  # the workers decode in parallel already: a decoder's own threads only add switching
BURST_MOST = 24  # violations built together: one decoding for all, yet bursts enough to share out
MATCH_MIN = 0.5  # normalised correlation for "this is the same vehicle"
SCALES = (0.8, 0.9, 1.0, 1.12, 1.25)
SEARCH = 1.5  # the vehicle is looked for within this many of its box's sizes around where it was
MATCH_SIDE = 96  # pictures are matched at about this size (a vehicle's box), for speed
COARSE_SIDE = 32  # ... after a first look at every scale at this size, then only near its best
PIXELATE = 16  # public copies: the picture is shrunk this many times and blown up again
MARK = (0, 0, 255)  # BGR red
FRAMES = ("before", "at", "after")
ROLES = (*FRAMES, "plate", "clip")
LUMA_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}
Box = tuple[float, float, float, float]
Pixels = tuple[int, int, int, int]
Span = tuple[dt.datetime, dt.datetime]

ALIGN = dt.timedelta(seconds=ALIGN_S)
OFFSET = dt.timedelta(seconds=FRAME_OFFSET_S)
MARGIN = dt.timedelta(seconds=MARGIN_S)


def folder(plan: EvidencePlan) -> str:
    """Where a violation's files live, relative to the evidence directory: <camera>/<day>/<violation>."""
    return f"{plan.camera_id}/{plan.occurred_at.astimezone(dt.UTC):%Y-%m-%d}/{plan.violation_id}"


def canonical(manifest: dict[str, Any]) -> bytes:
    """The manifest as canonical JSON (sorted keys, no spaces): what its hash is taken over."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """The SHA-256 of the manifest as canonical JSON."""
    return hashlib.sha256(canonical(manifest)).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a file."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def _jpeg(image: Image) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("a frame could not be encoded as JPEG")
    return bytes(data.tobytes())


def _luma(frame: av.video.frame.VideoFrame) -> Image:
    """The frame in grey: its luma plane as it is (no copy, no conversion). Matching by normalised
    correlation is blind to the luma's range, so this matches as the converted grey picture would.
    """
    if frame.format.name not in LUMA_FORMATS:
        return cast(Image, frame.to_ndarray(format="gray"))
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * frame.height)
    return rows.reshape(frame.height, plane.line_size)[:, : frame.width]


def _bgr(frame: av.video.frame.VideoFrame, reformatter: VideoReformatter) -> Image:
    """The frame in colour. One reformatter for many frames: a frame's own sets up its conversion anew."""
    return np.ascontiguousarray(reformatter.reformat(frame, format="bgr24").to_ndarray())  # to draw on


def _read_grey(path: Path) -> Image | None:
    return cast(Image | None, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def _clip_box(box: Box, width: int, height: int) -> Pixels | None:
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    return (x1, y1, x2, y2) if x2 - x1 >= 4 and y2 - y1 >= 4 else None


def _inner(box: Pixels, margin: float = 0.15) -> Pixels:
    """The box without its edges, where a snapshot's drawn rectangle and label lie."""
    x1, y1, x2, y2 = box
    dx, dy = max(3, round((x2 - x1) * margin)), max(3, round((y2 - y1) * margin))
    return x1 + dx, y1 + dy, max(x1 + dx + 2, x2 - dx), max(y1 + dy + 2, y2 - dy)


def _dot(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    # Not `a @ b`: that goes through BLAS, whose threads cost more than such a product.
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True)
class _Likeness:
    """A grey patch made ready to be compared with many others of its size (centred once)."""

    shape: tuple[int, ...]
    centred: npt.NDArray[np.float64]
    spread: float

    @classmethod
    def of(cls, patch: Image) -> _Likeness:
        values = patch.astype(np.float64).ravel()
        centred = values - values.mean()
        return cls(patch.shape, centred, math.sqrt(_dot(centred, centred)))

    def to(self, patch: Image) -> float:
        """Normalised correlation with an equal-sized patch (-1..1)."""
        if patch.shape != self.shape:
            return -1.0
        values = patch.astype(np.float64).ravel()
        # The centred patch sums to zero: the other's mean need not be taken off its values.
        square = max(_dot(values, values) - float(values.sum()) ** 2 / values.size, 0.0)
        norm = math.sqrt(square) * self.spread
        return _dot(values, self.centred) / norm if norm > 0 else -1.0


def _shrunk(image: Image, times: int) -> Image:
    """The picture `times` times smaller (a whole factor: the fast way of INTER_AREA), edges cut to fit."""
    if times <= 1:
        return image
    height, width = image.shape[:2]
    cut = image[: height - height % times, : width - width % times]
    return cast(Image, cv2.resize(cut, None, fx=1 / times, fy=1 / times, interpolation=cv2.INTER_AREA))


def _resized(image: Image, width: int, height: int) -> Image:
    return cast(Image, cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def _best(image: Image, template: Image) -> tuple[float, int, int]:
    """The template's best place in the picture by normalised correlation: score, x, y."""
    scores = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    _, score, _, (x, y) = cv2.minMaxLoc(scores)
    return float(score), int(x), int(y)


def _best_near(image: Image, template: Image, x1: int, y1: int, x2: int, y2: int) -> tuple[float, int, int]:
    """As _best, for the template's top-left corner within [x1, x2] x [y1, y2] only: computed directly,
    as OpenCV's matchTemplate spends as long on a few places as on a whole picture.
    """
    th, tw = template.shape[:2]
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(image.shape[1] - tw, x2), min(image.shape[0] - th, y2)
    if x2 < x1 or y2 < y1:
        return -1.0, 0, 0
    region = image[y1 : y2 + th, x1 : x2 + tw].astype(np.float64)
    centred = template.astype(np.float64)
    centred -= centred.mean()
    spread = float(np.sqrt((centred * centred).sum()))
    places = np.lib.stride_tricks.sliding_window_view(region, (th, tw))
    products = np.einsum("ijkl,kl->ij", places, centred)  # the template sums to 0: no mean to take off
    sums = places.sum(axis=(2, 3))
    squares = np.einsum("ijkl,ijkl->ij", places, places)
    norms = np.sqrt(np.maximum(squares - sums * sums / (th * tw), 0.0)) * spread
    scores = np.where(norms > 0, products / np.where(norms > 0, norms, 1.0), -1.0)
    y, x = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[y, x]), x1 + int(x), y1 + int(y)


def _locate(gray: Image, template: Image, around: Pixels | None) -> tuple[Pixels, float] | None:
    """Where `template` best matches `gray` (near `around`, if given, else anywhere), over SCALES.

    Matched at about MATCH_SIDE pixels (a whole number of times smaller); first at about COARSE_SIDE, over
    the whole window at every scale, then at MATCH_SIDE only at the scales that came close, only around
    where they matched.
    """
    height, width = gray.shape[:2]
    th, tw = template.shape[:2]
    if around is not None:
        x1, y1, x2, y2 = around
        w, h = x2 - x1, y2 - y1
        wx1, wy1 = max(0, round(x1 - SEARCH * w)), max(0, round(y1 - SEARCH * h))
        wx2, wy2 = min(width, round(x2 + SEARCH * w)), min(height, round(y2 + SEARCH * h))
    else:
        wx1, wy1, wx2, wy2 = 0, 0, width, height
    window = gray[wy1:wy2, wx1:wx2]
    side = max(th, tw, 1)
    fine = max(1, round(side / MATCH_SIDE))
    coarse = max(fine, round(side / COARSE_SIDE))
    small = _shrunk(window, fine)
    first = _shrunk(window, coarse)
    looks: list[tuple[float, int, int, float]] = []  # score, x, y in `first`, scale
    for scale in SCALES:
        sw, sh = round(tw * scale / coarse), round(th * scale / coarse)
        if sw < 4 or sh < 4 or sw > first.shape[1] or sh > first.shape[0]:
            continue
        looks.append((*_best(first, _resized(template, sw, sh)), scale))
    if not looks:
        return None
    best: tuple[Pixels, float] | None = None
    top = max(look[0] for look in looks)
    ratio = coarse / fine  # one pixel of `first` in `small`
    slack = round(ratio) + 1
    for score, x, y, scale in looks:
        if score < top - 0.1:
            continue
        sw, sh = round(tw * scale / fine), round(th * scale / fine)
        if sw < 8 or sh < 8 or sw > small.shape[1] or sh > small.shape[0]:
            continue
        resized = _resized(template, sw, sh)
        cx, cy = round(x * ratio), round(y * ratio)
        if coarse == fine:
            found, lx, ly = score, x, y
        else:
            found, lx, ly = _best_near(small, resized, cx - slack, cy - slack, cx + slack, cy + slack)
        if best is None or found > best[1]:
            left, upper = wx1 + lx * fine, wy1 + ly * fine
            best = ((left, upper, left + sw * fine, upper + sh * fine), found)
    return best


def _mark(canvas: Image, box: tuple[int, int, int, int] | None, caption: str) -> Image:
    """The picture marked (in place) with the vehicle's box and the caption."""
    height, width = canvas.shape[:2]
    thickness = max(2, round(width / 320))
    if box is not None:
        x1, y1, x2, y2 = box
        cv2.rectangle(canvas, (x1, y1), (x2, y2), MARK, thickness)
    scale = max(0.4, width / 1600)
    cv2.putText(canvas, caption, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2)
    cv2.putText(
        canvas,
        caption,
        (8, height - 10),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, thickness - 1),
    )
    return canvas


def public_copy(
    image: Image,
    vehicle: tuple[int, int, int, int] | None,
    others: Sequence[tuple[int, int, int, int]],
    sharp: npt.NDArray[np.int32] | None,
) -> Image:
    """The picture with everything blurred but the vehicle's box and the `sharp` polygon; other objects'
    boxes blurred even where they overlap the vehicle.
    """
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, width // PIXELATE), max(1, height // PIXELATE)), interpolation=cv2.INTER_AREA
    )
    # Smoothed at a quarter of the size, then blown up: as blurred as smoothing the full-size picture
    # (the pixelation is what hides), at a third of the cost.
    quarter = cv2.resize(small, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.resize(
        cv2.GaussianBlur(quarter, (3, 3), 0), (width, height), interpolation=cv2.INTER_LINEAR
    )
    if sharp is not None:
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(mask, [sharp], 255)
        cv2.copyTo(image, mask, blurred)
    if vehicle is not None:
        x1, y1, x2, y2 = vehicle
        blurred[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    for x1, y1, x2, y2 in others:
        region = blurred[y1:y2, x1:x2]
        if region.size:
            tiny = cv2.resize(
                region, (max(1, (x2 - x1) // 8), max(1, (y2 - y1) // 8)), interpolation=cv2.INTER_AREA
            )
            blurred[y1:y2, x1:x2] = cv2.resize(tiny, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return cast(Image, blurred)


def _caption(offence: str, role: str, wall: dt.datetime) -> str:
    """The line on an evidence frame: the offence, which frame, and when it was recorded."""
    return f"{offence} {role} {wall.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"


def write_public_copies(manifest: dict[str, Any], evidence_dir: Path) -> list[dict[str, Any]]:
    """The packet's frames as the public may see them, written beside the packet (its public/ folder):
    everything but the vehicle and the signal's lamps blurred, the vehicle marked and the caption written
    again. Returns their file entries as a manifest has them (roles public_before, public_at, public_after:
    those the packet has frames for). Made from the marked frames, each checked against its SHA-256 in
    the manifest first: ValueError if one does not match or is not a picture (blocking).
    """
    measured = manifest.get("measured") or {}
    public = measured.get("public") or {}
    others = [(int(a), int(b), int(c), int(d)) for a, b, c, d in public.get("blur") or []]
    keep = public.get("keep")
    sharp = np.array(keep, dtype=np.int32) if keep else None
    offence = str((manifest.get("rule") or {}).get("offence", ""))
    files: _Files | None = None
    for entry in manifest.get("files", []):
        role = entry.get("role")
        if role not in FRAMES:
            continue
        path = contained(evidence_dir, entry.get("path", ""))
        data = path.read_bytes() if path is not None and path.is_file() else b""
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise ValueError(f"the packet's {role} frame is missing or does not match its SHA-256")
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"the packet's {role} frame is not a picture")
        frame = (measured.get("frames") or {}).get(role) or {}
        box = cast(Pixels, tuple(int(v) for v in frame["box"])) if frame.get("box") else None
        copy = public_copy(cast(Image, image), box, others, sharp)
        caption = _caption(offence, role, dt.datetime.fromisoformat(frame["at"])) if frame.get("at") else ""
        files = files or _Files(evidence_dir, f"{PurePosixPath(entry['path']).parent}/public")
        files.add(f"public_{role}", f"{role}.jpg", _jpeg(_mark(copy, box, caption)), "image/jpeg")
    return files.entries if files is not None else []


@dataclass
class _Shot:
    """One evidence frame: when it was recorded, the picture, and the vehicle in it (if found)."""

    role: str
    wall: dt.datetime
    image: Image
    box: tuple[int, int, int, int] | None
    score: float | None


class _Files:
    """The packet's files as they are written: each file's role, path, digest, size and type."""

    def __init__(self, evidence_dir: Path, relative: str) -> None:
        self.root, self.relative = evidence_dir, relative
        (evidence_dir / relative).mkdir(parents=True, exist_ok=True)
        self.entries: list[dict[str, Any]] = []

    def add(self, role: str, name: str, data: bytes, kind: str) -> None:
        _write(self.root / self.relative / name, data)
        self.entries.append(
            {
                "role": role,
                "path": f"{self.relative}/{name}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "type": kind,
            }
        )

    def add_file(self, role: str, name: str, kind: str) -> None:
        path = self.root / self.relative / name
        self.entries.append(
            {
                "role": role,
                "path": f"{self.relative}/{name}",
                "sha256": file_sha256(path),
                "size": path.stat().st_size,
                "type": kind,
            }
        )


# --- a burst's recording, read once -------------------------------------------------------------------


class _Recording:
    """The segments of a burst's clips, each opened and demuxed once (closed together)."""

    def __init__(self, recordings_dir: Path) -> None:
        self.root = recordings_dir
        self.read: dict[str, Demuxed | None] = {}  # by stored path; None: not on the disk

    def sources(self, plan: EvidencePlan) -> list[Demuxed]:
        """The plan's segments that are on the disk, read (an unreadable one raises, for this plan)."""
        found = []
        for path, start in plan.segments:
            if path not in self.read:
                file = contained(self.root, path)
                self.read[path] = read_segment(file, start) if file is not None and file.is_file() else None
            if (segment := self.read[path]) is not None:
                found.append(segment)
        return found

    def close(self) -> None:
        for segment in self.read.values():
            if segment is not None:
                segment.close()


def _cut_clip(
    plan: EvidencePlan, recording: _Recording, target: Path, clip_s: float
) -> tuple[list[Demuxed], tuple[dt.datetime, dt.datetime]] | None:
    """Remux the plan's clip to `target`; the segments it came from and the time it covers."""
    partial = target.with_name(target.name + ".part")
    span = dt.timedelta(seconds=clip_s)
    try:
        sources = recording.sources(plan)
        if not sources:
            return None
        covered = remux_segments(sources, t0=plan.occurred_at - span, t1=plan.occurred_at + span, out=partial)
        if covered is None:
            return None
        partial.replace(target)
        return sources, covered
    except (av.FFmpegError, OSError, ValueError):
        logger.exception("violation %s: the clip could not be cut from the recording", plan.violation_id)
        return None
    finally:
        partial.unlink(missing_ok=True)


# --- decoding what a burst needs, once ---------------------------------------------------------------


def _merged(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _decode_segment(
    segment: Demuxed, spans: list[Span]
) -> Iterator[tuple[dt.datetime, av.video.frame.VideoFrame]]:
    """The segment's frames within `spans` (sorted, disjoint), in order of time."""
    decoder = segment.stream.codec_context
    if not decoder.is_open:
        decoder.thread_type = DECODE_THREADS
    decoder.flush_buffers()
    start, origin, time_base = segment.start, segment.origin, segment.time_base
    walls, packets = segment.walls, segment.packets
    # A packet is decoded before any frame shown after it (decoding order): once the packets' decoding
    # times pass a span's end, no frame of the span is still to come.
    decoding = [start + wall_offset(d - origin, time_base) for d in segment.dts]
    keys = [i for i, p in enumerate(packets) if p.is_keyframe] or [0]

    def shown(packet: av.Packet[Any] | None) -> Iterator[tuple[dt.datetime, av.video.frame.VideoFrame]]:
        for frame in decoder.decode(packet):
            if frame.pts is None:
                continue
            wall = start + wall_offset(frame.pts - origin, time_base)
            if any(lo <= wall <= hi for lo, hi in spans):
                yield wall, frame

    position: int | None = None  # the next packet to decode
    try:
        for lo, hi in spans:
            key = keys[0]
            for index in keys:
                if walls[index] > lo:
                    break
                key = index
            if position is None or key > position:  # a key frame ahead: jump to it, past the frames between
                if position is not None:
                    yield from shown(None)  # the frames the decoder still holds
                    decoder.flush_buffers()
                position = key
            while position < len(packets) and decoding[position] <= hi:
                packet = packets[position]
                # Clips remuxed from the packet changed its timestamps: its own again.
                packet.pts, packet.dts = segment.pts[position], segment.dts[position]
                packet.time_base, packet.duration = time_base, segment.durations[position]
                # A frame outside the span is decoded only if others refer to it.
                decoder.skip_frame = "DEFAULT" if lo <= walls[position] <= hi else "NONREF"
                yield from shown(packet)
                position += 1
        if position is not None:
            yield from shown(None)
    finally:
        decoder.skip_frame = "DEFAULT"
        decoder.flush_buffers()


def _decoded(
    segments: Sequence[Demuxed], spans: Sequence[Span]
) -> Generator[tuple[dt.datetime, av.video.frame.VideoFrame]]:
    """The recorded frames whose wall-clock time is within one of `spans` (sorted, disjoint), in order of
    time: each span decoded from the key frame at or before it.
    """
    for segment in sorted(segments, key=lambda s: s.start):
        if not segment.walls:
            continue
        first, last = min(segment.walls), max(segment.walls)
        inside = [(lo, hi) for lo, hi in spans if hi >= first and lo <= last]
        if inside:
            yield from _decode_segment(segment, inside)


def _size(frame: av.video.frame.VideoFrame) -> int:
    return frame.width * frame.height * 3 // 2


@dataclass
class _Picked:
    """The decoded frame nearest to a wanted moment (within MARGIN_S)."""

    wanted: dt.datetime
    wall: dt.datetime | None = None
    frame: av.video.frame.VideoFrame | None = None
    chosen: bool = False
    again: bool = False  # a frame that may have been nearer was let go: to be decoded again

    def offer(self, wall: dt.datetime, frame: av.video.frame.VideoFrame) -> None:
        if abs(wall - self.wanted) > MARGIN:
            return
        if self.wall is None or abs(wall - self.wanted) < abs(self.wall - self.wanted):
            self.wall, self.frame = wall, frame


@dataclass
class _Watch:
    """One violation's frames, chosen from the burst's decoding as it goes: first the recorded moment of
    the offence (where the vehicle's box looks most like the snapshot's), then the frames nearest to it
    and a second either side.
    """

    plan: EvidencePlan
    width: int  # the recording's picture
    height: int
    box: Pixels | None  # the vehicle, in the recording's pixels
    inner: Pixels | None = None  # the box without its edges, and the snapshot there: to align by
    likeness: _Likeness | None = None
    best: tuple[float, dt.datetime] | None = None
    alignment: float | None = None
    picks: dict[str, _Picked] | None = None  # once the moment is known

    def span(self) -> Span:
        """All it may want."""
        reach = (ALIGN + OFFSET if self.likeness is not None else OFFSET) + MARGIN
        return self.plan.occurred_at - reach, self.plan.occurred_at + reach

    def fix(self) -> dict[str, _Picked]:
        """The moment of the offence is known (or given up on): the frames to choose."""
        at = self.plan.occurred_at
        if self.best is not None and self.best[0] >= MATCH_MIN:
            self.alignment, at = self.best
        self.picks = {role: _Picked(at + k * OFFSET) for role, k in zip(FRAMES, (-1, 0, 1), strict=True)}
        return self.picks

    def need_from(self) -> dt.datetime:
        """The earliest frame it may still want."""
        if self.picks is None:
            return self.span()[0]
        open_ = [p.wanted for p in self.picks.values() if not p.chosen and not p.again]
        return min(open_) - MARGIN if open_ else dt.datetime.max.replace(tzinfo=dt.UTC)

    def see(self, wall: dt.datetime, frame: av.video.frame.VideoFrame) -> None:
        """A decoded frame: how like the snapshot, while the moment is being looked for."""
        if self.picks is not None or self.likeness is None or self.inner is None:
            return
        at = self.plan.occurred_at
        if wall > at + ALIGN:
            self.fix()
        elif wall >= at - ALIGN and (frame.width, frame.height) == (self.width, self.height):
            x1, y1, x2, y2 = self.inner
            score = self.likeness.to(_luma(frame)[y1:y2, x1:x2])
            if self.best is None or score > self.best[0]:
                self.best = (score, wall)

    def settle(
        self,
        held: Iterable[tuple[dt.datetime, av.video.frame.VideoFrame]],
        now: dt.datetime | None,
        lost: dt.datetime | None,
    ) -> bool | None:
        """Choose, from the frames held, those whose moment has passed (`now`; None: the decoding is over).
        None: some are still to come; True: all chosen; False: some are to be decoded again, as a frame
        since `lost` (the latest let go) may have been nearer.
        """
        picks = self.picks
        if picks is None:
            if now is not None:
                return None
            picks = self.fix()
        for pick in picks.values():
            if pick.chosen or pick.again or (now is not None and now <= pick.wanted + MARGIN):
                continue
            if lost is not None and lost >= pick.wanted - MARGIN:
                pick.again = True
                continue
            for wall, frame in held:
                pick.offer(wall, frame)
            pick.chosen = True
        if any(not p.chosen and not p.again for p in picks.values()):
            return None
        return all(p.chosen for p in picks.values())


def _choose(
    watches: Sequence[_Watch],
    segments: Sequence[Demuxed],
    done: Callable[[_Watch], None],
    keep_bytes: int = KEEP_BYTES,
) -> None:
    """Decode what the watches want in one pass and choose their frames; `done(watch)` as soon as a
    watch's are chosen. Frames are held only while a watch may still want them, and at most `keep_bytes`
    of them: a frame wanted that was let go is decoded again, after the pass.
    """
    active, again = list(watches), []
    held: deque[tuple[dt.datetime, av.video.frame.VideoFrame]] = deque()
    size, lost = 0, None
    frames = _decoded(segments, _merged(w.span() for w in watches))
    for wall, frame in frames:
        held.append((wall, frame))
        size += _size(frame)
        waiting = []
        for watch in active:
            watch.see(wall, frame)
            settled = watch.settle(held, wall, lost)
            if settled is None:
                waiting.append(watch)
            elif settled:
                done(watch)
            else:
                again.append(watch)
        active = waiting
        if not active:
            frames.close()  # nothing more wanted: the rest is not decoded
            break
        need = min(w.need_from() for w in active)
        while held and (held[0][0] < need or size > keep_bytes):
            gone, dropped = held.popleft()
            size -= _size(dropped)
            if gone >= need:
                lost = gone if lost is None else max(lost, gone)
    for watch in active:
        if watch.settle(held, None, lost):
            done(watch)
        else:
            again.append(watch)
    held.clear()
    if not again:
        return
    wanted = [p for w in again if w.picks is not None for p in w.picks.values() if p.again]
    logger.debug("%d frames wanted were let go (over %d bytes held): decoded again", len(wanted), keep_bytes)
    for wall, frame in _decoded(segments, _merged((p.wanted - MARGIN, p.wanted + MARGIN) for p in wanted)):
        for pick in wanted:
            pick.offer(wall, frame)
    for pick in wanted:
        pick.again, pick.chosen = False, True
    for watch in again:
        done(watch)


# --- one violation's packet ------------------------------------------------------------------------------


def _scaled(plan: EvidencePlan, width: int, height: int) -> Pixels | None:
    if plan.box is None:
        return None
    sx, sy = (width / plan.frame_size[0], height / plan.frame_size[1]) if plan.frame_size else (1.0, 1.0)
    x1, y1, x2, y2 = plan.box
    return _clip_box((x1 * sx, y1 * sy, x2 * sx, y2 * sy), width, height)


@dataclass
class _Packet:
    """One violation's packet as it is built: its files so far and what was measured."""

    plan: EvidencePlan
    files: _Files
    measured: dict[str, Any]
    sources: list[Demuxed] = field(default_factory=list)  # the segments its clip came from
    watch: _Watch | None = None  # its frames, while they are chosen
    failed: bool = False

    @classmethod
    def start(
        cls, plan: EvidencePlan, recording: _Recording, evidence_dir: Path, snapshots_dir: Path, clip_s: float
    ) -> _Packet:
        """Cut the clip, and get ready to choose the frames (if it was cut)."""
        relative = folder(plan)
        packet = cls(plan, _Files(evidence_dir, relative), dict(plan.manifest["measured"]))
        cut = _cut_clip(plan, recording, evidence_dir / relative / "clip.mp4", clip_s)
        if cut is None:
            return packet
        packet.sources, covered = cut
        packet.files.add_file("clip", "clip.mp4", "video/mp4")
        packet.measured["clip"] = {"start": covered[0].isoformat(), "end": covered[1].isoformat()}
        _, width, height = packet.sources[0].codec
        watch = _Watch(plan, width, height, _scaled(plan, width, height))
        snapshot = contained(snapshots_dir, plan.snapshot) if plan.snapshot else None
        reference = _read_grey(snapshot) if snapshot is not None and snapshot.is_file() else None
        if reference is not None and watch.box is not None:
            if reference.shape != (height, width):
                reference = cast(Image, cv2.resize(reference, (width, height), interpolation=cv2.INTER_AREA))
            x1, y1, x2, y2 = watch.inner = _inner(watch.box)
            watch.likeness = _Likeness.of(reference[y1:y2, x1:x2])
        else:
            watch.fix()
        packet.watch = watch
        return packet

    def pictures(self, snapshots_dir: Path, reformatter: VideoReformatter) -> None:
        """The chosen frames, the vehicle found and marked in each, and their public copies (the frames
        are let go after).
        """
        watch, self.watch = self.watch, None
        if watch is None or watch.picks is None:
            return
        try:
            shots, found = _shots(watch, snapshots_dir, reformatter)
            self.measured.update(found)
            self._add_shots(shots)
        except (av.FFmpegError, OSError, ValueError, cv2.error):
            logger.exception("violation %s: frames could not be taken from the clip", self.plan.violation_id)
        finally:
            watch.picks = None

    def _add_shots(self, shots: list[_Shot]) -> None:
        if not shots:
            return
        plan = self.plan
        height, width = shots[0].image.shape[:2]
        # The event's boxes are in the analytics frame's pixels.
        sx, sy = (width / plan.frame_size[0], height / plan.frame_size[1]) if plan.frame_size else (1.0, 1.0)
        others = [
            list(b)
            for x1, y1, x2, y2 in plan.others
            if (b := _clip_box((x1 * sx, y1 * sy, x2 * sx, y2 * sy), width, height)) is not None
        ]
        sharp = (
            [[round(x * (width - 1)), round(y * (height - 1))] for x, y in plan.keep_sharp]
            if plan.keep_sharp
            else None
        )
        self.measured["public"] = {"blur": others, "keep": sharp}  # for write_public_copies, in pixels
        for shot in shots:
            marked = _mark(shot.image, shot.box, _caption(plan.offence.value, shot.role, shot.wall))
            self.files.add(shot.role, f"{shot.role}.jpg", _jpeg(marked), "image/jpeg")

    def manifest(self, snapshots_dir: Path) -> dict[str, Any]:
        """The plate crop added, the packet's manifest (see CONTRACTS.md)."""
        plan, files = self.plan, self.files
        crop = (
            contained(snapshots_dir, plan.plate.crop) if plan.plate is not None and plan.plate.crop else None
        )
        if crop is not None and crop.is_file():
            files.add("plate", "plate.jpg", crop.read_bytes(), "image/jpeg")
        present = {entry["role"] for entry in files.entries}
        missing = [role for role in ROLES if role not in present]
        files.entries.sort(key=lambda e: ROLES.index(e["role"]))
        read = (
            {
                "plate": plan.plate.plate,
                "confidence": plan.plate.confidence,
                "alternatives": plan.plate.alternatives,
            }
            if plan.plate is not None
            else {"plate": None, "confidence": None, "alternatives": []}
        )
        return {
            "version": VERSION,
            "complete": not missing,
            "missing": missing,
            "files": files.entries,
            "rule": plan.manifest["rule"],
            "measured": self.measured,
            "read": read,
            "camera": plan.manifest["camera"],
            "time": plan.manifest["time"],
        }


def _shots(
    watch: _Watch, snapshots_dir: Path, reformatter: VideoReformatter
) -> tuple[list[_Shot], dict[str, Any]]:
    """The chosen frames with the vehicle located; what was measured doing it."""
    plan, width, height = watch.plan, watch.width, watch.height
    images = {
        role: (pick.wall, pick.frame)
        for role, pick in (watch.picks or {}).items()
        if pick.frame is not None and pick.wall is not None
    }
    box = watch.box
    shots: list[_Shot] = []
    found_at: tuple[Pixels, float] | None = None
    template_at: Image | None = None
    if "at" in images:
        wall, frame = images["at"]
        gray_at = _luma(frame)
        if box is None and plan.plate is not None and plan.plate.vehicle:
            # No box (a speed or section violation): find the vehicle its plate read pictured.
            picture = contained(snapshots_dir, plan.plate.vehicle)
            template = _read_grey(picture) if picture is not None and picture.is_file() else None
            located = _locate(gray_at, template, None) if template is not None else None
            if located is not None and located[1] >= MATCH_MIN:
                box = _clip_box(located[0], width, height)
                found_at = located
        shots.append(
            _Shot("at", wall, _bgr(frame, reformatter), box, found_at[1] if found_at else watch.alignment)
        )
        template_at = gray_at[box[1] : box[3], box[0] : box[2]] if box is not None else None
    for role in ("before", "after"):
        if role not in images:
            continue
        wall, frame = images[role]
        located_box, score = None, None
        if template_at is not None and template_at.size:
            located = _locate(_luma(frame), template_at, box)
            if located is not None:
                score = located[1]
                located_box = _clip_box(located[0], width, height) if located[1] >= MATCH_MIN else None
        shots.append(_Shot(role, wall, _bgr(frame, reformatter), located_box, score))
    measured = {
        shot.role: {
            "at": shot.wall.isoformat(),
            "box": list(shot.box) if shot.box is not None else None,
            "match": None if shot.score is None else round(shot.score, 3),
        }
        for shot in shots
    }
    return sorted(shots, key=lambda s: FRAMES.index(s.role)), {
        "frames": measured,
        "aligned": watch.alignment is not None,
    }


# --- bursts -----------------------------------------------------------------------------------------------


def bursts(
    plans: Iterable[EvidencePlan], *, clip_s: float, most: int = BURST_MOST
) -> Iterator[list[EvidencePlan]]:
    """The plans (oldest first) in bursts to build together: a camera's whose clips overlap the one
    before, at most `most` a burst. A burst is given as soon as a plan of its camera cannot join it (so it
    can be built while the rest are read), the others at the end, oldest first.
    """
    reach = dt.timedelta(seconds=2 * clip_s)
    gathering: dict[uuid.UUID, list[EvidencePlan]] = {}
    for plan in plans:
        burst = gathering.get(plan.camera_id)
        if burst is not None and (
            len(burst) >= most or abs(plan.occurred_at - burst[-1].occurred_at) >= reach
        ):
            yield gathering.pop(plan.camera_id)
        gathering.setdefault(plan.camera_id, []).append(plan)
    yield from sorted(gathering.values(), key=lambda burst: burst[0].occurred_at)


@dataclass(frozen=True)
class Built:
    """A violation's packet: its manifest (see CONTRACTS.md), or None where it could not be built (logged:
    it is to be tried again later).
    """

    plan: EvidencePlan
    manifest: dict[str, Any] | None


def build_burst(
    plans: Sequence[EvidencePlan],
    *,
    recordings_dir: Path,
    snapshots_dir: Path,
    evidence_dir: Path,
    clip_s: float,
    keep_bytes: int = KEEP_BYTES,
) -> list[Built]:
    """Write the packets of a burst's violations (one camera's, close in time: see `bursts`), each under
    evidence_dir/<camera>/<day>/<violation>/ (every file atomically), reading each segment once and
    decoding the frames they want once (holding at most `keep_bytes` of decoded frames); each manifest's
    `complete` is false and `missing` names the parts the recording or the plate read could not give.
    The same packets as built one at a time.
    """
    recording = _Recording(recordings_dir)
    packets: dict[uuid.UUID, _Packet] = {}
    try:
        for plan in plans:
            try:
                packets[plan.violation_id] = _Packet.start(
                    plan, recording, evidence_dir, snapshots_dir, clip_s
                )
            except Exception:  # one broken packet must not hold up the others
                logger.exception("violation %s: evidence could not be assembled", plan.violation_id)
        _frames_for([p for p in packets.values() if p.watch is not None], snapshots_dir, keep_bytes)
    finally:
        recording.close()
    built = []
    for plan in plans:
        packet, manifest = packets.get(plan.violation_id), None
        if packet is not None and not packet.failed:
            try:
                manifest = packet.manifest(snapshots_dir)
            except Exception:  # as above
                logger.exception("violation %s: evidence could not be assembled", plan.violation_id)
        built.append(Built(plan, manifest))
    return built


def _frames_for(packets: list[_Packet], snapshots_dir: Path, keep_bytes: int) -> None:
    """Choose every packet's frames in one decoding of their segments, making each one's pictures as soon
    as its frames are chosen. Should the shared decoding fail, each packet left is tried on its own, so
    that a damaged segment costs only the packets that want its frames.
    """
    by_watch = {id(p.watch): p for p in packets if p.watch is not None}
    reformatter = VideoReformatter()

    def done(watch: _Watch) -> None:
        packet = by_watch.pop(id(watch))
        try:
            packet.pictures(snapshots_dir, reformatter)
        except Exception:
            logger.exception("violation %s: evidence could not be assembled", packet.plan.violation_id)
            packet.failed = True

    segments = list({id(s): s for p in packets for s in p.sources}.values())
    watches = [p.watch for p in packets if p.watch is not None]
    try:
        _choose(watches, segments, done, keep_bytes)
        return
    except (av.FFmpegError, OSError, ValueError, cv2.error):
        if len(watches) == 1:
            logger.exception(
                "violation %s: frames could not be taken from the clip", packets[0].plan.violation_id
            )
            packets[0].watch = None
            return
        logger.exception("a burst's frames could not be decoded together: each violation on its own")
    for packet in list(by_watch.values()):
        watch = packet.watch
        if watch is None:
            continue
        watch.best, watch.alignment = None, None
        watch.picks = None
        if watch.likeness is None:
            watch.fix()
        try:
            _choose([watch], packet.sources, done, keep_bytes)
        except (av.FFmpegError, OSError, ValueError, cv2.error):
            logger.exception(
                "violation %s: frames could not be taken from the clip", packet.plan.violation_id
            )
            by_watch.pop(id(watch), None)
            packet.watch = None
