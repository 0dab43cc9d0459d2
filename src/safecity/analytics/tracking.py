"""Object tracking: ByteTrack gives each object an id across frames; `Track` keeps what rules need of it."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.utils.iou import BIoU

from safecity.analytics.types import Detections, FloatArray

# A new object needs a detection this confident to start a track; weaker ones (down to the detector's
# own threshold) only continue tracks that exist.
ACTIVATION_SCORE = 0.5
# At 5 fps an object moves far between frames, so boxes are widened by this fraction of their size
# before overlap is measured (Buffered IoU), and a small overlap is enough to match.
BOX_BUFFER = 0.3
MIN_OVERLAP = 0.1
# Detections in a row before a track is confirmed and gets its id (one-frame ghosts never do).
CONFIRM_FRAMES = 2
PATH_LENGTH = 300  # positions kept per track (a minute at 5 fps): rules look back seconds, synopses a minute


@dataclass(eq=False)
class Track:
    """One object followed from the frame that confirmed it; positions are normalised bottom centres."""

    track_id: int
    class_id: int  # the class most often seen for this object
    first_seen: float  # monotonic seconds
    last_seen: float
    first_wall: dt.datetime  # aware UTC, for events
    last_wall: dt.datetime
    box: FloatArray  # latest pixel box x1, y1, x2, y2
    score: float
    path: deque[tuple[float, float, float]]  # (t, x, y), oldest first, bounded
    votes: Counter[int] = field(default_factory=Counter)  # detections seen per class
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the frames it was seen in, pixels
    colours: dict[str, float] = field(default_factory=dict)  # colour confidence summed per colour seen
    # (t, x1, y1, x2, y2): the box over time in fractions of the frame, oldest first, bounded like `path`.
    boxes: deque[tuple[float, float, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=PATH_LENGTH)
    )

    def colour(self) -> tuple[str | None, float]:
        """The colour seen most (weighted by confidence) and its share of all colour seen."""
        if not self.colours:
            return None, 0.0
        name, weight = max(self.colours.items(), key=lambda item: item[1])
        return name, round(weight / max(1e-9, sum(self.colours.values())), 2)

    @property
    def position(self) -> tuple[float, float]:
        """Where the object stands now: the bottom centre of its box, in fractions of the frame."""
        _, x, y = self.path[-1]
        return x, y

    def observe(
        self,
        box: FloatArray,
        score: float,
        class_id: int,
        *,
        at: float,
        wall: dt.datetime,
        frame_size: tuple[int, int],
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Record a detection of this object: box, score, path point, a vote for its class and colour."""
        width, height = frame_size
        self.frame_size = frame_size
        if attributes and attributes.get("colour"):
            name = str(attributes["colour"])
            self.colours[name] = self.colours.get(name, 0.0) + float(attributes.get("colour_confidence", 0.0))
        self.box = box
        self.score = score
        self.last_seen = at
        self.last_wall = wall
        self.path.append((at, float(box[0] + box[2]) / 2 / width, float(box[3]) / height))
        x1, y1, x2, y2 = (float(v) for v in box)
        self.boxes.append((at, x1 / width, y1 / height, x2 / width, y2 / height))
        self.votes[class_id] += 1
        # The class changes only when another one has strictly more votes, so a tie keeps the first.
        if self.votes[class_id] > self.votes[self.class_id]:
            self.class_id = class_id


class Tracker:
    """Follows the objects of one camera from frame to frame (ByteTrack, tuned for a few frames a second)."""

    def __init__(
        self, *, fps: float = 5.0, lost_after_s: float = 2.0, path_length: int = PATH_LENGTH
    ) -> None:
        self.lost_after_s = lost_after_s
        self.path_length = path_length
        self._bytetrack = ByteTrackTracker(
            lost_track_buffer=math.ceil(lost_after_s * 30),  # counted in 30 fps frames
            frame_rate=fps,
            track_activation_threshold=ACTIVATION_SCORE,
            minimum_consecutive_frames=CONFIRM_FRAMES,
            minimum_iou_threshold=MIN_OVERLAP,
            high_conf_det_threshold=ACTIVATION_SCORE,
            iou=BIoU(buffer_ratio=BOX_BUFFER),
        )
        # With timestamps ByteTrack keeps a lost track this many seconds: exactly ours, so an id it revives
        # has never been expired here.
        self._bytetrack.maximum_time_without_update = lost_after_s
        self._tracks: dict[int, Track] = {}
        self._now = -math.inf

    def update(
        self, detections: Detections, *, at: float, wall: dt.datetime, frame_size: tuple[int, int]
    ) -> tuple[Detections, list[Track]]:
        """Match one frame's detections to the tracks.

        Args:
            detections: what the detector found in the frame.
            at: capture time, monotonic seconds (non-decreasing from call to call).
            wall: capture time, aware UTC.
            frame_size: (width, height) of the frame the boxes are in, in pixels.

        Returns:
            The same detections in the same order with `track_ids` filled in (-1 while not confirmed),
            and the confirmed tracks this frame updated.
        """
        self._now = max(self._now, at)
        n = len(detections)
        result = self._bytetrack.update(
            sv.Detections(
                xyxy=detections.boxes.astype(np.float64),
                confidence=detections.scores,
                class_id=detections.classes,
                data={"index": np.arange(n)},
            ),
            timestamp=at,
        )
        track_ids = np.full(n, -1, dtype=np.int64)
        updated: list[Track] = []
        if len(result) and result.tracker_id is not None:  # an empty result carries no "index"
            for index, track_id in zip(result.data["index"], result.tracker_id, strict=True):
                if track_id < 0:
                    continue
                track_ids[index] = track_id
                updated.append(self._observe(int(track_id), detections, int(index), at, wall, frame_size))
        return detections.with_track_ids(track_ids), updated

    def _observe(
        self,
        track_id: int,
        detections: Detections,
        index: int,
        at: float,
        wall: dt.datetime,
        frame_size: tuple[int, int],
    ) -> Track:
        """The track with this id, created if new, updated with detection `index`."""
        class_id = int(detections.classes[index])
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = Track(
                track_id=track_id,
                class_id=class_id,
                first_seen=at,
                last_seen=at,
                first_wall=wall,
                last_wall=wall,
                box=detections.boxes[index],
                score=float(detections.scores[index]),
                path=deque(maxlen=self.path_length),
                boxes=deque(maxlen=self.path_length),
            )
        track.observe(
            detections.boxes[index],
            float(detections.scores[index]),
            class_id,
            at=at,
            wall=wall,
            frame_size=frame_size,
            attributes=detections.attributes[index],
        )
        return track

    def active(self) -> list[Track]:
        """The confirmed tracks seen within `lost_after_s` of the latest update."""
        return [t for t in self._tracks.values() if self._now - t.last_seen <= self.lost_after_s]

    def expire(self, at: float) -> list[Track]:
        """Drop and return the tracks unseen for longer than `lost_after_s` at `at`."""
        gone = [t for t in self._tracks.values() if at - t.last_seen > self.lost_after_s]
        for track in gone:
            del self._tracks[track.track_id]
        return gone
