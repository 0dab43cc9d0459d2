"""Playback and export of recorded video: HLS playlists over the segments, and clips remuxed into one MP4."""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.video.stream
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.errors import Conflict, NotFound
from safecity.video.models import Clip, Recording
from safecity.video.recorder import (
    EXPORT_PERMISSION,
    PLAYBACK_PERMISSION,
    camera_in_scope,
    check_range,
    file_sha256,
    segment_file,
    segments,
    wall_offset,
)

logger = logging.getLogger(__name__)

MAX_PLAYLIST = dt.timedelta(hours=24)
MAX_CLIP = dt.timedelta(hours=1)  # an export is remuxed while the request waits
CLIP_TIME_BASE = Fraction(1, 90_000)


def _hls_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Span:
    """A stretch of one camera's recordings: [since, until)."""

    camera_id: uuid.UUID
    since: dt.datetime
    until: dt.datetime


def playlist(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    segment_url: Callable[[uuid.UUID], str],
) -> str:
    """An HLS (VOD) playlist of a camera's segments over [since, until), starting playback at `since`."""
    return spans_playlist(
        session=session, principal=principal, spans=[Span(camera_id, since, until)], segment_url=segment_url
    )


def spans_playlist(
    *,
    session: Session,
    principal: Principal,
    spans: Sequence[Span],
    segment_url: Callable[[uuid.UUID], str],
) -> str:
    """An HLS (VOD) playlist of the segments of several stretches of recordings, one after the other (a
    route across cameras plays as one video), starting playback at the first stretch's `since`.

    Every segment is a whole fMP4 file served once: its head (ftyp+moov) by byte range as the EXT-X-MAP,
    the rest as the media segment. Segments restart their timestamps at zero, so each is preceded by a
    discontinuity; EXT-X-PROGRAM-DATE-TIME gives the player the wall-clock time. Viewing is audited, once
    per camera. A segment shared by two overlapping stretches of one camera is played once.
    """
    found: list[tuple[Span, Camera, list[Recording]]] = []
    seen: set[uuid.UUID] = set()
    for span in spans:
        camera = camera_in_scope(
            session=session, principal=principal, camera_id=span.camera_id, permission=PLAYBACK_PERMISSION
        )
        check_range(span.since, span.until, limit=MAX_PLAYLIST)
        rows = segments(session=session, camera_id=span.camera_id, since=span.since, until=span.until)
        rows = [row for row in rows if row.id not in seen]
        seen.update(row.id for row in rows)
        if rows:
            found.append((span, camera, rows))
    if not found:
        raise NotFound("no recordings of this camera in that time range")
    first_span, _, first_rows = found[0]
    every = [row for _, _, rows in found for row in rows]
    longest = max((row.end - row.start).total_seconds() for row in every)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if first_span.since > first_rows[0].start:
        offset = (first_span.since - first_rows[0].start).total_seconds()
        lines.append(f"#EXT-X-START:TIME-OFFSET={offset:.3f},PRECISE=YES")
    for number, row in enumerate(every):
        url = segment_url(row.id)
        if number:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [
            f'#EXT-X-MAP:URI="{url}",BYTERANGE="{row.init_bytes}@0"',
            f"#EXT-X-PROGRAM-DATE-TIME:{_hls_time(row.start)}",
            f"#EXTINF:{(row.end - row.start).total_seconds():.3f},",
            f"#EXT-X-BYTERANGE:{row.bytes - row.init_bytes}@{row.init_bytes}",
            url,
        ]
    lines.append("#EXT-X-ENDLIST")
    for span, camera, rows in found:
        audit.record(
            session=session,
            action="video.playback",
            outcome="success",
            actor=principal,
            object_type="camera",
            object_id=str(camera.id),
            district_id=camera.district_id,
            detail={"since": span.since.isoformat(), "until": span.until.isoformat(), "segments": len(rows)},
        )
    return "\n".join(lines) + "\n"


def recording_file(
    *, session: Session, principal: Principal, recording_id: uuid.UUID, recordings_dir: Path
) -> tuple[Recording, Path]:
    """A segment the principal may play back, and its file."""
    principal.require(PLAYBACK_PERMISSION)
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("no such recording")
    camera_in_scope(
        session=session, principal=principal, camera_id=recording.camera_id, permission=PLAYBACK_PERMISSION
    )
    file = segment_file(recordings_dir, recording.path)
    if file is None or not file.is_file():
        raise NotFound("the recording's file is missing from the disk")
    return recording, file


# --- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipInfo:
    """An exported clip: its file, digest, and the wall-clock time it covers (from a key frame)."""

    path: Path
    sha256: str
    start: dt.datetime
    end: dt.datetime
    id: uuid.UUID
    bytes: int


def _round(numerator: int, denominator: int) -> int:
    """round(Fraction(numerator, denominator)) (halves to even) in integers; denominator > 0."""
    floor, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    return floor + (twice > denominator or (twice == denominator and floor % 2 == 1))


