"""A violation's evidence packet, built from the recording: the ±5 s clip remuxed without re-encoding,
the frames 1 s before, at and 1 s after the offence with the vehicle marked, copies of them for the public
with everything but that vehicle blurred, and the plate crop; each file's SHA-256 and size in a manifest.

Finding the offence in the recording: the event's time is when the analytics decoded the frame, and the
recording's timeline is the recorder's; the two agree to within a second. Where the event's snapshot is
kept, the frame is found exactly: the recorded frame (within ALIGN_S of the event's time) whose pixels in
the vehicle's box best match the snapshot's. The vehicle is then followed to the frames a second before
and after by matching its picture near where it was (several scales: it grows as it comes closer). A
vehicle not found there is left unmarked rather than marked in the wrong place, and the manifest says so.

Public copies blur all of the picture except the offending vehicle (and the signal's lamps, where a lamp
is read): a detector would miss some faces and plates; blurring everything else misses none.

Blocking work (decoding, encoding, hashing): run it off the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
import av.container
import av.video.frame
import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics.types import Image
from safecity.core.storage import contained
from safecity.traffic.violations.service import EvidencePlan
from safecity.video.clips import remux
from safecity.video.recorder import file_sha256

logger = logging.getLogger(__name__)

VERSION = 1
JPEG_QUALITY = 90
ALIGN_S = 1.2  # the recording's and the analytics' clocks agree to about a second
FRAME_OFFSET_S = 1.0  # "before" and "after" frames
KEEP_EXTRA_S = 0.4  # the first pass decodes this much more either side, to serve the frames shown
KEEP_BYTES = 64 << 20  # of decoded frames kept from the first pass (at 4K only the second pass serves)
MATCH_MIN = 0.5  # normalised correlation for "this is the same vehicle"
SCALES = (0.8, 0.9, 1.0, 1.12, 1.25)
SEARCH = 1.5  # the vehicle is looked for within this many of its box's sizes around where it was
MATCH_SIDE = 96  # pictures are matched at about this size (a vehicle's box), for speed
PIXELATE = 16  # public copies: the picture is shrunk this many times and blown up again
MARK = (0, 0, 255)  # BGR red
FRAMES = ("before", "at", "after")
ROLES = (*FRAMES, "plate", "clip", *(f"public_{r}" for r in FRAMES))
Box = tuple[float, float, float, float]


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


@dataclass
class _Picked:
    """The decoded frame nearest to a wanted moment."""

    wanted: dt.datetime
    wall: dt.datetime | None = None
    frame: av.video.frame.VideoFrame | None = None

    def offer(self, wall: dt.datetime, frame: av.video.frame.VideoFrame) -> None:
        if self.wall is None or abs(wall - self.wanted) < abs(self.wall - self.wanted):
            self.wall, self.frame = wall, frame


def _frames(
    container: av.container.InputContainer, start: dt.datetime, since: dt.datetime, until: dt.datetime
) -> Iterator[tuple[dt.datetime, av.video.frame.VideoFrame]]:
    """The clip's frames whose wall-clock time is in [since, until] (the clip's time 0 is `start`), decoded
    from the key frame at or before `since`.
    """
    stream = container.streams.video[0]
    offset = max(0.0, (since - start).total_seconds())
    if stream.time_base:
        container.seek(int(offset / float(stream.time_base)), stream=stream, backward=True)
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        wall = start + dt.timedelta(seconds=float(frame.time))
        if wall > until:
            return
        if wall >= since:
            yield wall, frame


def _gray(frame: av.video.frame.VideoFrame) -> Image:
    return cast(Image, frame.to_ndarray(format="gray"))


def _bgr(frame: av.video.frame.VideoFrame) -> Image:
    return cast(Image, frame.to_ndarray(format="bgr24"))


def _grey(image: Image) -> Image:
    return cast(Image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def _read_grey(path: Path) -> Image | None:
    return cast(Image | None, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def _clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    return (x1, y1, x2, y2) if x2 - x1 >= 4 and y2 - y1 >= 4 else None


def _inner(box: tuple[int, int, int, int], margin: float = 0.15) -> tuple[int, int, int, int]:
    """The box without its edges, where a snapshot's drawn rectangle and label lie."""
    x1, y1, x2, y2 = box
    dx, dy = max(3, round((x2 - x1) * margin)), max(3, round((y2 - y1) * margin))
    return x1 + dx, y1 + dy, max(x1 + dx + 2, x2 - dx), max(y1 + dy + 2, y2 - dy)


