"""Rendering a video synopsis: the objects a camera saw over a period, shown together over its background.

The background is the temporal median of frames sampled sparsely across the period (key frames only).
Each stored track is a *tube*: its boxes over time. Tubes are scheduled on a short output timeline, in
the order they were seen, each at the earliest time where its boxes do not overlap those already placed
(beyond a small tolerance) and fewer than MAX_TOGETHER objects are on screen. The objects' pixels are cut
from the recording at their original times (each needed frame decoded once, segment by segment, in time
order, starting at the key frame before it), kept as JPEG in a spool file, then pasted over the background
with a soft mask and labelled with their original time and class. The output is H.264 MP4 (faststart)
with an index JSON giving, for each output-time window, the objects' boxes and original moments, so that
clicking an object in the player opens the recording there.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext
from av.video.reformatter import VideoReformatter

from safecity.cameras.privacy import service as privacy
from safecity.video.clips import Demuxed, read_segment

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Progress = Callable[[float], None]

OUT_FPS = 10  # frames per second of the synopsis
MAX_WIDTH = 1280  # the synopsis is never wider than this
SLOT_S = 0.5  # the scheduler's (and the index's) time step
MAX_TOGETHER = 12  # objects on screen at once, at most
OVERLAP = 0.25  # two boxes at the same moment may overlap by about this share of their sides
GRID_W, GRID_H = 32, 24  # the scheduler's grid over the picture
MAX_TUBE_S = 20.0  # a longer track is time-lapsed to this length in the synopsis
BACKGROUND_SAMPLES = 40  # frames whose median is the background
MARGIN = 0.15  # of a box's size, cut around it for the soft edge
DISPLAY_TZ = ZoneInfo("Asia/Karachi")


@dataclass(frozen=True)
class Source:
    """One recorded segment: its file and the wall-clock time of its first frame and of its end."""

    file: Path
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Tube:
    """One object's boxes over time: `path` rows are [s after first_seen, x1, y1, x2, y2] (fractions)."""

    id: uuid.UUID
    class_name: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    path: Sequence[Sequence[float]]

    @property
    def duration(self) -> float:
        """Seconds from the object's first sight to its last (from its path where that is longer)."""
        span = (self.last_seen - self.first_seen).total_seconds()
        return max(span, float(self.path[-1][0]) if self.path else 0.0)

    def box_at(self, offset: float) -> tuple[float, float, float, float]:
        """The box `offset` seconds after first_seen, interpolated between path samples (fractions)."""
        times = [float(p[0]) for p in self.path]
        if offset <= times[0]:
            return _box(self.path[0])
        if offset >= times[-1]:
            return _box(self.path[-1])
        index = int(np.searchsorted(times, offset, side="right"))
        a, b = self.path[index - 1], self.path[index]
        w = (offset - float(a[0])) / max(1e-9, float(b[0]) - float(a[0]))
        return (
            float(a[1]) + w * (float(b[1]) - float(a[1])),
            float(a[2]) + w * (float(b[2]) - float(a[2])),
            float(a[3]) + w * (float(b[3]) - float(a[3])),
            float(a[4]) + w * (float(b[4]) - float(a[4])),
        )


def _box(row: Sequence[float]) -> tuple[float, float, float, float]:
    return float(row[1]), float(row[2]), float(row[3]), float(row[4])


@dataclass
class Placed:
    """A tube on the output timeline: it starts at `start` s and plays its source `speed` times faster."""

    tube: Tube
    start: float
    speed: float

    @property
    def length(self) -> float:
        """Seconds the tube is on screen in the synopsis."""
        return self.tube.duration / self.speed

    def source_offset(self, t: float) -> float:
        """Seconds after the object's first sight shown at output time t."""
        return (t - self.start) * self.speed


@dataclass(frozen=True)
class Result:
    """What a render made: the synopsis's length, how many objects it shows, its frame size."""

    duration_s: float
    objects: int
    width: int
    height: int
    frames: int
    background: Image = field(repr=False, compare=False)


# --- scheduling -----------------------------------------------------------------------------------


