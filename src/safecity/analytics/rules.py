"""The rule engine: turns the tracks of one camera, frame after frame, into rule firings.

Each rule kind has a small evaluator that keeps per-track state; the engine adds what all rules share:
class filter, enabled flag, schedule and cool-down.

Semantics common to every rule:

- Only tracks whose (majority) class is among the rule's `classes` are seen by the rule.
- A disabled rule never fires. Outside its schedule a rule neither fires nor keeps state: when it is
  armed again it starts afresh (a person already inside an intrusion zone then counts as entering).
- Cool-down, for instant events about one object (entering a zone, crossing a line): after a track
  made the rule fire, that track stays quiet for `cooldown_s`; other tracks still fire, so a busy road
  reports every vehicle that crosses. An event of a quiet track is dropped, not queued. A track standing
  within SAME_PLACE of a quiet one is quiet too: it is the same object seen twice (a second box or a
  new id from the tracker), not another one.
- Cool-down, for everything else: after firing, the rule stays quiet for `cooldown_s`. A crowd forming
  during that time is dropped; lasting conditions (loitering, a wrong-way driver, a stopped vehicle, a
  left object) are reported once the cool-down is over if they still hold and have not been reported.
- A counting line has no cool-down: it counts every crossing (once per track and direction).
- All the objects that make a rule fire in one frame give one firing (`track_ids` lists them all).

Lines (crossing and counting) are judged on each track's path, not on its latest two positions: every
point recorded since the previous frame is walked, and a crossing is the straight segment from the last
point off the line to the next one on the other side (detections missed in between are interpolated).
A track first seen already past a line is counted as having crossed it only when its own early motion,
extrapolated back for at most LATE_S seconds, reaches the line: a vehicle found a few frames late, just
past the line and moving away from it, was on the other side moments before; one that appears far past
the line, stands still, or moves towards the line is not counted (it may have come out of a side street
or a parking place).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from safecity.analytics import geometry
from safecity.analytics.geometry import Vec
from safecity.analytics.schemas import (
    CountingLine,
    Crowd,
    LineCrossing,
    LineDirection,
    Loitering,
    ObjectLeftBehind,
    RuleBase,
    RuleConfig,
    StoppedVehicle,
    TimeWindow,
    Weekday,
    WrongWay,
    ZoneIntrusion,
    ZoneRule,
)
from safecity.analytics.tracking import Track
from safecity.analytics.types import CLASS_IDS, class_name

# Left behind: objects first seen within this many seconds of the engine's first frame were already
# there when the camera started, not left.
GRACE_S = 2.0
# Lines: a track first seen past a line counts as having crossed it if its early motion, taken back this
# many seconds, reaches the line (detection may confirm a track a few frames after it appeared) …
LATE_S = 1.0
# … judged on the track's first JUDGE_S seconds of path (one step between two boxes is too noisy).
JUDGE_S = 0.4
# Per-track cool-downs: a track that fires while standing this close (fraction of the frame) to one that
# fired within the cool-down is taken for a duplicate of it (a second box or id for the same object).
SAME_PLACE = 0.03
# Wrong way: a track's heading is its displacement over this many seconds of its path.
RECENT_S = 4.0
# Wrong way: moving against the direction means the cosine of the angle between them is below this
# (more than 120 degrees off).
AGAINST = -0.5

_DAYS = list(Weekday)  # in datetime.weekday() order, Monday first


@dataclass(frozen=True)
class Firing:
    """A rule fired: which rule, the objects that made it fire, and kind-specific JSON-ready detail."""

    rule_id: uuid.UUID
    rule: RuleConfig
    track_ids: tuple[int, ...]
    detail: dict[str, Any]


@dataclass(frozen=True)
class _Moment:
    """What an evaluator needs to know about now besides the tracks."""

    at: float  # monotonic seconds
    quiet: bool  # the rule is cooling down: it must not report anything
    started: float  # monotonic seconds of the engine's first evaluation
    cooling: frozenset[int] = frozenset()  # tracks of a per-track cool-down that must not be reported


@dataclass(frozen=True)
class _Hit:
    """What an evaluator reports for one frame."""

    track_ids: tuple[int, ...]
    detail: dict[str, Any]


R = TypeVar("R", bound=RuleBase)


class _Evaluator(ABC, Generic[R]):
    """The per-kind logic of one rule and its per-track state."""

    kind: ClassVar[str]
    # Instant events about one object: the cool-down applies to each track (see the module docstring).
    per_track: ClassVar[bool] = False

    def __init__(self, rule: R) -> None:
        self.rule = rule

    @abstractmethod
    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Update the state with this frame's tracks (already filtered by class); what fired, if anything."""

    @abstractmethod
    def forget(self, track_id: int) -> None:
        """Drop the state of a track that has gone."""


