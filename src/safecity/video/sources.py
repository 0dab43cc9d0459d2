"""Open a camera's video stream with PyAV: RTSP over TCP, HTTP, or a local file standing in for a camera."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

import av
import av.container
import av.video.stream

logger = logging.getLogger(__name__)

VideoPacket: TypeAlias = "av.Packet[av.video.stream.VideoStream]"  # generic in the stubs only

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"})
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s'\"]*@", re.IGNORECASE)
# Live streams: start quickly rather than probing for seconds (the defaults suit files, not cameras).
_LIVE_PROBE = {"analyzeduration": "2000000", "probesize": "2000000"}


class NoVideoStream(Exception):
    """The source opened but carries no video stream."""


def redact_url(url: str) -> str:
    """The URL without its user:password part, fit for logs and error messages."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redact_text(text: str) -> str:
    """Any URL credentials inside free text (FFmpeg error messages quote the URL they failed on) removed."""
    return _USERINFO.sub(r"\g<scheme>", text)


def is_live(url: str) -> bool:
    """Whether `url` names a network stream (anything else is a local file looped as a demo camera)."""
    return urlsplit(url).scheme.lower() in LIVE_SCHEMES


def _file_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path if parts.scheme == "file" else url


def _micros(seconds: float) -> str:
    return str(max(1, round(seconds * 1_000_000)))


def open_container(url: str, *, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open `url` for reading with timeouts on the open and on every read (raises av.FFmpegError)."""
    scheme = urlsplit(url).scheme.lower()
    options: dict[str, str] = {}
    if scheme in ("rtsp", "rtsps"):
        # TCP: no lost packets (and no smeared frames) on a busy network; `timeout` is the socket I/O limit.
        options = {"rtsp_transport": "tcp", "timeout": _micros(read_timeout_s), **_LIVE_PROBE}
    elif scheme in LIVE_SCHEMES:
        options = {"rw_timeout": _micros(read_timeout_s), "timeout": _micros(read_timeout_s), **_LIVE_PROBE}
    target = url if scheme in LIVE_SCHEMES else _file_path(url)
    return av.open(target, mode="r", container_options=options, timeout=(open_timeout_s, read_timeout_s))


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The container's first video stream."""
    if not container.streams.video:
        raise NoVideoStream("the source has no video stream")
    return container.streams.video[0]


@dataclass(frozen=True)
class StreamInfo:
    """What a probe learns about a stream."""

    width: int
    height: int
    fps: float | None
    codec: str


def stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    """The stream's nominal frame rate, if the source declares one."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def probe(url: str, timeout: float = 10.0) -> StreamInfo:
    """Open `url` briefly and report the video stream's size, frame rate and codec."""
    with open_container(url, open_timeout_s=timeout, read_timeout_s=timeout) as container:
        stream = video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:  # some streams only tell their size once a frame is decoded
            for frame in container.decode(stream):
                width, height = frame.width, frame.height
                break
        return StreamInfo(width=width, height=height, fps=stream_fps(stream), codec=stream.codec_context.name)


class VideoSource:
    """One connection to a camera, yielding its video packets; closed by `close` (or `with`).

    A local file stands in for a camera in demos and tests: it is paced at real time by its timestamps and
    loops forever, with timestamps carried on across loops so it looks like one unbroken live stream.
    """

    def __init__(
        self,
        url: str,
        *,
        open_timeout_s: float,
        read_timeout_s: float,
        stop: threading.Event | None = None,
        realtime: bool | None = None,
        loop: bool | None = None,
    ) -> None:
        self.url = url
        self.live = is_live(url)
        self.realtime = (not self.live) if realtime is None else realtime
        self.loop = (not self.live) if loop is None else loop
        self._stop = stop or threading.Event()
        self.container = open_container(url, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s)
        try:
            self.stream = video_stream(self.container)
        except BaseException:
            self.container.close()
            raise

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection (and its file descriptors)."""
        self.container.close()

    def packets(self) -> Iterator[VideoPacket]:
        """Video packets as they arrive; ends at the end of a live stream or when stopped."""
        offset = 0  # added to a looping file's timestamps, in stream time base
        first_dts: int | None = None
        end_dts = prev_ts = step = 0
        pace_origin: tuple[float, float] | None = (
            None  # (monotonic clock, stream seconds) of the first packet
        )
        time_base = float(self.stream.time_base or 0)
        while not self._stop.is_set():
            delivered = False
            for packet in self.container.demux(self.stream):
                if packet.size == 0:  # the demuxer's end-of-stream flush packet
                    continue
                delivered = True
                if offset:
                    packet.pts = None if packet.pts is None else packet.pts + offset
                    packet.dts = None if packet.dts is None else packet.dts + offset
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is not None:
                    if first_dts is None:
                        first_dts = ts
                    elif ts > prev_ts:
                        step = ts - prev_ts  # stands in for a duration the container does not give
                    prev_ts = ts
                    end_dts = max(end_dts, ts + (packet.duration or step))
                    if self.realtime and time_base:
                        pace_origin = self._pace(ts * time_base, pace_origin)
                yield packet
                if self._stop.is_set():
                    return
            if not self.loop or not delivered:
                return
            if first_dts is not None:
                offset += end_dts - first_dts
            first_dts = None
            self.container.seek(0)

    def _pace(self, at: float, origin: tuple[float, float] | None) -> tuple[float, float]:
        """Sleep until the packet stamped `at` (seconds) is due, so a file plays at the camera's speed."""
        now = time.monotonic()
        if origin is None:
            return now, at
        due = origin[0] + (at - origin[1])
        if due - now > 1.0 or now - due > 1.0:  # a jump in the timestamps: start pacing afresh
            return now, at
        if due > now:
            self._stop.wait(due - now)
        return origin


def describe_error(exc: BaseException) -> str:
    """A short, credential-free description of why a stream failed."""
    if isinstance(exc, av.FFmpegError):
        text = f"{type(exc).__name__}: {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact_text(text)[:300]


def file_url(path: Path) -> str:
    """A file as a source URL."""
    return path.resolve().as_uri()
