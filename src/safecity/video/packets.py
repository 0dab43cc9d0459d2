"""What the ingest worker hands on: compressed packets to sinks (the recorder), decoded frames to readers."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import av
import av.video.stream


class PacketSink(Protocol):
    """Receives a camera's compressed video packets as they are demuxed, without re-encoding.

    The ingest worker calls `open` each time the stream (re)connects, `write` for every packet, and `close`
    when the stream ends or breaks. A sink must never block for long: it runs on the demux thread.
    """

    def open(self, stream: av.video.stream.VideoStream, *, started_at: dt.datetime) -> None:
        """A new connection's video stream (codec parameters, time base) starts at `started_at` (UTC)."""

    def write(self, packet: av.Packet[av.video.stream.VideoStream]) -> None:
        """One compressed packet of the stream last opened."""

    def close(self) -> None:
        """The stream ended or broke; finish what was written."""