# Opening a file runs FFmpeg's stream probe, which decodes frames to learn what the MP4 header already
# says; a remux needs only the header (and a decoder set up from it decodes the same), so the probe's
# decoder skips every frame: opening a segment then takes a tenth of the time.
PROBE_WITHOUT_DECODING = [{"skip_frame": "all"}]


@dataclass
class Demuxed:
    """A recorded segment's video read once: its stream (the template of clips written from it) and its
    packets with their own timestamps and wall-clock times, so that any number of clips are remuxed from it
    (and its frames decoded) without opening or reading the file again. Writers set a packet's timestamps
    before each use, from `pts` and `dts`. Close it when done.
    """

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    start: dt.datetime
    packets: list[av.Packet[av.video.stream.VideoStream]]
    pts: list[int]
    dts: list[int]
    durations: list[int]
    walls: list[dt.datetime]  # from each packet's pts
    origin: int  # the first packet's pts: the segment's start
    time_base: Fraction
    codec: tuple[bytes | None, int, int]

    def close(self) -> None:
        self.container.close()


def read_segment(file: Path, start: dt.datetime) -> Demuxed:
    """Open and demux a segment (wall-clock start `start`); its video packets in decoding order."""
    # PyAV's stub types stream_options as list[str]; it takes one dict per stream.
    container = av.open(str(file), stream_options=PROBE_WITHOUT_DECODING)  # type: ignore[arg-type]
    try:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base or CLIP_TIME_BASE)
        packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
        pts = [p.pts or 0 for p in packets]
        origin = pts[0] if pts else 0
        context = stream.codec_context
        return Demuxed(
            container=container,
            stream=stream,
            start=start,
            packets=packets,
            pts=pts,
            dts=[p.dts if p.dts is not None else t for p, t in zip(packets, pts, strict=True)],
            durations=[p.duration or 0 for p in packets],
            walls=[start + wall_offset(t - origin, time_base) for t in pts],
            origin=origin,
            time_base=time_base,
            codec=(context.extradata, context.width, context.height),
        )
    except BaseException:
        container.close()
        raise


class _ClipWriter:
    """Remuxes packets of consecutive segments into one MP4 on a single, continuous wall-clock timeline."""

    def __init__(self, path: Path, t0: dt.datetime, t1: dt.datetime) -> None:
        self.t0, self.t1 = t0, t1
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self.stream: av.video.stream.VideoStream | None = None
        self.codec: tuple[bytes | None, int, int] | None = None
        self.start: dt.datetime | None = None
        self.end: dt.datetime | None = None
        self.last_dts: int | None = None
        self.done = False

    def add(self, segment: Demuxed) -> None:
        """Append the packets of one segment that fall before t1 (from the key frame at or before t0)."""
        if not segment.packets:
            return
        first = 0
        if self.stream is None or self.start is None:
            # Start at the last key frame at or before t0: a clip must begin decodable.
            for index, packet in enumerate(segment.packets):
                if segment.walls[index] > self.t0:
                    break
                if packet.is_keyframe:
                    first = index
            self.stream = self.container.add_stream_from_template(segment.stream)
            self.codec, self.start = segment.codec, segment.walls[first]
        elif segment.codec != self.codec:
            raise Conflict(
                "the camera's stream settings changed within this range: export the parts before "
                f"and after {segment.start.isoformat()} separately"
            )
        self._mux(self.stream, segment, first, segment.start - self.start)

    def _mux(
        self, out: av.video.stream.VideoStream, segment: Demuxed, first: int, shift: dt.timedelta
    ) -> None:
        # Exact integer arithmetic on the rationals (rounded as Fraction rounds): a clip writes a hundred
        # packets or more, and Fraction objects cost more than the muxing.
        tick, per = segment.time_base.numerator, segment.time_base.denominator  # a tick is tick/per s
        clip_rate = CLIP_TIME_BASE.denominator  # CLIP_TIME_BASE is 1/clip_rate s
        shift_us = shift // dt.timedelta(microseconds=1)
        base, scale, whole = shift_us * per * clip_rate, tick * 1_000_000 * clip_rate, 1_000_000 * per
        origin = segment.origin
        frame = 0  # the last frame's duration in ticks, for the clip's end
        previous: int | None = None
        for index in range(first, len(segment.packets)):
            wall = segment.walls[index]
            if wall >= self.t1:
                self.done = True
                return
            packet = segment.packets[index]
            pts, dts, duration = segment.pts[index], segment.dts[index], segment.durations[index]
            if duration:
                frame = duration
            elif previous is not None and pts > previous:
                frame = pts - previous
            previous = pts
            out_pts = _round(base + (pts - origin) * scale, whole)
            out_dts = _round(base + (dts - origin) * scale, whole)
            if self.last_dts is not None and out_dts <= self.last_dts:
                out_dts = self.last_dts + 1  # segments of two connections may overlap by a frame
                out_pts = max(out_pts, out_dts)
            packet.pts, packet.dts, packet.time_base = out_pts, out_dts, CLIP_TIME_BASE
            packet.duration = _round(frame * tick * clip_rate, per)
            packet.stream = out
            self.container.mux(packet)  # muxes a new reference: the packet's data stays for other clips
            self.last_dts = out_dts
            end = wall + dt.timedelta(microseconds=_round(frame * tick * 1_000_000, per))
            self.end = end if self.end is None else max(self.end, end)

    def close(self) -> None:
        self.container.close()