def _cells(box: Sequence[float]) -> npt.NDArray[np.intp]:
    """The grid cells (flat indices) a box occupies: those whose centre lies inside it once shrunk by
    OVERLAP/2 on each side (so boxes may touch a little); at least the cell of its centre."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * OVERLAP / 2, (y2 - y1) * OVERLAP / 2
    cols = np.arange(GRID_W)
    rows = np.arange(GRID_H)
    inside_x = cols[((cols + 0.5) / GRID_W >= x1 + mx) & ((cols + 0.5) / GRID_W <= x2 - mx)]
    inside_y = rows[((rows + 0.5) / GRID_H >= y1 + my) & ((rows + 0.5) / GRID_H <= y2 - my)]
    if not len(inside_x) or not len(inside_y):
        cx = min(GRID_W - 1, max(0, int((x1 + x2) / 2 * GRID_W)))
        cy = min(GRID_H - 1, max(0, int((y1 + y2) / 2 * GRID_H)))
        return np.array([cy * GRID_W + cx], dtype=np.intp)
    return (inside_y[:, None] * GRID_W + inside_x[None, :]).ravel().astype(np.intp)


class _Timeline:
    """Which grid cells are taken at each slot of the synopsis, and by how many objects."""

    def __init__(self) -> None:
        self.taken: npt.NDArray[np.bool_] = np.zeros((256, GRID_H * GRID_W), dtype=bool)
        self.count: npt.NDArray[np.int32] = np.zeros(256, dtype=np.int32)
        self.length = 0  # slots in use

    def _room(self, slots: int) -> None:
        if slots > len(self.count):
            size = max(slots, 2 * len(self.count))
            self.taken = np.concatenate(
                [self.taken, np.zeros((size - len(self.count), self.taken.shape[1]), bool)]
            )
            self.count = np.concatenate([self.count, np.zeros(size - len(self.count), np.int32)])

    def earliest(self, footprint: Sequence[npt.NDArray[np.intp]], max_together: int) -> int:
        """The first slot from which the footprint (cells at each step) meets no taken cell, with fewer
        than `max_together` objects on screen at each step."""
        steps, starts = len(footprint), self.length + 1  # from `length` on, the timeline is free
        self._room(self.length + steps)
        blocked = np.zeros(starts, dtype=bool)
        for k, cells in enumerate(footprint):
            window = slice(k, k + starts)
            blocked |= self.taken[window][:, cells].any(axis=1) | (self.count[window] >= max_together)
        return int(np.argmin(blocked))  # the first free start (the last one always is)

    def take(self, start: int, footprint: Sequence[npt.NDArray[np.intp]]) -> None:
        """Mark the footprint taken from `start` on."""
        self._room(start + len(footprint))
        for k, cells in enumerate(footprint):
            self.taken[start + k, cells] = True
            self.count[start + k] += 1
        self.length = max(self.length, start + len(footprint))


def schedule(tubes: Sequence[Tube], *, max_together: int = MAX_TOGETHER) -> list[Placed]:
    """Place tubes, in the order they were seen, each at the earliest slot of the synopsis where its boxes
    meet no placed tube's (on a GRID_W x GRID_H grid, beyond a small tolerance) and fewer than
    `max_together` objects are on screen (first fit: a later object may fill a gap before an earlier one).
    """
    timeline = _Timeline()
    placed: list[Placed] = []
    for tube in sorted(tubes, key=lambda t: (t.first_seen, str(t.id))):
        speed = max(1.0, tube.duration / MAX_TUBE_S)
        steps = max(1, math.ceil(tube.duration / speed / SLOT_S))
        footprint = [_cells(tube.box_at(k * SLOT_S * speed)) for k in range(steps)]
        start = timeline.earliest(footprint, max_together)
        timeline.take(start, footprint)
        placed.append(Placed(tube, start * SLOT_S, speed))
    return placed


# --- reading the recording ------------------------------------------------------------------------


def _covering(sources: Sequence[Source], moment: dt.datetime) -> Source | None:
    for source in sources:
        if source.start <= moment < source.end:
            return source
    return None


def _decoded(segment: Demuxed, indices: Sequence[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    """The frames of the packets at `indices`, decoding from the key frame before each run of them."""
    wanted = set(indices)
    context = cast(VideoCodecContext, av.CodecContext.create(segment.stream.codec_context.name, "r"))
    context.extradata = segment.stream.codec_context.extradata
    context.thread_type = "AUTO"
    keys = [i for i, p in enumerate(segment.packets) if p.is_keyframe]
    position = -1  # the last packet sent to the decoder
    by_pts = {pts: i for i, pts in enumerate(segment.pts)}
    for index in sorted(wanted):
        if index <= position:
            continue
        key = max((k for k in keys if k <= index), default=0)
        if key > position + 1:
            if position >= 0:  # a jump: what the decoder still holds first, then start afresh
                for frame in context.decode(None):
                    found = by_pts.get(frame.pts if frame.pts is not None else -1)
                    if found is not None and found in wanted:
                        yield found, frame
                context.flush_buffers()
            position = key - 1
        for number in range(position + 1, index + 1):
            packet = segment.packets[number]
            packet.pts, packet.dts = segment.pts[number], segment.dts[number]
            for frame in context.decode(packet):
                found = by_pts.get(frame.pts if frame.pts is not None else -1)
                if found is not None and found in wanted:
                    yield found, frame
        position = index
    for frame in context.decode(None):
        found = by_pts.get(frame.pts if frame.pts is not None else -1)
        if found is not None and found in wanted:
            yield found, frame


def _stamps(walls: Sequence[dt.datetime]) -> npt.NDArray[np.float64]:
    return np.array([w.timestamp() for w in walls], dtype=np.float64)


def _nearest(stamps: npt.NDArray[np.float64], moment: dt.datetime) -> int:
    """The index of the time in `stamps` (ascending POSIX seconds) nearest to `moment`."""
    at = moment.timestamp()
    index = int(np.searchsorted(stamps, at))
    if index >= len(stamps):
        return len(stamps) - 1
    if index > 0 and at - stamps[index - 1] < stamps[index] - at:
        return index - 1
    return index


class _Converter:
    """Decoded frames to BGR pictures of one size, through one scaler (made once, not per frame)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> Image:
        picture = self.reformatter.reformat(frame, self.width, self.height, format="bgr24")
        return cast(Image, picture.to_ndarray())


