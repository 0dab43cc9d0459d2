"""What counting lines count, kept in memory per time bucket and written to the database in batches.

The detector thread adds each crossing to a `CountBook` (a dictionary update under a lock); a worker
thread drains the book every few seconds and upserts one row per (line, interval, bucket, direction,
class), adding to what is stored. Nothing is written per frame, and a bucket flushed several times
simply accumulates.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from dataclasses import dataclass

from safecity.analytics.rules import Firing

INTERVALS: tuple[int, ...] = (1, 5, 15, 60)  # minutes
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def bucket_start(moment: dt.datetime, minutes: int) -> dt.datetime:
    """The start of the `minutes`-long bucket holding `moment` (buckets start on UTC boundaries)."""
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + dt.timedelta(seconds=seconds - seconds % (minutes * 60))


@dataclass(frozen=True)
class CountKey:
    """One row of the counts: a line's crossings of one class in one direction within one bucket."""

    camera_id: uuid.UUID
    rule_id: uuid.UUID
    interval_min: int
    bucket_start: dt.datetime
    direction: str
    class_name: str


def crossings(firing: Firing) -> list[tuple[str, str]]:
    """The (direction, class) of each crossing a counting line reported."""
    return [(str(c["direction"]), str(c["class"])) for c in firing.detail.get("crossings", [])]


class CountBook:
    """Crossings counted since the last flush, by one-minute bucket (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minutes: Counter[CountKey] = Counter()

    def add(self, camera_id: uuid.UUID, firing: Firing, at: dt.datetime) -> None:
        """Count the crossings of one counting-line firing, which happened at `at`."""
        start = bucket_start(at, 1)
        with self._lock:
            for direction, name in crossings(firing):
                self._minutes[CountKey(camera_id, firing.rule_id, 1, start, direction, name)] += 1

    def drain(self) -> Counter[CountKey]:
        """Take what was counted since the last drain, spread over every interval's bucket."""
        with self._lock:
            minutes, self._minutes = self._minutes, Counter()
        rows: Counter[CountKey] = Counter()
        for key, n in minutes.items():
            for interval in INTERVALS:
                rows[
                    CountKey(
                        key.camera_id,
                        key.rule_id,
                        interval,
                        bucket_start(key.bucket_start, interval),
                        key.direction,
                        key.class_name,
                    )
                ] += n
        return rows

    def put_back(self, rows: Counter[CountKey]) -> None:
        """Return drained counts that could not be written (their one-minute rows), to try again later."""
        with self._lock:
            self._minutes.update({k: n for k, n in rows.items() if k.interval_min == 1})