def remux_segments(
    segments: Iterable[Demuxed], *, t0: dt.datetime, t1: dt.datetime, out: Path
) -> tuple[dt.datetime, dt.datetime] | None:
    """Remux [t0, t1) of consecutive demuxed segments into one MP4 at `out`, without re-encoding, from the
    key frame at or before t0; the wall-clock time it covers (None: no frames). Segments are read from the
    iterable only until t1 is reached.
    """
    writer = _ClipWriter(out, t0, t1)
    try:
        for segment in segments:
            writer.add(segment)
            if writer.done:
                break
    finally:
        writer.close()
    if writer.start is None or writer.end is None:
        return None
    return writer.start, writer.end


def _read_each(sources: Sequence[tuple[Path, dt.datetime]]) -> Generator[Demuxed]:
    for file, start in sources:
        segment = read_segment(file, start)
        try:
            yield segment
        finally:
            segment.close()


def remux(
    sources: Sequence[tuple[Path, dt.datetime]], *, t0: dt.datetime, t1: dt.datetime, out: Path
) -> tuple[dt.datetime, dt.datetime] | None:
    """Remux [t0, t1) of consecutive segments (file, wall-clock start) into one MP4 at `out`, without
    re-encoding, from the key frame at or before t0; the wall-clock time it covers (None: no frames).

    Used by exports; violations' evidence remuxes many clips from segments it reads once (remux_segments).
    """
    reading = _read_each(sources)
    try:
        return remux_segments(reading, t0=t0, t1=t1, out=out)
    finally:
        reading.close()


def export_clip(
    *,
    session: Session,
    principal: Principal,
    camera_id: uuid.UUID,
    t0: dt.datetime,
    t1: dt.datetime,
    out_dir: Path,
    recordings_dir: Path,
) -> ClipInfo:
    """Export [t0, t1) of a camera as one MP4 starting at the key frame at or before t0 (audited)."""
    camera = camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, permission=EXPORT_PERMISSION
    )
    check_range(t0, t1, limit=MAX_CLIP)
    rows = segments(session=session, camera_id=camera_id, since=t0, until=t1)
    if not rows:
        raise NotFound("no recordings of this camera in that time range")
    files = [f for row in rows if (f := segment_file(recordings_dir, row.path)) is not None and f.is_file()]
    if missing := len(rows) - len(files):
        logger.error("export: %d segment files of camera %s are missing", missing, camera.id)
        raise Conflict(f"{missing} of the {len(rows)} recorded segments in this range are missing")
    clip_id = uuid.uuid4()
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{clip_id}.mp4"
    partial = out_dir / f"{clip_id}.mp4.part"
    try:
        covered = remux(
            [(file, row.start) for row, file in zip(rows, files, strict=True)], t0=t0, t1=t1, out=partial
        )
        if covered is None:
            raise NotFound("no recorded frames in that time range")
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    start, end = covered
    digest, size = file_sha256(final), final.stat().st_size
    session.add(
        Clip(
            id=clip_id,
            district_id=camera.district_id,
            camera_id=camera.id,
            start=start,
            end=end,
            path=final.name,
            bytes=size,
            sha256=digest,
            created_by=principal.user_id,
        )
    )
    audit.record(
        session=session,
        action="video.export",
        outcome="success",
        actor=principal,
        object_type="camera",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={
            "clip_id": str(clip_id),
            "t0": t0.isoformat(),
            "t1": t1.isoformat(),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "sha256": digest,
            "bytes": size,
        },
    )
    session.flush()
    logger.info("camera %s: clip %s exported (%d bytes)", camera.id, clip_id, size)
    return ClipInfo(final, digest, start, end, clip_id, size)


def clip_file(
    *, session: Session, principal: Principal, clip_id: uuid.UUID, exports_dir: Path
) -> tuple[Clip, Path]:
    """An exported clip the principal may download, and its file (the download is audited)."""
    principal.require(EXPORT_PERMISSION)
    clip = session.get(Clip, clip_id)
    if clip is None or not principal.sees_district(clip.district_id):
        raise NotFound("no such clip")
    file = exports_dir / clip.path
    if not file.is_file():
        raise NotFound("the clip's file is missing from the disk")
    audit.record(
        session=session,
        action="video.export.download",
        outcome="success",
        actor=principal,
        object_type="clip",
        object_id=str(clip.id),
        district_id=clip.district_id,
        detail={"camera_id": str(clip.camera_id), "sha256": clip.sha256},
    )
    return clip, file