Z = TypeVar("Z", bound=ZoneRule)


class _ZoneEvaluator(_Evaluator[Z]):
    """An evaluator whose rule has a zone."""

    def inside(self, track: Track) -> bool:
        """Whether the track stands in the rule's zone."""
        return geometry.inside_polygon(track.position, self.rule.zone)


class _ZoneIntrusion(_ZoneEvaluator[ZoneIntrusion]):
    """Fires when a track enters the zone, or is first seen in it; staying inside does not fire again."""

    kind = "zone_intrusion"
    per_track = True

    def __init__(self, rule: ZoneIntrusion) -> None:
        super().__init__(rule)
        self._inside: set[int] = set()

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the tracks that are inside now and were not before."""
        now_inside = [t.track_id for t in tracks if self.inside(t)]
        entered = tuple(i for i in now_inside if i not in self._inside and i not in moment.cooling)
        self._inside.difference_update(t.track_id for t in tracks)
        self._inside.update(now_inside)
        if not entered:
            return None
        return _Hit(entered, {"count": len(now_inside)})

    def forget(self, track_id: int) -> None:
        """Drop the track's in/out state."""
        self._inside.discard(track_id)


class _Crossings:
    """Which tracks crossed a drawn segment, in which direction, judged along their paths.

    Direction: "left_to_right" is moving from the left to the right side of the line as seen by someone
    standing on the picture at its first point and facing its second (see `geometry.side`). So for the
    line (0.5, 0)→(0.5, 1), drawn down the picture, an object moving from x = 0.2 to x = 0.8 goes
    right_to_left; for (0, 0.5)→(1, 0.5), drawn left to right, an object moving down the picture goes
    left_to_right.

    Movement is measured from the track's last path point strictly off the line, so landing exactly on it
    and leaving on the other side is one crossing. Each track crosses at most once per direction in its
    life, so an object jittering on the line is not reported again and again. Tracks already followed
    when the line started to be watched (a rule drawn or re-armed) are judged from their latest point on,
    so a crossing is never reported twice across a reload.
    """

    def __init__(self, line: tuple[Vec, Vec]) -> None:
        self.a, self.b = line
        self._since: float | None = None  # when this line started to be watched
        self._last: dict[int, tuple[float, Vec]] = {}  # each track's last path point off the line
        self._unjudged: set[int] = set()  # tracks born since, whose first point is still to be judged
        self._crossed: set[tuple[int, LineDirection]] = set()

    def update(self, track: Track, at: float) -> list[LineDirection]:
        """The directions in which the track crossed since its previous update, each new to it."""
        if self._since is None:
            self._since = at
        track_id = track.track_id
        last = self._last.get(track_id)
        if last is None:
            born_since = track.first_seen >= self._since and track.path[0][0] == track.first_seen
            if born_since:
                self._unjudged.add(track_id)
            points = list(track.path) if born_since else [track.path[-1]]
        else:
            points = []
            for point in reversed(track.path):  # the points recorded since the previous update
                if point[0] <= last[0]:
                    break
                points.append(point)
            points.reverse()
        found: list[LineDirection] = []
        if track_id in self._unjudged and track.path[-1][0] - track.path[0][0] >= JUDGE_S:
            self._unjudged.discard(track_id)
            late = self._late_start(track)
            if late is not None:
                found.append(late)
        for t, x, y in points:
            now = (x, y)
            now_side = geometry.side(self.a, self.b, now)
            if now_side == 0:
                continue
            if last is not None and geometry.segments_intersect(last[1], now, self.a, self.b):
                # Both ends are off the line, so meeting the segment means they are on opposite sides.
                found.append(LineDirection.LEFT_TO_RIGHT if now_side > 0 else LineDirection.RIGHT_TO_LEFT)
            last = (t, now)
        if last is not None:
            self._last[track_id] = last
        new = [d for d in dict.fromkeys(found) if (track_id, d) not in self._crossed]
        self._crossed.update((track_id, d) for d in new)
        return new

    def _late_start(self, track: Track) -> LineDirection | None:
        """The direction of a crossing just before the track was first seen, if its early motion says so."""
        t0, x0, y0 = track.path[0]
        early = [p for p in track.path if p[0] <= t0 + LATE_S]
        t1, x1, y1 = early[-1]
        first = (x0, y0)
        first_side = geometry.side(self.a, self.b, first)
        if t1 <= t0 or first_side == 0:
            return None
        scale = LATE_S / (t1 - t0)
        before = (x0 - (x1 - x0) * scale, y0 - (y1 - y0) * scale)  # where it was LATE_S earlier
        if geometry.side(self.a, self.b, before) * first_side >= 0:
            return None
        if not geometry.segments_intersect(before, first, self.a, self.b):
            return None
        return LineDirection.LEFT_TO_RIGHT if first_side > 0 else LineDirection.RIGHT_TO_LEFT

    def forget(self, track_id: int) -> None:
        """Drop the track's last point and its crossings."""
        self._last.pop(track_id, None)
        self._unjudged.discard(track_id)
        self._crossed -= {c for c in self._crossed if c[0] == track_id}


