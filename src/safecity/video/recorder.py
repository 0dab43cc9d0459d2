"""Recording: remux a camera's packets into fragmented MP4 segments, index them, and lock them as evidence.

Each segment is a self-contained MP4 (its own ftyp+moov) that starts at a key frame and holds one
fragment per GOP, so a crash loses at most the fragment being written. Bytes go to the file strictly in
order (the MP4 trailer is skipped), which lets the SHA-256 be computed as they are written.

A camera with privacy masks is recorded masked: its segments are decoded, the masks blacked out and the
picture encoded again (key frames where the camera sent them), so the clear picture of a masked area is
never stored. Re-encoding costs several times a remux, so cameras without masks are only remuxed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, cast

import av
import av.video.stream
import numpy as np
from av.container import OutputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType
from sqlalchemy import select, update
from sqlalchemy.orm import Session, load_only, sessionmaker

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras import access
from safecity.cameras.models import Approval, Camera
from safecity.cameras.privacy.service import Masks, apply_masks, mask_i420
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound
from safecity.core.storage import contained
from safecity.video.models import Recording

logger = logging.getLogger(__name__)

# skip_trailer drops the optional random-access index (mfra) at the end, the one part of a fragmented
# MP4 the muxer would seek back to write: without it every byte is written once, in order.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+skip_trailer"
FILE_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
# A fast preset without look-ahead or B-frames: each frame's packet comes out as the frame goes in, so a
# segment ends with its last frame; forced key frames are IDR, so each starts a fragment as the source's did.
MASKED_ENCODER = {"preset": "veryfast", "tune": "zerolatency", "forced-idr": "1", "sc_threshold": "0"}
# Written in a masked segment's head (its `comment` tag): reconcile re-indexes a lost segment as masked.
MASKED_MARK = "safecity: privacy masks burned in"
MASKS_RETRY_S = 5.0  # masks that could not be read are asked again after this long (the last ones apply)
LIVE_MAX_DRIFT = dt.timedelta(seconds=1)  # a live stream's packet time may stray this far from arrival time
MERGE_WITHIN = dt.timedelta(seconds=1)  # segments closer than this form one span of the timeline
# No segment is longer (segments end at the first key frame past their length): bounds range queries.
MAX_SEGMENT = dt.timedelta(hours=1)
MAX_RANGE = dt.timedelta(days=7)
PLAYBACK_PERMISSION = "video.playback"
EXPORT_PERMISSION = "video.export"


@dataclass(frozen=True)
class SegmentInfo:
    """A finished segment: wall-clock UTC start and end, file (relative to the recordings dir) and digest."""

    camera_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    path: str  # POSIX path relative to the recordings dir
    bytes: int
    sha256: str
    init_bytes: int  # length of the ftyp+moov head, served as the HLS init section
    masked: bool = False  # recorded with the camera's privacy masks burned in


def segment_path(camera_id: uuid.UUID, start: dt.datetime) -> str:
    """Where a segment starting at `start` lives: <camera>/<YYYY>/<MM>/<DD>/<start>.mp4 (UTC)."""
    start = start.astimezone(dt.UTC)
    name = start.strftime(FILE_TIME_FORMAT) + ".mp4"
    return str(PurePosixPath(str(camera_id), f"{start:%Y}", f"{start:%m}", f"{start:%d}", name))


def segment_file(recordings_dir: Path, path: str) -> Path | None:
    """The file of an indexed segment, or None when its stored path leads outside the recordings folder."""
    return contained(recordings_dir, path)


def parse_segment_start(name: str) -> dt.datetime | None:
    """The UTC start encoded in a segment's file name, or None if the name is not one of ours."""
    try:
        return dt.datetime.strptime(name.removesuffix(".mp4"), FILE_TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


class BoxScanner:
    """Follows the top-level MP4 boxes of a byte stream, to find where the init section ends."""

    def __init__(self) -> None:
        self.position = 0
        self.init_bytes: int | None = None  # offset of the first moof, once seen
        self._next_box = 0
        self._head = b""
        self._lost = False  # a box size it cannot follow: the head's end stays unknown

    def feed(self, data: bytes) -> None:
        """Account for the next bytes of the stream."""
        chunk_start = self.position
        self.position += len(data)
        while self.init_bytes is None and not self._lost and self._next_box < self.position:
            offset = self._next_box + len(self._head) - chunk_start
            self._head += data[offset : offset + 8 - len(self._head)]
            if len(self._head) < 8:
                return
            size, kind = int.from_bytes(self._head[:4], "big"), self._head[4:8]
            if kind == b"moof":
                self.init_bytes = self._next_box
            self._lost = size < 8  # 64-bit or to-the-end sizes never occur in a fragmented head
            self._next_box += size
            self._head = b""


class HashingWriter(io.RawIOBase):
    """A write-only, non-seekable file that hashes and measures what passes through it."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file: BinaryIO = path.open("xb", buffering=0)  # never overwrite a recorded segment
        self._sha256 = hashlib.sha256()
        self.scanner = BoxScanner()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # the muxer then writes strictly in order, which keeps the running hash valid

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self._file.write(chunk)  # unbuffered: a finished fragment is with the OS at once
        self._sha256.update(chunk)
        self.scanner.feed(chunk)
        return len(chunk)

    @property
    def size(self) -> int:
        return self.scanner.position

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def file_sha256(file: Path) -> str:
    """The SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with file.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def wall_offset(ticks: int, time_base: Fraction) -> dt.timedelta:
    """A timestamp difference in stream ticks as a timedelta (rounded to the microsecond)."""
    return dt.timedelta(microseconds=round(ticks * time_base * 1_000_000))


class _Masker:
    """Decodes a segment's packets, blacks out the masks and encodes the picture again as H.264."""

    def __init__(self, template: av.video.stream.VideoStream, masks: Callable[[], Masks]) -> None:
        self.masks = masks
        self.time_base = Fraction(template.time_base or Fraction(1, 90_000))
        self.rate = template.average_rate or template.guessed_rate or Fraction(25)
        # A decoder of its own, started at the segment's key frame: the ingest's decoder is the ingest's.
        self.decoder = cast(VideoCodecContext, av.CodecContext.create(template.codec_context.name, "r"))
        if template.codec_context.extradata:
            self.decoder.extradata = template.codec_context.extradata  # SPS/PPS sent out of band
        self.encoder: av.video.stream.VideoStream | None = None  # made at the first picture: its size

    def encode(
        self, container: OutputContainer, packet: av.Packet[av.video.stream.VideoStream] | None
    ) -> list[av.Packet[av.video.stream.VideoStream]]:
        """The encoded packets of the pictures `packet` completes (None: the last pictures, then the end)."""
        out: list[av.Packet[av.video.stream.VideoStream]] = []
        for frame in self.decoder.decode(packet):
            image = _masked(frame, self.masks())
            image.pts, image.time_base = frame.pts, self.time_base
            image.pict_type = PictureType.I if frame.key_frame else PictureType.NONE  # I: forced, as IDR
            out += self._encoder(container, frame).encode(image)
        if packet is None and self.encoder is not None:
            out += self.encoder.encode(None)
        return out

    def _encoder(self, container: OutputContainer, frame: av.VideoFrame) -> av.video.stream.VideoStream:
        if self.encoder is None:
            encoder = container.add_stream("libx264", rate=self.rate)
            encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuv420p"
            encoder.time_base = encoder.codec_context.time_base = self.time_base
            # No key frames of its own: only where the source had them (forced on those frames).
            encoder.codec_context.options = {**MASKED_ENCODER, "g": str(2**30)}
            self.encoder = encoder
        return self.encoder


def _masked(frame: av.VideoFrame, masks: Masks) -> av.VideoFrame:
    """A decoded picture with the masks blacked out, as yuv420p for the encoder: in its own planes when it
    is yuv420p already (H.264 cameras), else through BGR."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        planes = np.asarray(frame.to_ndarray(), dtype=np.uint8)  # a copy of the planes, packed
        return av.VideoFrame.from_ndarray(mask_i420(planes, masks), format="yuv420p")
    masked = apply_masks(frame.to_ndarray(format="bgr24"), masks)
    return av.VideoFrame.from_ndarray(masked, format="bgr24").reformat(format="yuv420p")


class _Segment:
    """One segment file being written: the camera's packets remuxed, or (`masks` given) masked and encoded."""

    def __init__(
        self,
        root: Path,
        camera_id: uuid.UUID,
        template: av.video.stream.VideoStream,
        start: dt.datetime,
        masks: Callable[[], Masks] | None = None,
    ) -> None:
        self.start = start
        self.path = segment_path(camera_id, start)
        full = root / self.path
        full.parent.mkdir(parents=True, exist_ok=True)
        self.writer = HashingWriter(full)
        self.stream: av.video.stream.VideoStream | None = None  # remuxed only (masked: the encoder's)
        try:
            self.masker = _Masker(template, masks) if masks is not None else None
            self.container = av.open(self.writer, "w", format="mp4", options={"movflags": MOVFLAGS})
            if self.masker is None:
                self.stream = self.container.add_stream_from_template(template)
            else:
                self.container.metadata["comment"] = MASKED_MARK
        except BaseException:
            self.writer.close()
            raise
        self.base: int | None = None  # the first dts: the segment's own timestamps start at zero
        self.last_dts: int | None = None
        self.end = start
        self.packets = 0

    @property
    def masked(self) -> bool:
        return self.masker is not None

    def mux(self, packet: av.Packet[av.video.stream.VideoStream], ts: int, time_base: Fraction) -> None:
        dts = packet.dts if packet.dts is not None else ts
        if self.base is None:
            self.base = dts
        if self.last_dts is not None and dts <= self.last_dts:
            raise ValueError(f"timestamps went backwards ({dts} after {self.last_dts})")
        if self.masker is None:
            self._write(packet, ts, dts, time_base)
        else:
            for encoded in self.masker.encode(self.container, packet):
                self._write(encoded, encoded.pts, encoded.dts, time_base)
        self.last_dts = dts
        self.packets += 1

    def _write(
        self,
        packet: av.Packet[av.video.stream.VideoStream],
        pts: int | None,
        dts: int | None,
        time_base: Fraction,
    ) -> None:
        """Mux one packet (remuxed or encoded: both in the camera's time base) into the file."""
        stream = self.stream if self.masker is None else self.masker.encoder
        if self.base is None or stream is None or pts is None or dts is None:
            raise ValueError("a packet without timestamps, or before the segment's first")
        # A copy: the ingest may hand the same packet on (to a decoder), so it is never changed here.
        out = av.Packet(bytes(packet))
        out.pts, out.dts = pts - self.base, dts - self.base
        out.time_base = time_base
        if packet.duration:
            out.duration = packet.duration
        out.is_keyframe = packet.is_keyframe
        out.stream = stream
        self.container.mux(out)

    def finish(self, camera_id: uuid.UUID) -> SegmentInfo | None:
        """Flush the last fragment and close the file; None if nothing playable was written."""
        try:
            if self.masker is not None and self.base is not None:
                for encoded in self.masker.encode(self.container, None):
                    self._write(encoded, encoded.pts, encoded.dts, self.masker.time_base)
            self.container.close()
        finally:
            self.writer.close()
        init = self.writer.scanner.init_bytes
        if self.packets == 0 or init is None or self.end <= self.start:
            return None
        return SegmentInfo(
            camera_id,
            self.start,
            self.end,
            self.path,
            self.writer.size,
            self.writer.sha256,
            init,
            self.masked,
        )


class SegmentRecorder:
    """A `PacketSink` that records one camera's stream as fixed-length fMP4 segments.

    Packet times are mapped to wall-clock UTC from the connection's `started_at` (the stream's first
    timestamp is `started_at`). A segment ends at the first key frame past `segment_seconds`, when the
    stream closes, or on an error; `on_segment` is then called on the calling thread, so it must be quick.
    `allowed` is asked at every key frame that would start a segment: while it answers False (the disk is
    full of locked evidence), the segment being written is finished and nothing more is recorded.
    `masks` (the camera's privacy masks now) is asked at every key frame too: a segment is remuxed while
    there are none and masked (decoded, masks blacked out, encoded again) while there are; when that
    changes the segment ends there and the next is in the other mode. Within a masked segment every
    picture gets the masks of its moment.
    """

    def __init__(
        self,
        camera_id: uuid.UUID,
        directory: Path,
        segment_seconds: float,
        on_segment: Callable[[SegmentInfo], None],
        allowed: Callable[[], bool] = lambda: True,
        max_drift: dt.timedelta | None = None,
        masks: Callable[[], Masks] = lambda: (),
    ) -> None:
        self.camera_id = camera_id
        self.directory = directory
        self.segment_length = dt.timedelta(seconds=segment_seconds)
        self.on_segment = on_segment
        self.allowed = allowed
        self.max_drift = (
            max_drift  # for live streams: re-anchor packet time when it strays this far from ours
        )
        self._stream: av.video.stream.VideoStream | None = None
        self._time_base = Fraction(1, 90_000)
        self._started_at = utcnow()
        self._first_ts: int | None = None
        self._frame = dt.timedelta(0)  # duration of the last frame, for the end of a segment
        self._last_wall: dt.datetime | None = None
        self.masks = masks
        self._masks: Masks = ()  # the last masks read: kept when they cannot be read
        self._masks_retry_at = 0.0  # monotonic time before which unreadable masks are not asked again
        self._segment: _Segment | None = None
        self.dropped = 0  # packets that could not be recorded (before the first key frame, bad timestamps)

    def open(self, stream: av.video.stream.VideoStream, *, started_at: dt.datetime) -> None:
        """Start a connection: its first packet's timestamp is `started_at` (timezone-aware)."""
        if started_at.utcoffset() is None:
            raise ValueError("started_at must be timezone-aware")
        self._finish("reconnect")
        if stream.time_base is None:
            raise ValueError("the stream has no time base")
        self._stream, self._time_base = stream, Fraction(stream.time_base)
        self._started_at = started_at.astimezone(dt.UTC)
        self._first_ts, self._last_wall, self._frame = None, None, dt.timedelta(0)

    def write(self, packet: av.Packet[av.video.stream.VideoStream]) -> None:
        """Record one packet; never raises (a failure ends the segment and waits for the next key frame)."""
        if not packet.size:
            return  # a demuxer's end-of-stream marker, not video
        ts = packet.pts if packet.pts is not None else packet.dts
        stream = self._stream
        if stream is None or ts is None:
            self.dropped += 1
            return
        if self._first_ts is None:
            self._first_ts = ts
        wall = self._started_at + wall_offset(ts - self._first_ts, self._time_base)
        # A camera's clock and a server's pacing drift from ours (bursts at connect, slow clocks): keep the
        # index within a second of when packets really arrive, or an outage would not show where it was.
        drift = wall - utcnow() if self.max_drift is not None else dt.timedelta(0)
        if self.max_drift is not None and abs(drift) > self.max_drift:
            self._started_at -= drift
            wall -= drift
            if self._last_wall is not None and wall < self._last_wall:
                wall = self._last_wall
        if packet.duration:
            self._frame = wall_offset(packet.duration, self._time_base)
        elif self._last_wall is not None and wall > self._last_wall:
            self._frame = wall - self._last_wall
        self._last_wall = wall

        segment = self._segment
        masked = packet.is_keyframe and bool(self._current_masks())
        if packet.is_keyframe and (
            segment is None or wall - segment.start >= self.segment_length or segment.masked != masked
        ):
            if segment is not None and wall - segment.end <= MERGE_WITHIN:
                segment.end = wall  # segments of one connection abut exactly (a stall stays a gap)
            self._finish("length" if segment is None or segment.masked == masked else "masks changed")
            segment = self._start(stream, wall, masked) if self.allowed() else None
        elif segment is not None and wall - segment.start >= MAX_SEGMENT:
            logger.warning("camera %s: no key frame for %s; segment ended", self.camera_id, MAX_SEGMENT)
            self._finish("no key frame")
            segment = None
        if segment is None:
            self.dropped += 1  # before the first key frame: undecodable on its own
            return
        try:
            segment.mux(packet, ts, self._time_base)
        except ValueError as exc:  # out-of-order or invalid timestamps: skip this packet only
            self.dropped += 1
            logger.warning("camera %s: packet dropped: %s", self.camera_id, exc)
            return
        except (av.FFmpegError, OSError):
            logger.exception("camera %s: writing %s failed; segment ended", self.camera_id, segment.path)
            self._finish("error")
            return
        segment.end = max(segment.end, wall + self._frame)

    def close(self) -> None:
        """The stream ended or broke: finish the segment being written."""
        self._finish("closed")
        self._stream = None

    def _current_masks(self) -> Masks:
        now = time.monotonic()
        if now < self._masks_retry_at:
            return self._masks
        try:
            self._masks = self.masks()
        except Exception:  # the database is away: the masks last read apply, without a wait per picture
            self._masks_retry_at = now + MASKS_RETRY_S
            logger.exception("camera %s: privacy masks not read; the last ones apply", self.camera_id)
        return self._masks

    def _start(self, stream: av.video.stream.VideoStream, wall: dt.datetime, masked: bool) -> _Segment | None:
        masks = self._current_masks if masked else None
        try:
            self._segment = _Segment(self.directory, self.camera_id, stream, wall, masks)
        except (av.FFmpegError, OSError):
            logger.exception("camera %s: cannot start a segment at %s", self.camera_id, wall.isoformat())
            self._segment = None
        return self._segment

    def _finish(self, why: str) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        try:
            info = segment.finish(self.camera_id)
        except (av.FFmpegError, OSError):
            logger.exception("camera %s: closing %s failed", self.camera_id, segment.path)
            return
        if info is None:
            logger.warning("camera %s: empty segment %s discarded (%s)", self.camera_id, segment.path, why)
            (self.directory / segment.path).unlink(missing_ok=True)
            return
        logger.debug("camera %s: segment %s closed (%s)", self.camera_id, info.path, why)
        try:
            self.on_segment(info)
        except Exception:  # the file stays on disk; reconcile() indexes it at the next start
            logger.exception("camera %s: indexing %s failed", self.camera_id, info.path)


# --- the index ------------------------------------------------------------------------------------


def index_segment(*, session: Session, info: SegmentInfo) -> Recording:
    """Add a finished segment to the index (idempotent on its path)."""
    existing = session.scalars(select(Recording).where(Recording.path == info.path)).one_or_none()
    if existing is not None:
        return existing
    recording = Recording(
        camera_id=info.camera_id,
        start=info.start,
        end=info.end,
        path=info.path,
        bytes=info.bytes,
        init_bytes=info.init_bytes,
        sha256=info.sha256,
        locked=False,
        masked=info.masked,
    )
    session.add(recording)
    session.flush()
    return recording


def segment_indexer(session_factory: sessionmaker[Session]) -> Callable[[SegmentInfo], None]:
    """An `on_segment` callback that indexes each segment in a transaction of its own."""

    def on_segment(info: SegmentInfo) -> None:
        with session_factory() as session:
            index_segment(session=session, info=info)
            session.commit()

    return on_segment


def camera_in_scope(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, permission: str
) -> Camera:
    """The camera, if the principal holds `permission` and sees its district; NotFound otherwise.

    A camera shared only on request also needs a current grant for recorded video (403 otherwise).
    """
    principal.require(permission)
    camera = session.get(Camera, camera_id)
    if camera is None or not principal.sees_district(camera.district_id):
        raise NotFound("no such camera")
    access.require_video_access(session=session, principal=principal, camera=camera, permission=permission)
    return camera


def playable_cameras(
    *, session: Session, principal: Principal, search: str | None = None, brief: bool = False
) -> list[Camera]:
    """Approved cameras within the principal's districts whose recordings they may play back, by name.

    `brief`: only their id, name and place are loaded (to search across them: a province-wide investigator's
    hundreds of full rows took longer to read than the search itself).
    """
    principal.require(PLAYBACK_PERMISSION)
    query = (
        select(Camera)
        .where(principal.district_filter(Camera.district_id), Camera.approval == Approval.APPROVED)
        .order_by(Camera.name)
    )
    if brief:
        query = query.options(load_only(Camera.id, Camera.name, Camera.latitude, Camera.longitude))
    if search:
        query = query.where(Camera.name.icontains(search, autoescape=True))
    return list(session.scalars(query))


def check_range(since: dt.datetime, until: dt.datetime, *, limit: dt.timedelta = MAX_RANGE) -> None:
    """Refuse a time range that is naive, empty or longer than `limit`."""
    if since.utcoffset() is None or until.utcoffset() is None:
        raise InvalidInput("times need a time zone (e.g. 2026-11-22T10:00:00+05:00)")
    if until <= since:
        raise InvalidInput("the end of the range must be after its start")
    if until - since > limit:
        raise InvalidInput(f"the range may span at most {limit}")


def segments(
    *, session: Session, camera_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[Recording]:
    """The camera's segments that overlap [since, until), oldest first (no permission check)."""
    query = (
        select(Recording)
        .where(
            Recording.camera_id == camera_id,
            Recording.start < until,
            Recording.start > since - MAX_SEGMENT,  # keeps the scan on the (camera, start) index
            Recording.end > since,
        )
        .order_by(Recording.start)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Span:
    """A stretch of a camera's timeline: recorded footage (locked as evidence or not, recorded with the
    privacy masks burned in or not), or a gap."""

    kind: Literal["recorded", "gap"]
    start: dt.datetime
    end: dt.datetime
    locked: bool = False
    masked: bool = False


def _spans(rows: list[Recording], since: dt.datetime, until: dt.datetime) -> Iterator[Span]:
    cursor = since
    current: Span | None = None
    for row in rows:
        start, end = max(row.start, since), min(row.end, until)
        if current is not None:
            adjacent = start - current.end <= MERGE_WITHIN
            if adjacent and (row.locked, row.masked) == (current.locked, current.masked):
                current = Span("recorded", current.start, max(current.end, end), row.locked, row.masked)
                continue
            yield current
            cursor = current.end
            if adjacent:  # footage continues, only its lock or masking differs: no gap between the two
                start = cursor
        if start > cursor:
            yield Span("gap", cursor, start)
        start = max(start, cursor)
        current = Span("recorded", start, max(start, end), row.locked, row.masked)
    if current is not None:
        yield current
        cursor = current.end
    if cursor < until:
        yield Span("gap", cursor, until)


def timeline(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[Span]:
    """Recorded spans and gaps of a camera over [since, until); segments within 1 s are merged."""
    camera_in_scope(session=session, principal=principal, camera_id=camera_id, permission=PLAYBACK_PERMISSION)
    check_range(since, until)
    rows = segments(session=session, camera_id=camera_id, since=since, until=until)
    return list(_spans(rows, since.astimezone(dt.UTC), until.astimezone(dt.UTC)))


def _set_lock(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    reason: str,
    locked: bool,
) -> int:
    camera = camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, permission=EXPORT_PERMISSION
    )
    check_range(since, until, limit=dt.timedelta(days=366))
    reason = reason.strip()
    if len(reason) < 3:
        raise InvalidInput("give the reason (a case or FIR number, at least 3 characters)")
    if locked and until > utcnow() + MERGE_WITHIN:
        # A lock marks footage that exists; segments recorded later would not be covered.
        raise InvalidInput("an evidence lock covers recorded footage: the range must not end in the future")
    ids = [row.id for row in segments(session=session, camera_id=camera_id, since=since, until=until)]
    if ids:
        values = (
            {"locked": True, "lock_reason": reason, "locked_by": principal.user_id, "locked_at": utcnow()}
            if locked
            else {"locked": False, "lock_reason": None, "locked_by": None, "locked_at": None}
        )
        session.execute(update(Recording).where(Recording.id.in_(ids)).values(**values))
    audit.record(
        session=session,
        action="video.lock" if locked else "video.unlock",
        outcome="success",
        actor=principal,
        object_type="camera",
        object_id=str(camera.id),
        purpose=reason,
        district_id=camera.district_id,
        detail={"since": since.isoformat(), "until": until.isoformat(), "segments": len(ids)},
    )
    return len(ids)


def lock(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    reason: str,
) -> int:
    """Lock a camera's recorded segments in [since, until) as evidence; returns how many (audited)."""
    return _set_lock(
        session=session,
        principal=principal,
        camera_id=camera_id,
        since=since,
        until=until,
        reason=reason,
        locked=True,
    )


def unlock(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    reason: str,
) -> int:
    """Release the evidence lock of a camera's segments in [since, until); returns how many (audited)."""
    return _set_lock(
        session=session,
        principal=principal,
        camera_id=camera_id,
        since=since,
        until=until,
        reason=reason,
        locked=False,
    )