def _similarity(a: Image, b: Image) -> float:
    """Normalised correlation of two equal-sized grey patches (-1..1)."""
    if a.shape != b.shape or a.size == 0:
        return -1.0
    fa, fb = a.astype(np.float32) - float(a.mean()), b.astype(np.float32) - float(b.mean())
    norm = float(np.sqrt((fa * fa).sum() * (fb * fb).sum()))
    return float((fa * fb).sum() / norm) if norm > 0 else -1.0


def _locate(
    gray: Image, template: Image, around: tuple[int, int, int, int] | None
) -> tuple[tuple[int, int, int, int], float] | None:
    """Where `template` best matches `gray` (near `around`, if given, else anywhere), over SCALES."""
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
    shrink = min(1.0, MATCH_SIDE / max(1, max(th, tw)))  # match small: about MATCH_SIDE px templates
    small = (
        cv2.resize(window, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA) if shrink < 1 else window
    )
    best: tuple[tuple[int, int, int, int], float] | None = None
    for scale in SCALES:
        sw, sh = round(tw * scale * shrink), round(th * scale * shrink)
        if sw < 8 or sh < 8 or sw > small.shape[1] or sh > small.shape[0]:
            continue
        resized = cv2.resize(template, (sw, sh), interpolation=cv2.INTER_AREA)
        scores = cv2.matchTemplate(small, resized, cv2.TM_CCOEFF_NORMED)
        _, score, _, (lx, ly) = cv2.minMaxLoc(scores)
        if best is None or score > best[1]:
            bx, by = wx1 + lx / shrink, wy1 + ly / shrink
            box = (round(bx), round(by), round(bx + sw / shrink), round(by + sh / shrink))
            best = (box, float(score))
    return best


def _mark(image: Image, box: tuple[int, int, int, int] | None, caption: str) -> Image:
    canvas = np.ascontiguousarray(image).copy()
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
    blurred = cv2.GaussianBlur(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), (9, 9), 0)
    if sharp is not None:
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(mask, [sharp], 255)
        blurred[mask > 0] = image[mask > 0]
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


def _cut_clip(
    plan: EvidencePlan, recordings_dir: Path, target: Path, clip_s: float
) -> tuple[dt.datetime, dt.datetime] | None:
    sources = [
        (file, start)
        for path, start in plan.segments
        if (file := contained(recordings_dir, path)) is not None and file.is_file()
    ]
    if not sources:
        return None
    partial = target.with_name(target.name + ".part")
    span = dt.timedelta(seconds=clip_s)
    try:
        covered = remux(sources, t0=plan.occurred_at - span, t1=plan.occurred_at + span, out=partial)
        if covered is None:
            return None
        partial.replace(target)
        return covered
    except (av.FFmpegError, OSError, ValueError):
        logger.exception("violation %s: the clip could not be cut from the recording", plan.violation_id)
        return None
    finally:
        partial.unlink(missing_ok=True)


@dataclass
class _Aligned:
    """The first pass's outcome: the recorded moment of the offence, how sure, and the frames kept."""

    at: dt.datetime
    score: float | None
    kept: list[tuple[dt.datetime, av.video.frame.VideoFrame]]


