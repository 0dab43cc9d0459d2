"""What a camera's ingest reports: its state, measured frame rate and bitrate, and why it last failed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import threading
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.cameras.models import Camera

READ_PERMISSION = "cameras.read"


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"  # started, no frame yet
    ONLINE = "online"  # frames arriving
    OFFLINE = "offline"  # no frame for `offline_after_s`; the worker keeps reconnecting
    STOPPED = "stopped"  # not ingested (stopped, or not handed to this process)


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot of one camera's ingest; `last_error` never holds credentials."""

    camera_id: uuid.UUID
    name: str
    district_id: uuid.UUID | None
    state: CameraState
    since: dt.datetime  # when the state last changed
    fps: float = 0.0  # frames received per second (compressed), over the last few seconds
    decoded_fps: float = 0.0  # frames decoded for analytics and live view per second
    bitrate_kbps: float = 0.0
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    last_frame_at: dt.datetime | None = None
    last_error: str | None = None
    reconnects: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, e.g. for a bus message."""
        return {
            "camera_id": str(self.camera_id),
            "name": self.name,
            "district_id": str(self.district_id) if self.district_id else None,
            "state": self.state.value,
            "since": self.since.isoformat(),
            "fps": round(self.fps, 2),
            "decoded_fps": round(self.decoded_fps, 2),
            "bitrate_kbps": round(self.bitrate_kbps, 1),
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None,
            "last_error": self.last_error,
            "reconnects": self.reconnects,
        }


class RateMeter:
    """Events and bytes per second over a sliding window of the events' own timestamps (thread-safe).

    Packets are timed by the stream's timestamps (the camera's clock), so the burst of buffered packets
    that arrives when a connection opens does not read as a higher frame rate.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, size: int, at: float) -> None:
        """Count one event of `size` bytes stamped `at` seconds."""
        with self._lock:
            if self._events and at < self._events[-1][0] - 1.0:  # the clock jumped back: start afresh
                self._events.clear()
                self._bytes = 0
            self._events.append((at, size))
            self._bytes += size
            horizon = at - self.window_s
            while self._events[0][0] < horizon:
                self._bytes -= self._events.popleft()[1]

    def rates(self) -> tuple[float, float]:
        """(events per second, bytes per second) over the window."""
        with self._lock:
            if len(self._events) < 2:
                return 0.0, 0.0
            span = self._events[-1][0] - self._events[0][0]
            if span <= 0:
                return 0.0, 0.0
            # n events span n-1 intervals; the first event's bytes were sent before the span began.
            return (len(self._events) - 1) / span, (self._bytes - self._events[0][1]) / span

    def reset(self) -> None:
        """Forget what was counted (a new connection starts afresh)."""
        with self._lock:
            self._events.clear()
            self._bytes = 0


def scoped_statuses(
    *,
    session: Session,
    principal: Principal,
    live: Mapping[uuid.UUID, CameraStatus],
    camera_ids: Collection[uuid.UUID] | None = None,
) -> list[CameraStatus]:
    """The status of every camera in the principal's scope (or of those of `camera_ids` in scope).

    `live` holds the statuses of the cameras this process ingests; any other camera shows as stopped.
    """
    principal.require(READ_PERMISSION)
    query = select(Camera).where(principal.district_filter(Camera.district_id)).order_by(Camera.name)
    if camera_ids is not None:
        query = query.where(Camera.id.in_(list(camera_ids)))
    result = []
    for camera in session.scalars(query):
        known = live.get(camera.id)
        if known is None:
            known = CameraStatus(
                camera.id, camera.name, camera.district_id, CameraState.STOPPED, camera.updated_at
            )
        result.append(dataclasses.replace(known, name=camera.name, district_id=camera.district_id))
    return result