def _summary(directions: Iterable[LineDirection]) -> LineDirection:
    """One direction for a firing: the only one, or `both`."""
    found = set(directions)
    return found.pop() if len(found) == 1 else LineDirection.BOTH


class _LineCrossing(_Evaluator[LineCrossing]):
    """Fires when a track's path crosses the drawn segment in the rule's direction (see `_Crossings`)."""

    kind = "line_crossing"
    per_track = True

    def __init__(self, rule: LineCrossing) -> None:
        super().__init__(rule)
        self._crossings = _Crossings(rule.line)

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the tracks that crossed since the previous frame, in a direction the rule counts."""
        wanted = self.rule.direction
        crossed = [
            (track.track_id, direction)
            for track in tracks
            for direction in self._crossings.update(track, moment.at)
            if wanted in (direction, LineDirection.BOTH) and track.track_id not in moment.cooling
        ]
        if not crossed:
            return None
        track_ids = tuple(dict.fromkeys(i for i, _ in crossed))
        return _Hit(track_ids, {"direction": _summary(d for _, d in crossed)})

    def forget(self, track_id: int) -> None:
        """Drop the track's path state and its crossings."""
        self._crossings.forget(track_id)


class _CountingLine(_Evaluator[CountingLine]):
    """Reports every crossing of the segment in the rule's direction, with each object's class.

    `detail["crossings"]` lists one {track_id, class, direction} per crossing, for the counts.
    """

    kind = "counting_line"

    def __init__(self, rule: CountingLine) -> None:
        super().__init__(rule)
        self._crossings = _Crossings(rule.line)

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the crossings since the previous frame (never quiet: every crossing counts)."""
        wanted = self.rule.direction
        crossings = [
            {"track_id": track.track_id, "class": class_name(track.class_id), "direction": direction.value}
            for track in tracks
            for direction in self._crossings.update(track, moment.at)
            if wanted in (direction, LineDirection.BOTH)
        ]
        if not crossings:
            return None
        return _Hit(
            tuple(dict.fromkeys(int(c["track_id"]) for c in crossings)),
            {
                "direction": _summary(LineDirection(str(c["direction"])) for c in crossings),
                "crossings": crossings,
            },
        )

    def forget(self, track_id: int) -> None:
        """Drop the track's path state and its crossings."""
        self._crossings.forget(track_id)


class _Loitering(_ZoneEvaluator[Loitering]):
    """Fires once per stay when a track has been inside the zone longer than `dwell_s`; leaving resets."""

    kind = "loitering"

    def __init__(self, rule: Loitering) -> None:
        super().__init__(rule)
        self._since: dict[int, float] = {}  # when each track inside was first seen inside
        self._fired: set[int] = set()

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the tracks whose stay has just passed `dwell_s`."""
        hits: list[tuple[int, float]] = []
        for track in tracks:
            if not self.inside(track):
                self.forget(track.track_id)
                continue
            dwell = moment.at - self._since.setdefault(track.track_id, moment.at)
            if dwell > self.rule.dwell_s and track.track_id not in self._fired and not moment.quiet:
                self._fired.add(track.track_id)
                hits.append((track.track_id, dwell))
        if not hits:
            return None
        return _Hit(tuple(i for i, _ in hits), {"dwell_s": round(max(d for _, d in hits), 1)})

    def forget(self, track_id: int) -> None:
        """Drop the track's stay."""
        self._since.pop(track_id, None)
        self._fired.discard(track_id)