def _align(
    plan: EvidencePlan,
    clip: av.container.InputContainer,
    start: dt.datetime,
    reference: Image | None,
    box: tuple[int, int, int, int] | None,
) -> _Aligned:
    """The recorded moment of the offence: where the vehicle's box looks most like the snapshot's.

    The frames decoded on the way are kept (up to KEEP_BYTES): when they reach a second either side of
    that moment, the frames to show are taken from them and the clip is not decoded again.
    """
    at = plan.occurred_at
    if reference is None or box is None:
        return _Aligned(at, None, [])
    inner = _inner(box)
    patch = reference[inner[1] : inner[3], inner[0] : inner[2]]
    best: tuple[float, dt.datetime] | None = None
    span, extra = dt.timedelta(seconds=ALIGN_S), dt.timedelta(seconds=KEEP_EXTRA_S)
    kept: list[tuple[dt.datetime, av.video.frame.VideoFrame]] = []
    budget = KEEP_BYTES
    for wall, frame in _frames(clip, start, at - span - extra, at + span + extra):
        size = frame.width * frame.height * 3 // 2
        if budget >= size:
            kept.append((wall, frame))
            budget -= size
        else:
            budget = -1  # kept frames must be contiguous: keep no more
        if abs(wall - at) > span:
            continue
        gray = _gray(frame)
        if gray.shape != reference.shape:
            continue
        score = _similarity(gray[inner[1] : inner[3], inner[0] : inner[2]], patch)
        if best is None or score > best[0]:
            best = (score, wall)
    if best is None or best[0] < MATCH_MIN:
        return _Aligned(at, None if best is None else best[0], kept)
    return _Aligned(best[1], best[0], kept)


def _scaled(plan: EvidencePlan, width: int, height: int) -> tuple[int, int, int, int] | None:
    if plan.box is None:
        return None
    sx, sy = (width / plan.frame_size[0], height / plan.frame_size[1]) if plan.frame_size else (1.0, 1.0)
    x1, y1, x2, y2 = plan.box
    return _clip_box((x1 * sx, y1 * sy, x2 * sx, y2 * sy), width, height)


def _shots(
    plan: EvidencePlan, clip: Path, start: dt.datetime, snapshots_dir: Path
) -> tuple[list[_Shot], dict[str, Any]]:
    """The before, at and after frames with the vehicle located; what was measured doing it."""
    reference: Image | None = None
    snapshot = contained(snapshots_dir, plan.snapshot) if plan.snapshot else None
    if snapshot is not None and snapshot.is_file():
        reference = _read_grey(snapshot)
    offset = dt.timedelta(seconds=FRAME_OFFSET_S)
    margin = dt.timedelta(seconds=0.25)
    with av.open(str(clip)) as container:  # opened once: both passes seek in it
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        box = _scaled(plan, width, height)
        if reference is not None and reference.shape != (height, width):
            reference = cast(Image, cv2.resize(reference, (width, height), interpolation=cv2.INTER_AREA))
        aligned = _align(plan, container, start, reference, box)
        at = aligned.at
        alignment = aligned.score if aligned.score is not None and aligned.score >= MATCH_MIN else None
        picks = {role: _Picked(at + k * offset) for role, k in zip(FRAMES, (-1, 0, 1), strict=True)}
        kept = aligned.kept
        # Kept frames on both sides of -1 s and +1 s hold the nearest ones: no second decoding.
        covered = bool(kept) and kept[0][0] <= at - offset and kept[-1][0] >= at + offset
        frames = (
            iter(kept) if covered else _frames(container, start, at - offset - margin, at + offset + margin)
        )
        for wall, frame in frames:
            for pick in picks.values():
                pick.offer(wall, frame)
        images = {
            role: (pick.wall, _bgr(pick.frame))
            for role, pick in picks.items()
            if pick.frame is not None and pick.wall is not None and abs(pick.wall - pick.wanted) <= margin
        }
    shots: list[_Shot] = []
    found_at: tuple[tuple[int, int, int, int], float] | None = None
    if "at" in images:
        gray_at = _grey(images["at"][1])
        if box is None and plan.plate is not None and plan.plate.vehicle:
            # No box (a speed or section violation): find the vehicle its plate read pictured.
            picture = contained(snapshots_dir, plan.plate.vehicle)
            template = _read_grey(picture) if picture is not None and picture.is_file() else None
            located = _locate(gray_at, template, None) if template is not None else None
            if located is not None and located[1] >= MATCH_MIN:
                box = _clip_box(located[0], width, height)
                found_at = located
        shots.append(
            _Shot("at", images["at"][0], images["at"][1], box, found_at[1] if found_at else alignment)
        )
        template_at = gray_at[box[1] : box[3], box[0] : box[2]] if box is not None else None
    else:
        template_at = None
    for role in ("before", "after"):
        if role not in images:
            continue
        wall, image = images[role]
        located_box, score = None, None
        if template_at is not None and template_at.size:
            located = _locate(_grey(image), template_at, box)
            if located is not None:
                score = located[1]
                located_box = _clip_box(located[0], width, height) if located[1] >= MATCH_MIN else None
        shots.append(_Shot(role, wall, image, located_box, score))
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
        "aligned": alignment is not None,
    }


