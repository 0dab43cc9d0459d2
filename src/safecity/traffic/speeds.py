"""Vehicle speeds from two counting lines a measured distance apart, kept in memory and written in batches.

The detector thread hands each counting-line firing to a `SpeedBook` (a list append under a lock); the
analytics' flush thread then pairs each track's crossing
of one line with its crossing of the other: speed = distance / time between the two frames. A frame's
time is known to one analytics frame (0.2 s at 5 fps), so lines should be far enough apart that a vehicle
takes a second or more between them. Speeds are summed per class into buckets of every interval, as line
counts are, with a histogram that gives the 85th percentile.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

from safecity.analytics.counting import INTERVALS, bucket_start
from safecity.analytics.rules import Firing

MAX_TRAVEL_S = 120.0  # a track seen at one line longer ago than this is not paired any more
MAX_KMH = 300.0  # faster is a tracker's id switch, not a vehicle
BIN_KMH = 2.0  # the histogram's bin width: the 85th percentile is known to within this


@dataclass(frozen=True)
class Calibration:
    """Two lines of a camera `distance_m` apart; over `speed_limit_kmh` (if set) a vehicle is speeding."""

    id: uuid.UUID
    camera_id: uuid.UUID
    line_a: uuid.UUID
    line_b: uuid.UUID
    distance_m: float
    speed_limit_kmh: float | None = None


@dataclass(frozen=True)
class Crossing:
    """One track crossing one counting line at one moment."""

    camera_id: uuid.UUID
    rule_id: uuid.UUID
    track_id: int
    class_name: str
    at: dt.datetime


@dataclass(frozen=True)
class VehicleSpeed:
    """A vehicle's speed between a calibration's lines, measured when it crossed the second one (`at`)."""

    calibration: Calibration
    track_id: int
    class_name: str
    kmh: float
    at: dt.datetime
    direction: str  # "a_to_b" or "b_to_a"


@dataclass(frozen=True)
class SpeedKey:
    """One stored row: the speeds of one class measured by one calibration within one bucket."""

    calibration_id: uuid.UUID
    camera_id: uuid.UUID
    interval_min: int
    bucket_start: dt.datetime
    class_name: str


@dataclass
class SpeedSum:
    """Speeds added up: enough for the mean, the maximum and (from the histogram) the 85th percentile."""

    count: int = 0
    sum_kmh: float = 0.0
    max_kmh: float = 0.0
    bins: Counter[int] = field(default_factory=Counter)

    def add(self, kmh: float) -> None:
        """Add one vehicle's speed."""
        self.count += 1
        self.sum_kmh += kmh
        self.max_kmh = max(self.max_kmh, kmh)
        self.bins[int(kmh // BIN_KMH)] += 1


def percentile(bins: dict[int, int], fraction: float) -> float | None:
    """The speed below which `fraction` of the vehicles in the histogram drove (linear within a bin)."""
    total = sum(bins.values())
    if total == 0:
        return None
    wanted = fraction * total
    seen = 0
    for index in sorted(bins):
        n = bins[index]
        if seen + n >= wanted:
            return (index + (wanted - seen) / n) * BIN_KMH
        seen += n
    return (max(bins) + 1) * BIN_KMH


def buckets(speeds: list[VehicleSpeed]) -> dict[SpeedKey, SpeedSum]:
    """The speeds summed per calibration, class and bucket of every interval."""
    rows: dict[SpeedKey, SpeedSum] = {}
    for speed in speeds:
        for interval in INTERVALS:
            key = SpeedKey(
                speed.calibration.id,
                speed.calibration.camera_id,
                interval,
                bucket_start(speed.at, interval),
                speed.class_name,
            )
            rows.setdefault(key, SpeedSum()).add(speed.kmh)
    return rows


class SpeedBook:
    """Crossings of calibrated lines since the last measurement, and tracks waiting for their second line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crossings: list[Crossing] = []
        self._calibrations: dict[uuid.UUID, list[Calibration]] = {}  # line → the calibrations it is in
        # (calibration, camera's track) → (the line it crossed first, when); only the flush thread uses it.
        self._waiting: dict[tuple[uuid.UUID, int], tuple[uuid.UUID, dt.datetime]] = {}
        self._unwritten: list[VehicleSpeed] = []

    def set_calibrations(self, calibrations: list[Calibration]) -> None:
        """Measure with these calibrations from now on (tracks waiting on a removed one are forgotten)."""
        by_line: dict[uuid.UUID, list[Calibration]] = {}
        for calibration in calibrations:
            by_line.setdefault(calibration.line_a, []).append(calibration)
            by_line.setdefault(calibration.line_b, []).append(calibration)
        ids = {c.id for c in calibrations}
        with self._lock:
            self._calibrations = by_line
        self._waiting = {k: v for k, v in self._waiting.items() if k[0] in ids}

    @property
    def idle(self) -> bool:
        """Whether there is nothing to measure or write (no crossing noted, none waiting, none unwritten)."""
        with self._lock:
            noted = bool(self._crossings)
        return not (noted or self._waiting or self._unwritten)

    def add(self, camera_id: uuid.UUID, firing: Firing, at: dt.datetime) -> None:
        """Note a counting line's crossings at `at` (detector thread: a list append). Every line's are noted,
        as the counts are: a calibration saved moments ago is known only at the next measurement.
        """
        found = [
            Crossing(camera_id, firing.rule_id, int(c["track_id"]), str(c["class"]), at)
            for c in firing.detail.get("crossings", [])
        ]
        with self._lock:
            self._crossings.extend(found)

    def measure(self) -> list[VehicleSpeed]:
        """Pair the crossings noted since the last call into speeds (and keep unpaired ones waiting)."""
        with self._lock:
            crossings, self._crossings = self._crossings, []
            by_line = self._calibrations
        speeds = self._unwritten
        self._unwritten = []
        for crossing in sorted(crossings, key=lambda c: c.at):
            for calibration in by_line.get(crossing.rule_id, []):
                if calibration.camera_id != crossing.camera_id:
                    continue
                speed = self._pair(calibration, crossing)
                if speed is not None:
                    speeds.append(speed)
        if crossings:
            latest = max(c.at for c in crossings)
            horizon = latest - dt.timedelta(seconds=MAX_TRAVEL_S)
            self._waiting = {k: v for k, v in self._waiting.items() if v[1] >= horizon}
        return speeds

    def _pair(self, calibration: Calibration, crossing: Crossing) -> VehicleSpeed | None:
        key = (calibration.id, crossing.track_id)
        first = self._waiting.get(key)
        if first is None or first[0] == crossing.rule_id:
            self._waiting[key] = (crossing.rule_id, crossing.at)  # the first line (again: the latest time)
            return None
        del self._waiting[key]
        seconds = (crossing.at - first[1]).total_seconds()
        if not 0 < seconds <= MAX_TRAVEL_S:
            return None
        kmh = calibration.distance_m / seconds * 3.6
        if kmh > MAX_KMH:
            return None
        direction = "a_to_b" if first[0] == calibration.line_a else "b_to_a"
        return VehicleSpeed(calibration, crossing.track_id, crossing.class_name, kmh, crossing.at, direction)

    def put_back(self, speeds: list[VehicleSpeed]) -> None:
        """Keep speeds that could not be written for the next measurement."""
        self._unwritten = speeds + self._unwritten