class _Crowd(_ZoneEvaluator[Crowd]):
    """Fires when more than `max_count` tracks are inside the zone.

    It fires again only after the count has fallen back to `max_count` or fewer.
    """

    kind = "crowd"

    def __init__(self, rule: Crowd) -> None:
        super().__init__(rule)
        self._reported = False

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the crowd when it first exceeds the limit."""
        inside = tuple(t.track_id for t in tracks if self.inside(t))
        if len(inside) <= self.rule.max_count:
            self._reported = False
            return None
        if self._reported or moment.quiet:
            return None
        self._reported = True
        return _Hit(inside, {"count": len(inside), "max_count": self.rule.max_count})

    def forget(self, track_id: int) -> None:
        """Nothing is kept per track."""


class _WrongWay(_ZoneEvaluator[WrongWay]):
    """Fires once per track when it moves against `direction` inside the zone.

    Its movement is the displacement over the last RECENT_S seconds of its path, judged once it is at
    least `min_travel` long; against means a cosine with `direction` below AGAINST.
    """

    kind = "wrong_way"

    def __init__(self, rule: WrongWay) -> None:
        super().__init__(rule)
        (x1, y1), (x2, y2) = rule.direction
        self._direction = (x2 - x1, y2 - y1)
        self._fired: set[int] = set()

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the tracks seen going the wrong way for the first time."""
        hits: list[tuple[int, float]] = []
        for track in tracks:
            if track.track_id in self._fired or moment.quiet or not self.inside(track):
                continue
            start = next((x, y) for t, x, y in track.path if t >= track.last_seen - RECENT_S)
            moved = (track.position[0] - start[0], track.position[1] - start[1])
            if math.hypot(*moved) < self.rule.min_travel:
                continue
            cosine = geometry.cosine(moved, self._direction)
            if cosine < AGAINST:
                self._fired.add(track.track_id)
                hits.append((track.track_id, cosine))
        if not hits:
            return None
        angle = math.degrees(math.acos(max(-1.0, hits[0][1])))
        return _Hit(tuple(i for i, _ in hits), {"angle_deg": round(angle)})

    def forget(self, track_id: int) -> None:
        """Drop whether the track has fired."""
        self._fired.discard(track_id)


S = TypeVar("S", bound=StoppedVehicle | ObjectLeftBehind)


class _Stillness(_ZoneEvaluator[S]):
    """Tracks that stand still inside the zone: within `tolerance` of where they stopped, for `dwell_s`.

    A track's stay starts where it was first seen inside the zone or last moved more than `tolerance`;
    leaving the zone ends it.
    """

    detail_key: ClassVar[str]

    def __init__(self, rule: S) -> None:
        super().__init__(rule)
        self._anchor: dict[int, tuple[float, Vec]] = {}  # when and where each track's stay started
        self._fired: set[int] = set()

    @abstractmethod
    def counts(self, track: Track, moment: _Moment) -> bool:
        """Whether this track may fire at all."""

    def moved(self, track_id: int) -> None:
        """The track's stay has ended (it moved or left the zone)."""
        self._anchor.pop(track_id, None)

    def step(self, tracks: Sequence[Track], moment: _Moment) -> _Hit | None:
        """Report the tracks whose stay has just passed `dwell_s`."""
        hits: list[tuple[int, float]] = []
        for track in tracks:
            if not self.inside(track):
                self.moved(track.track_id)
                continue
            anchor = self._anchor.get(track.track_id)
            if anchor is None or geometry.distance(anchor[1], track.position) > self.rule.tolerance:
                self.moved(track.track_id)
                self._anchor[track.track_id] = (moment.at, track.position)
                continue
            still = moment.at - anchor[0]
            if (
                still > self.rule.dwell_s
                and track.track_id not in self._fired
                and not moment.quiet
                and self.counts(track, moment)
            ):
                self._fired.add(track.track_id)
                hits.append((track.track_id, still))
        if not hits:
            return None
        return _Hit(tuple(i for i, _ in hits), {self.detail_key: round(max(s for _, s in hits), 1)})

    def forget(self, track_id: int) -> None:
        """Drop the track's stay and whether it has fired."""
        self._anchor.pop(track_id, None)
        self._fired.discard(track_id)


class _StoppedVehicle(_Stillness[StoppedVehicle]):
    """Fires once per stay: a vehicle that moves off and stops again fires again."""

    kind = "stopped_vehicle"
    detail_key = "stopped_s"

    def counts(self, track: Track, moment: _Moment) -> bool:
        """Every vehicle counts."""
        return True

    def moved(self, track_id: int) -> None:
        """A new stay may fire again."""
        super().moved(track_id)
        self._fired.discard(track_id)