def background(
    sources: Sequence[Source], since: dt.datetime, until: dt.datetime, width: int, height: int
) -> Image | None:
    """The temporal median of key frames sampled evenly across [since, until) (None: nothing recorded)."""
    step = (until - since) / BACKGROUND_SAMPLES
    moments = [since + step * (k + 0.5) for k in range(BACKGROUND_SAMPLES)]
    frames: list[Image] = []
    convert = _Converter(width, height)
    by_source: dict[Source, list[dt.datetime]] = {}
    for moment in moments:
        source = _covering(sources, moment)
        if source is not None:
            by_source.setdefault(source, []).append(moment)
    if not by_source:  # recordings that only partly cover the period: one key frame of each
        by_source = {s: [s.start] for s in sources[:BACKGROUND_SAMPLES]}
    for source, wanted in by_source.items():
        segment = read_segment(source.file, source.start)
        try:
            keys = [i for i, p in enumerate(segment.packets) if p.is_keyframe]
            if not keys:
                continue
            key_stamps = _stamps([segment.walls[k] for k in keys])
            picks = sorted({keys[_nearest(key_stamps, m)] for m in wanted})
            frames += [convert(f) for _, f in _decoded(segment, picks)]
        finally:
            segment.close()
    if not frames:
        return None
    median: Image = np.median(np.stack(frames), axis=0).astype(np.uint8)
    return median


@dataclass
class _Cut:
    """A cut-out of one object in one output frame: where it goes and its pixels (JPEG, in the spool)."""

    x: int
    y: int
    w: int
    h: int
    offset: int = -1
    size: int = 0
    moment: dt.datetime = field(default_factory=lambda: dt.datetime.min.replace(tzinfo=dt.UTC))


