"""What the analytics of one process report about themselves, for the UI and the API."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CameraAnalyticsStats:
    """One camera's analytics over the last few seconds."""

    camera_id: uuid.UUID
    name: str
    fps: float  # frames analysed per second (motion-checked)
    detect_fps: float  # frames the detector ran on per second (queued frames replaced by newer ones excluded)
    motion: bool  # whether something moved in the latest frame
    tracks: int  # objects tracked now
    events: int  # events raised since start
    rejected_frames: int  # frames refused as not a picture
    last_event_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True)
class AnalyticsStats:
    """Every camera of this process, the shared detector and its queue."""

    detector: str  # the model's name
    cameras: list[CameraAnalyticsStats]
    total_fps: float
    detect_fps: float
    detector_ms_p50: float | None
    detector_ms_p95: float | None
    queue_drops: int  # frames replaced in the inference queue by a newer one before the detector took them


class StatsSource(Protocol):
    """Whatever runs analytics in this process (the web app shows its figures)."""

    def stats(self) -> AnalyticsStats:
        """The figures now."""
        ...