def build(
    plan: EvidencePlan,
    *,
    recordings_dir: Path,
    snapshots_dir: Path,
    evidence_dir: Path,
    clip_s: float,
) -> dict[str, Any]:
    """Write the violation's files under evidence_dir/<camera>/<day>/<violation>/ (each atomically) and
    return the packet's manifest (see CONTRACTS.md); `complete` is false and `missing` names the parts the
    recording or the plate read could not give.
    """
    relative = folder(plan)
    files = _Files(evidence_dir, relative)
    measured: dict[str, Any] = dict(plan.manifest["measured"])
    clip_path = evidence_dir / relative / "clip.mp4"
    covered = _cut_clip(plan, recordings_dir, clip_path, clip_s)
    shots: list[_Shot] = []
    if covered is not None:
        files.add_file("clip", "clip.mp4", "video/mp4")
        measured["clip"] = {"start": covered[0].isoformat(), "end": covered[1].isoformat()}
        try:
            shots, found = _shots(plan, clip_path, covered[0], snapshots_dir)
            measured.update(found)
        except (av.FFmpegError, OSError, ValueError, cv2.error):
            logger.exception("violation %s: frames could not be taken from the clip", plan.violation_id)
    if shots:
        height, width = shots[0].image.shape[:2]
        # The event's boxes are in the analytics frame's pixels.
        sx, sy = (width / plan.frame_size[0], height / plan.frame_size[1]) if plan.frame_size else (1.0, 1.0)
        others = [
            b
            for x1, y1, x2, y2 in plan.others
            if (b := _clip_box((x1 * sx, y1 * sy, x2 * sx, y2 * sy), width, height)) is not None
        ]
        sharp = None
        if plan.keep_sharp:
            sharp = np.array(
                [[round(x * (width - 1)), round(y * (height - 1))] for x, y in plan.keep_sharp],
                dtype=np.int32,
            )
        for shot in shots:
            caption = (
                f"{plan.offence.value} {shot.role} {shot.wall.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
                + " UTC"
            )
            files.add(
                shot.role, f"{shot.role}.jpg", _jpeg(_mark(shot.image, shot.box, caption)), "image/jpeg"
            )
            public = public_copy(shot.image, shot.box, others, sharp)
            files.add(
                f"public_{shot.role}",
                f"public_{shot.role}.jpg",
                _jpeg(_mark(public, shot.box, caption)),
                "image/jpeg",
            )
    crop = contained(snapshots_dir, plan.plate.crop) if plan.plate is not None and plan.plate.crop else None
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
        "measured": measured,
        "read": read,
        "camera": plan.manifest["camera"],
        "time": plan.manifest["time"],
    }