class _Spool:
    """Cut-outs kept as JPEG in a temporary file: an hour's objects need not fit in memory."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()

    def put(self, image: Image) -> tuple[int, int]:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError("could not encode a cut-out")
        self.file.seek(0, 2)
        offset = self.file.tell()
        self.file.write(data.tobytes())
        return offset, len(data)

    def get(self, offset: int, size: int) -> Image:
        self.file.seek(offset)
        data = np.frombuffer(self.file.read(size), dtype=np.uint8)
        return cast(Image, cv2.imdecode(data, cv2.IMREAD_COLOR))

    def close(self) -> None:
        self.file.close()


def _cut_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle (x, y, w, h) of a box with its soft-edge margin, inside a width x height frame."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    left, top = max(0, math.floor((x1 - mx) * width)), max(0, math.floor((y1 - my) * height))
    right, bottom = min(width, math.ceil((x2 + mx) * width)), min(height, math.ceil((y2 + my) * height))
    return left, top, max(1, right - left), max(1, bottom - top)


def _frame_times(placed: Sequence[Placed]) -> list[list[tuple[int, float]]]:
    """For each placed tube, its output frames and the source offset each shows."""
    out = []
    for tube in placed:
        first = math.ceil(tube.start * OUT_FPS - 1e-9)
        last = math.floor((tube.start + tube.length) * OUT_FPS + 1e-9)
        out.append([(n, tube.source_offset(n / OUT_FPS)) for n in range(first, max(first, last) + 1)])
    return out


# --- composing ------------------------------------------------------------------------------------


def _soft_mask(crop: Image, under: Image, inner: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    """Alpha of a cut-out: where it differs from the background, feathered to nothing at its margin."""
    h, w = crop.shape[:2]
    diff = cv2.absdiff(crop, under).max(axis=2).astype(np.float32)
    moving = np.clip((diff - 12.0) / 25.0, 0.0, 1.0)
    moving = cv2.dilate(moving, np.ones((5, 5), np.uint8))
    moving = cv2.GaussianBlur(moving, (0, 0), 1.5)
    ix, iy, iw, ih = inner
    ramp_x = np.clip(
        np.minimum(np.arange(w) - ix + 1, ix + iw - np.arange(w)) / max(1.0, ix + 0.5), 0, 1
    ).astype(np.float32)
    ramp_y = np.clip(
        np.minimum(np.arange(h) - iy + 1, iy + ih - np.arange(h)) / max(1.0, iy + 0.5), 0, 1
    ).astype(np.float32)
    feather = np.minimum.outer(ramp_y, ramp_x)
    # Inside the object's own box at least half of it shows: a still or background-coloured object
    # still appears; outside the box only what moved.
    box = np.zeros((h, w), np.float32)
    box[iy : iy + ih, ix : ix + iw] = 0.5
    alpha: npt.NDArray[np.float32] = np.maximum(moving, box) * np.maximum(feather, box > 0)
    return np.clip(alpha, 0.0, 1.0)


def label_text(moment: dt.datetime, class_name: str, zone: ZoneInfo = DISPLAY_TZ) -> str:
    """An object's label: its original time (in the display zone, HH:MM:SS) and class."""
    return f"{moment.astimezone(zone):%H:%M:%S} {class_name}"


def _label(canvas: Image, text: str, x: int, y: int) -> None:
    scale = max(0.35, canvas.shape[1] / 1600)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    top = max(0, y - th - base - 2)
    x = min(max(0, x), max(0, canvas.shape[1] - tw - 4))
    cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1)