class _ObjectLeftBehind(_Stillness[ObjectLeftBehind]):
    """Fires once per track, only for objects that appeared after the engine started (plus GRACE_S)."""

    kind = "object_left_behind"
    detail_key = "dwell_s"

    def counts(self, track: Track, moment: _Moment) -> bool:
        """Only objects that were not already there when the camera started."""
        return track.first_seen > moment.started + GRACE_S


EVALUATORS: dict[str, type[_Evaluator[Any]]] = {
    e.kind: e
    for e in (
        _ZoneIntrusion,
        _LineCrossing,
        _CountingLine,
        _Loitering,
        _Crowd,
        _WrongWay,
        _StoppedVehicle,
        _ObjectLeftBehind,
    )
}


def in_schedule(windows: Sequence[TimeWindow], local: dt.datetime) -> bool:
    """Whether a rule with these windows is armed at this local time (no windows: always).

    A window runs from `start` to `end` inclusive, to the second, on each of its days; one whose `end`
    is before its `start` runs past midnight, so "fri 22:00-06:00" covers Friday 22:00 to Saturday 06:00.
    """
    if not windows:
        return True
    now = local.time().replace(microsecond=0, tzinfo=None)
    today = _DAYS[local.weekday()]
    yesterday = _DAYS[(local.weekday() - 1) % 7]
    for window in windows:
        if window.start <= window.end:
            if today in window.days and window.start <= now <= window.end:
                return True
        elif (today in window.days and now >= window.start) or (
            yesterday in window.days and now <= window.end
        ):
            return True
    return False


@dataclass
class _Rule:
    """One rule of the engine and its runtime state."""

    rule_id: uuid.UUID
    rule: RuleConfig
    classes: frozenset[int]
    evaluator: _Evaluator[Any] | None = None  # None while disarmed: no state outside the schedule
    last_fired: float = -math.inf
    track_fired: dict[int, tuple[float, Track]] = field(default_factory=dict)  # per-track: when each fired


class RuleEngine:
    """Evaluates the rules of one camera against its tracks, frame after frame."""

    def __init__(self, rules: Sequence[tuple[uuid.UUID, RuleConfig]], *, timezone: ZoneInfo) -> None:
        self._rules = [
            _Rule(rule_id, rule, frozenset(CLASS_IDS[c] for c in rule.classes)) for rule_id, rule in rules
        ]
        self._timezone = timezone
        self._started: float | None = None

    def evaluate(self, tracks: Sequence[Track], *, at: float, wall: dt.datetime) -> list[Firing]:
        """The rules that fire on this frame.

        Args:
            tracks: the confirmed tracks updated in this frame.
            at: the frame's capture time, monotonic seconds (for dwell times and cool-downs).
            wall: the same moment, timezone-aware (for schedules, which are in the engine's timezone).

        Returns:
            At most one firing per rule.
        """
        if wall.tzinfo is None:
            raise ValueError("wall must be timezone-aware")
        if self._started is None:
            self._started = at
        local = wall.astimezone(self._timezone)
        firings: list[Firing] = []
        for state in self._rules:
            if not state.rule.enabled:
                continue
            if not in_schedule(state.rule.schedule, local):
                state.evaluator = None
                continue
            if state.evaluator is None:
                state.evaluator = EVALUATORS[state.rule.kind](state.rule)
                state.track_fired.clear()
            cooldown = state.rule.cooldown_s
            seen = [t for t in tracks if t.class_id in state.classes]
            if state.evaluator.per_track:
                recent = [t for when, t in state.track_fired.values() if at - when < cooldown]
                cooling = frozenset(
                    t.track_id
                    for t in seen
                    if any(r is t or geometry.distance(r.position, t.position) < SAME_PLACE for r in recent)
                )
                moment = _Moment(at=at, quiet=False, started=self._started, cooling=cooling)
            else:
                moment = _Moment(at=at, quiet=at - state.last_fired < cooldown, started=self._started)
            hit = state.evaluator.step(seen, moment)
            if hit is not None:
                state.last_fired = at
                if state.evaluator.per_track:
                    fired = {t.track_id: t for t in seen}
                    state.track_fired.update((i, (at, fired[i])) for i in hit.track_ids)
                firings.append(Firing(state.rule_id, state.rule, hit.track_ids, hit.detail))
        return firings

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the per-track state of tracks that have gone (expired from the tracker)."""
        gone = list(track_ids)
        for state in self._rules:
            for track_id in gone:
                state.track_fired.pop(track_id, None)
            if state.evaluator is not None:
                for track_id in gone:
                    state.evaluator.forget(track_id)