def output_size(width: int, height: int) -> tuple[int, int]:
    """The synopsis's frame size: the camera's, scaled down to MAX_WIDTH wide, even numbers."""
    scale = min(1.0, MAX_WIDTH / width)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def render(
    *,
    sources: Sequence[Source],
    tubes: Sequence[Tube],
    since: dt.datetime,
    until: dt.datetime,
    out: Path,
    index_out: Path,
    background_out: Path | None = None,
    camera_id: uuid.UUID | None = None,
    progress: Progress | None = None,
    zone: ZoneInfo = DISPLAY_TZ,
    masks: privacy.Masks = (),
) -> Result:
    """Render the synopsis of [since, until) as H.264 MP4 at `out`, its index JSON at `index_out` (and the
    background as PNG at `background_out`); progress(fraction) is called as it goes, ending at 1.0.

    Args:
        sources: the camera's recorded segments overlapping the period, oldest first.
        tubes: the objects seen in the period (stored tracks).
        camera_id: for the index's links to the original moments.
        zone: the time zone the labels' times are written in.
        masks: the camera's privacy masks, blacked out in every frame and in the background.
    """
    report = progress or (lambda _f: None)
    done = 0.0

    def advance(value: float) -> None:
        nonlocal done
        if value > done:
            done = min(1.0, value)
            report(done)

    width, height = _source_size(sources)
    ow, oh = output_size(width, height)
    report(0.0)
    back = background(sources, since, until, ow, oh)
    if back is None:
        back = np.full((oh, ow, 3), 64, np.uint8)
    back = privacy.apply_masks(back, masks)
    if background_out is not None:
        cv2.imwrite(str(background_out), back)
    advance(0.1)

    tubes = [t for t in tubes if t.path]
    placed = schedule(tubes)
    timing = _frame_times(placed)
    cuts: list[dict[int, _Cut]] = [{} for _ in placed]
    # What each source frame is needed for: (segment, wall moment) → [(tube, output frame)].
    needs: dict[Source, list[tuple[dt.datetime, int, int, float]]] = {}
    for number, (tube, frames) in enumerate(zip(placed, timing, strict=True)):
        for frame, offset in frames:
            moment = tube.tube.first_seen + dt.timedelta(seconds=offset)
            source = _covering(sources, moment)
            if source is not None:
                needs.setdefault(source, []).append((moment, number, frame, offset))
    spool = _Spool()
    try:
        total = max(1, len(needs))
        for count, source in enumerate(sorted(needs, key=lambda s: s.start)):
            _cut_segment(source, needs[source], placed, cuts, spool, width, height, ow, oh)
            advance(0.1 + 0.6 * (count + 1) / total)
        result = _compose(placed, cuts, spool, back, out, advance, zone, masks)
    finally:
        spool.close()
    index = _index(placed, timing, camera_id, result, zone)
    index_out.write_text(json.dumps(index, separators=(",", ":")))
    advance(1.0)
    return result


def _source_size(sources: Sequence[Source]) -> tuple[int, int]:
    for source in sources:
        try:
            with av.open(str(source.file)) as container:
                stream = container.streams.video[0]
                return stream.codec_context.width, stream.codec_context.height
        except (av.error.FFmpegError, OSError, IndexError):
            logger.warning("synopsis: segment %s unreadable", source.file)
    return 640, 360


def _cut_segment(
    source: Source,
    wanted: list[tuple[dt.datetime, int, int, float]],
    placed: Sequence[Placed],
    cuts: list[dict[int, _Cut]],
    spool: _Spool,
    width: int,
    height: int,
    ow: int,
    oh: int,
) -> None:
    """Decode the frames of one segment that objects are cut from (each once), and cut them."""
    try:
        segment = read_segment(source.file, source.start)
    except (av.error.FFmpegError, OSError) as exc:
        logger.warning("synopsis: segment %s unreadable (%s)", source.file, exc)
        return
    try:
        if not segment.packets:
            return
        by_packet: dict[int, list[tuple[dt.datetime, int, int, float]]] = {}
        stamps = _stamps(segment.walls)
        for need in wanted:
            by_packet.setdefault(_nearest(stamps, need[0]), []).append(need)
        convert = _Converter(ow, oh)
        for index, frame in _decoded(segment, sorted(by_packet)):
            image = convert(frame)
            for moment, number, out_frame, offset in by_packet[index]:
                box = placed[number].tube.box_at(offset)
                x, y, w, h = _cut_box(box, ow, oh)
                cut = _Cut(x, y, w, h, moment=moment)
                cut.offset, cut.size = spool.put(np.ascontiguousarray(image[y : y + h, x : x + w]))
                cuts[number][out_frame] = cut
    finally:
        segment.close()


def _compose(
    placed: Sequence[Placed],
    cuts: list[dict[int, _Cut]],
    spool: _Spool,
    back: Image,
    out: Path,
    advance: Progress,
    zone: ZoneInfo,
    masks: privacy.Masks,
) -> Result:
    """Paste every object's cut-outs over the background frame by frame and encode the synopsis."""
    oh, ow = back.shape[:2]
    frames = max(1, math.ceil(max((p.start + p.length for p in placed), default=0.0) * OUT_FPS) + 1)
    by_frame: dict[int, list[int]] = {}
    for number, tube_cuts in enumerate(cuts):
        for frame in tube_cuts:
            by_frame.setdefault(frame, []).append(number)
    partial = out.with_name(out.name + ".part")
    with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=OUT_FPS)
        stream.width, stream.height, stream.pix_fmt = ow, oh, "yuv420p"
        stream.codec_context.options = {"preset": "superfast", "crf": "23", "g": str(OUT_FPS * 2)}
        stream.codec_context.time_base = Fraction(1, OUT_FPS)
        for number in range(frames):
            canvas = back.copy()
            labels = []
            for tube_number in by_frame.get(number, ()):
                cut = cuts[tube_number][number]
                crop = spool.get(cut.offset, cut.size)
                crop = crop[: cut.h, : cut.w]
                h, w = crop.shape[:2]
                under = canvas[cut.y : cut.y + h, cut.x : cut.x + w]
                box = placed[tube_number].tube.box_at(placed[tube_number].source_offset(number / OUT_FPS))
                bx1, by1 = round(box[0] * ow) - cut.x, round(box[1] * oh) - cut.y
                bx2, by2 = round(box[2] * ow) - cut.x, round(box[3] * oh) - cut.y
                inner = (
                    max(0, bx1),
                    max(0, by1),
                    max(1, min(w, bx2) - max(0, bx1)),
                    max(1, min(h, by2) - max(0, by1)),
                )
                alpha = _soft_mask(crop, back[cut.y : cut.y + h, cut.x : cut.x + w], inner)[..., None]
                blended = under.astype(np.float32) * (1 - alpha) + crop.astype(np.float32) * alpha
                canvas[cut.y : cut.y + h, cut.x : cut.x + w] = blended.astype(np.uint8)
                labels.append(
                    (label_text(cut.moment, placed[tube_number].tube.class_name, zone), cut.x, cut.y)
                )
            canvas = privacy.apply_masks(canvas, masks)  # objects pasted over a mask are covered too
            for text, x, y in labels:
                _label(canvas, text, x, y)
            # To the encoder's pixel format here (OpenCV: twice as fast as swscale's BGR path; the
            # encoder would also set up a scaler for every frame).
            planes = cast(Image, cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420))
            video = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            video.pts = number
            video.time_base = Fraction(1, OUT_FPS)
            container.mux(stream.encode(video))
            if number % OUT_FPS == 0:
                advance(0.7 + 0.29 * (number + 1) / frames)
        container.mux(stream.encode(None))
    partial.replace(out)
    return Result(frames / OUT_FPS, len(placed), ow, oh, frames, back)


def _index(
    placed: Sequence[Placed],
    timing: list[list[tuple[int, float]]],
    camera_id: uuid.UUID | None,
    result: Result,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """For each SLOT_S window of the synopsis, the objects on screen: box, track, original moment, link."""
    windows: list[list[dict[str, Any]]] = [[] for _ in range(math.ceil(result.duration_s / SLOT_S) + 1)]
    objects = []
    for tube, frames in zip(placed, timing, strict=True):
        track = tube.tube
        objects.append(
            {
                "track_id": str(track.id),
                "class_name": track.class_name,
                "first_seen": track.first_seen.isoformat(),
                "last_seen": track.last_seen.isoformat(),
                "start": round(tube.start, 3),
                "end": round(tube.start + tube.length, 3),
                "speed": round(tube.speed, 3),
            }
        )
        if not frames:
            continue
        first, last = frames[0][0] / OUT_FPS, frames[-1][0] / OUT_FPS
        for slot in range(math.floor(first / SLOT_S), math.floor(last / SLOT_S) + 1):
            t = min(max(first, (slot + 0.5) * SLOT_S), last)
            moment = track.first_seen + dt.timedelta(seconds=tube.source_offset(t))
            box = track.box_at(tube.source_offset(t))
            at = moment.astimezone(dt.UTC).isoformat()
            windows[slot].append(
                {
                    "track_id": str(track.id),
                    "class_name": track.class_name,
                    "box": [round(v, 4) for v in box],
                    "at": at,
                    "label": label_text(moment, track.class_name, zone),
                    "url": original_url(camera_id, moment) if camera_id else None,
                }
            )
    return {
        "fps": OUT_FPS,
        "window_s": SLOT_S,
        "duration_s": result.duration_s,
        "width": result.width,
        "height": result.height,
        "objects": objects,
        "windows": windows,
    }


def original_url(camera_id: uuid.UUID, moment: dt.datetime) -> str:
    """The camera page's playback at the original moment."""
    from urllib.parse import quote

    return f"/cameras/{camera_id}?at={quote(moment.astimezone(dt.UTC).isoformat())}#playback"
