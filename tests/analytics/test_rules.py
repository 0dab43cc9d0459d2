"""The rule engine: each kind fires exactly when it should, plus classes, cool-down, schedule, enabled."""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from safecity.analytics.rules import EVALUATORS, GRACE_S, Firing, RuleEngine, in_schedule
from safecity.analytics.schemas import (
    RULE_KINDS,
    Crowd,
    LineCrossing,
    LineDirection,
    Loitering,
    ObjectLeftBehind,
    RuleConfig,
    StoppedVehicle,
    TimeWindow,
    Weekday,
    WrongWay,
    ZoneIntrusion,
)
from safecity.analytics.tracking import Track
from safecity.analytics.types import CLASS_IDS, PERSON

KARACHI = ZoneInfo("Asia/Karachi")
WEDNESDAY_NOON = dt.datetime(2025, 3, 5, 7, 0, tzinfo=dt.UTC)  # 12:00 in Karachi (UTC+5)
ZONE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
IN, OUT = (0.5, 0.5), (0.1, 0.1)
CAR, BACKPACK = CLASS_IDS["car"], CLASS_IDS["backpack"]
SIZE = (1000, 1000)


class Scene:
    """A camera's worth of tracks moved by hand, fed to a rule engine one frame at a time."""

    def __init__(self, *rules: RuleConfig, start: dt.datetime = WEDNESDAY_NOON) -> None:
        self.rule_ids = [uuid.uuid4() for _ in rules]
        self.engine = RuleEngine(list(zip(self.rule_ids, rules, strict=True)), timezone=KARACHI)
        self.start = start
        self.tracks: dict[int, Track] = {}
        self.at = 0.0

    def step(
        self,
        positions: dict[int, tuple[float, float]],
        *,
        seconds: float = 0.2,
        classes: dict[int, int] | None = None,
    ) -> list[Firing]:
        """Move the tracks (new ones are persons unless `classes` says otherwise) and evaluate the rules."""
        wall = self.start + dt.timedelta(seconds=self.at)
        for track_id, (x, y) in positions.items():
            box = np.array([x * 1000 - 20, y * 1000 - 80, x * 1000 + 20, y * 1000], dtype=np.float32)
            class_id = (classes or {}).get(track_id, PERSON)
            track = self.tracks.get(track_id)
            if track is None:
                track = self.tracks[track_id] = Track(
                    track_id, class_id, self.at, self.at, wall, wall, box, 0.9, collections.deque(maxlen=300)
                )
            track.observe(box, 0.9, class_id, at=self.at, wall=wall, frame_size=SIZE)
        firings = self.engine.evaluate([self.tracks[i] for i in positions], at=self.at, wall=wall)
        self.at += seconds
        return firings

    def run(
        self,
        frames: list[dict[int, tuple[float, float]]],
        *,
        seconds: float = 0.2,
        classes: dict[int, int] | None = None,
    ) -> list[tuple[int, tuple[int, ...]]]:
        """Step through the frames; (frame index, track ids) of every firing."""
        return [
            (index, firing.track_ids)
            for index, positions in enumerate(frames)
            for firing in self.step(positions, seconds=seconds, classes=classes)
        ]


def path(track_id: int, *points: tuple[float, float]) -> list[dict[int, tuple[float, float]]]:
    """One track visiting these points, one per frame."""
    return [{track_id: p} for p in points]


def test_every_kind_has_an_evaluator() -> None:
    assert set(EVALUATORS) == set(RULE_KINDS)


# zone intrusion


def test_zone_intrusion_fires_on_entering_not_while_inside() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, cooldown_s=0))
    frames = path(1, OUT, (0.3, 0.3), IN, IN, (0.55, 0.5), OUT, OUT, IN, IN)
    assert scene.run(frames) == [(2, (1,)), (7, (1,))]


def test_zone_intrusion_first_seen_inside_and_passing_by() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, cooldown_s=0))
    assert scene.run(path(1, IN, IN)) == [(0, (1,))]
    assert scene.run(path(2, OUT, (0.3, 0.5), (0.7, 0.5))) == []  # jumps past the zone, never inside


def test_zone_intrusion_two_at_once_is_one_firing() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE))
    scene.step({1: OUT, 2: OUT, 3: OUT})
    (firing,) = scene.step({1: IN, 2: (0.45, 0.45), 3: OUT})
    assert firing.track_ids == (1, 2)
    assert firing.detail == {"count": 2}
    assert firing.rule_id == scene.rule_ids[0]
    assert firing.rule.name == "z"


# line crossing: the line (0.5, 0) -> (0.5, 1) is drawn down the picture; its left is the picture's right


DOWN_LINE = ((0.5, 0.0), (0.5, 1.0))
LEFT_TO_RIGHT_ON_SCREEN = path(1, (0.2, 0.5), (0.35, 0.5), (0.65, 0.5), (0.8, 0.5))


@pytest.mark.parametrize(
    ("direction", "fires"),
    [(LineDirection.RIGHT_TO_LEFT, True), (LineDirection.BOTH, True), (LineDirection.LEFT_TO_RIGHT, False)],
)
def test_line_crossing_direction_on_a_line_drawn_down(direction: LineDirection, fires: bool) -> None:
    scene = Scene(LineCrossing(name="l", line=DOWN_LINE, direction=direction))
    firings = [f for frame in LEFT_TO_RIGHT_ON_SCREEN for f in scene.step(frame)]
    assert [(f.track_ids, f.detail) for f in firings] == (
        [((1,), {"direction": "right_to_left"})] if fires else []
    )


def test_line_crossing_direction_on_a_line_drawn_left_to_right() -> None:
    line = ((0.0, 0.5), (1.0, 0.5))
    going_down = path(1, (0.5, 0.3), (0.5, 0.45), (0.5, 0.55))
    going_up = path(2, (0.3, 0.7), (0.3, 0.55), (0.3, 0.45))
    scene = Scene(LineCrossing(name="l", line=line, direction=LineDirection.LEFT_TO_RIGHT, cooldown_s=0))
    assert scene.run(going_down + going_up) == [(2, (1,))]
    scene = Scene(LineCrossing(name="l", line=line, direction=LineDirection.RIGHT_TO_LEFT, cooldown_s=0))
    assert scene.run(going_down + going_up) == [(5, (2,))]


def test_line_crossing_is_about_the_segment_not_the_infinite_line() -> None:
    scene = Scene(LineCrossing(name="l", line=((0.5, 0.0), (0.5, 0.3))))
    assert scene.run(path(1, (0.2, 0.8), (0.8, 0.8))) == []
    assert scene.run(path(2, (0.2, 0.2), (0.8, 0.2))) == [(1, (2,))]


def test_line_crossing_landing_on_the_line_counts_once() -> None:
    scene = Scene(LineCrossing(name="l", line=DOWN_LINE, cooldown_s=0))
    assert scene.run(path(1, (0.4, 0.5), (0.5, 0.5), (0.5, 0.6), (0.6, 0.6))) == [(3, (1,))]
    # Touching the line and going back is no crossing.
    assert scene.run(path(2, (0.4, 0.5), (0.5, 0.5), (0.4, 0.5))) == []


def test_line_crossing_jitter_fires_once_per_track_and_direction() -> None:
    scene = Scene(LineCrossing(name="l", line=DOWN_LINE, cooldown_s=0))
    jitter = path(1, (0.48, 0.5), (0.52, 0.5), (0.48, 0.5), (0.52, 0.5), (0.48, 0.5), (0.52, 0.5))
    firings = [f for frame in jitter for f in scene.step(frame)]
    assert [f.detail["direction"] for f in firings] == ["right_to_left", "left_to_right"]
    # Another object still fires.
    assert scene.run(path(2, (0.48, 0.5), (0.52, 0.5))) == [(1, (2,))]


# loitering


def test_loitering_fires_once_per_stay_after_dwell() -> None:
    scene = Scene(Loitering(name="loiter", zone=ZONE, dwell_s=10, cooldown_s=0))
    stay = path(1, *[IN] * 13)  # one frame a second: inside from t=0 to t=12
    assert scene.run(stay, seconds=1) == [(11, (1,))]  # 11 s > 10 s; not again at 12 s
    assert scene.run(path(1, OUT, *[IN] * 12), seconds=1) == [(12, (1,))]  # left, came back: a new stay


def test_loitering_short_stays_do_not_fire() -> None:
    scene = Scene(Loitering(name="loiter", zone=ZONE, dwell_s=10, cooldown_s=0))
    frames = path(1, *[IN] * 8, OUT, *[IN] * 8, OUT, *[IN] * 10)
    assert scene.run(frames, seconds=1) == []


def test_loitering_reports_dwell() -> None:
    scene = Scene(Loitering(name="loiter", zone=ZONE, dwell_s=5, cooldown_s=0))
    firings = [f for frame in path(1, *[IN] * 5, IN) for f in scene.step(frame, seconds=1.5)]
    assert [f.detail for f in firings] == [{"dwell_s": 6.0}]


# crowd


def test_crowd_fires_when_the_count_rises_above_and_rearms_when_it_falls() -> None:
    scene = Scene(Crowd(name="crowd", zone=ZONE, max_count=2, cooldown_s=0))
    two, three, four = (
        {1: IN, 2: IN, 3: OUT, 4: OUT},
        {1: IN, 2: IN, 3: IN, 4: OUT},
        dict.fromkeys(range(1, 5), IN),
    )
    assert scene.step(two) == []
    (firing,) = scene.step(three)
    assert firing.track_ids == (1, 2, 3)
    assert firing.detail == {"count": 3, "max_count": 2}
    assert scene.step(four) == []
    assert scene.step(three) == []
    assert scene.step(two) == []
    assert [f.track_ids for f in scene.step(four)] == [(1, 2, 3, 4)]


# wrong way: traffic must go up the picture here


def test_wrong_way_fires_once_for_a_vehicle_going_down() -> None:
    rule = WrongWay(
        name="ww", zone=[(0.3, 0.0), (0.7, 0.0), (0.7, 1.0), (0.3, 1.0)], direction=((0.5, 0.9), (0.5, 0.1))
    )
    scene = Scene(rule)
    down = path(1, *[(0.5, 0.2 + 0.02 * i) for i in range(20)])
    firings = [f for frame in down for f in scene.step(frame, classes={1: CAR})]
    assert [(f.track_ids, f.detail) for f in firings] == [((1,), {"angle_deg": 180})]
    # It fired on the third frame: the first with 0.05 of travel (0.02 a frame).
    scene = Scene(rule)
    assert scene.run(down, classes={1: CAR}) == [(3, (1,))]


def test_wrong_way_quiet_for_right_way_small_moves_outside_zone_and_other_classes() -> None:
    rule = WrongWay(
        name="ww", zone=[(0.3, 0.0), (0.7, 0.0), (0.7, 1.0), (0.3, 1.0)], direction=((0.5, 0.9), (0.5, 0.1))
    )
    scene = Scene(rule)
    assert (
        scene.run(path(1, *[(0.5, 0.8 - 0.02 * i) for i in range(20)]), classes={1: CAR}) == []
    )  # the right way
    assert (
        scene.run(path(2, *[(0.4, 0.5 + 0.002 * i) for i in range(20)]), classes={2: CAR}) == []
    )  # creeping 0.04
    assert (
        scene.run(path(3, *[(0.1, 0.2 + 0.02 * i) for i in range(20)]), classes={3: CAR}) == []
    )  # beside the zone
    assert scene.run(path(4, *[(0.5, 0.2 + 0.02 * i) for i in range(20)])) == []  # a person
    assert (
        scene.run(path(5, *[(0.35 + 0.02 * i, 0.5) for i in range(15)]), classes={5: CAR}) == []
    )  # across: 90 degrees


# stopped vehicle


def test_stopped_vehicle_fires_once_per_stay() -> None:
    scene = Scene(StoppedVehicle(name="np", zone=ZONE, dwell_s=10, tolerance=0.02, cooldown_s=0))
    jitter = [(0.5 + 0.005 * (i % 3), 0.5) for i in range(15)]  # parked, boxes shifting by half a percent
    assert scene.run(path(1, *jitter), seconds=1, classes={1: CAR}) == [(11, (1,))]
    # Drives on a little, stops again: a new stay.
    assert scene.run(path(1, *[(0.45, 0.45)] * 12), seconds=1, classes={1: CAR}) == [(11, (1,))]


def test_slow_traffic_and_people_are_not_stopped_vehicles() -> None:
    scene = Scene(StoppedVehicle(name="np", zone=ZONE, dwell_s=10, tolerance=0.02, cooldown_s=0))
    crawl = path(1, *[(0.41 + 0.005 * i, 0.5) for i in range(30)])  # 0.005 a second: 0.025 in 5 s
    assert scene.run(crawl, seconds=1, classes={1: CAR}) == []
    assert scene.run(path(2, *[IN] * 15), seconds=1) == []  # a person standing there
    assert scene.run(path(3, *[OUT] * 15), seconds=1, classes={3: CAR}) == []  # parked outside the zone


# object left behind


def test_bag_left_after_start_fires_once() -> None:
    scene = Scene(ObjectLeftBehind(name="bag", zone=ZONE, dwell_s=10, cooldown_s=0))
    scene.run(path(9, *[OUT] * 5), seconds=1)  # the camera has been running 5 s
    assert scene.run(path(1, *[IN] * 30), seconds=1, classes={1: BACKPACK}) == [(11, (1,))]
    assert (
        scene.run(path(1, (0.45, 0.45), *[IN] * 15), seconds=1, classes={1: BACKPACK}) == []
    )  # picked up, put back


def test_bag_there_from_the_start_or_carried_is_not_left() -> None:
    scene = Scene(ObjectLeftBehind(name="bag", zone=ZONE, dwell_s=10, cooldown_s=0))
    assert GRACE_S >= 1
    assert (
        scene.run(path(1, *[IN] * 30), seconds=1, classes={1: BACKPACK}) == []
    )  # there when the camera started
    carried = path(2, *[(0.41 + 0.01 * i, 0.5) for i in range(19)])
    assert scene.run(carried, seconds=1, classes={2: BACKPACK}) == []
    assert scene.run(path(3, *[IN] * 30), seconds=1) == []  # a person, not a bag


# what every rule shares


def test_cooldown_of_instant_events_is_per_track() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, cooldown_s=5))
    assert [f.track_ids for f in scene.step({1: IN, 2: OUT}, seconds=1)] == [(1,)]
    # Another person entering 1 s later is reported: the cool-down is 1's, not the rule's.
    assert [f.track_ids for f in scene.step({1: OUT, 2: IN}, seconds=1)] == [(2,)]
    assert scene.step({1: IN, 2: IN}, seconds=4) == []  # 1 re-enters within its cool-down: dropped
    assert scene.step({1: OUT, 2: OUT}) == []
    # 6.2 s after 1 fired and 5.2 s after 2 did: both report entering again.
    assert [f.track_ids for f in scene.step({1: IN, 2: IN})] == [(1, 2)]


def test_cooldown_of_a_crowd_is_per_rule() -> None:
    scene = Scene(Crowd(name="crowd", zone=ZONE, max_count=1, cooldown_s=5))
    assert [f.track_ids for f in scene.step({1: IN, 2: IN}, seconds=1)] == [(1, 2)]
    assert scene.step({1: IN}, seconds=1) == []  # the crowd thins out …
    assert scene.step({1: IN, 3: IN}, seconds=1) == []  # … and forms again within the cool-down: dropped


def test_cooldown_delays_lasting_conditions() -> None:
    scene = Scene(Loitering(name="loiter", zone=ZONE, dwell_s=10, cooldown_s=5))
    firings = scene.run([{1: IN}, {1: IN, 2: IN}, *[{1: IN, 2: IN}] * 20], seconds=1)
    # 1 passes 10 s at t=11; 2 passes it at t=12, during the cool-down, and is reported when it ends.
    assert firings == [(11, (1,)), (16, (2,))]


def test_class_filter() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, classes=["car", "truck"], cooldown_s=0))
    assert scene.run(path(1, OUT, IN)) == []
    assert scene.run(path(2, OUT, IN), classes={2: CAR}) == [(1, (2,))]


def test_disabled_rule_never_fires() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, enabled=False, cooldown_s=0))
    assert scene.run(path(1, OUT, IN, OUT, IN)) == []


def test_forget_drops_track_state() -> None:
    scene = Scene(ZoneIntrusion(name="z", zone=ZONE, cooldown_s=0))
    assert scene.run(path(1, IN, IN)) == [(0, (1,))]
    scene.engine.forget([1])
    assert scene.run(path(1, IN)) == [(0, (1,))]


def test_naive_wall_time_is_refused() -> None:
    engine = RuleEngine([], timezone=KARACHI)
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.evaluate([], at=0.0, wall=dt.datetime(2025, 3, 5, 12, 0))  # noqa: DTZ001


# schedules: "Friday night" in Karachi, 22:00 to 06:00


FRIDAY_NIGHT = [TimeWindow(days=[Weekday.FRI], start=dt.time(22, 0), end=dt.time(6, 0))]


@pytest.mark.parametrize(
    ("utc", "armed"),
    [
        ("2025-03-07 16:59:59", False),  # Fri 21:59:59 in Karachi
        ("2025-03-07 17:00:00", True),  # Fri 22:00
        ("2025-03-07 18:59:59", True),  # Fri 23:59:59
        ("2025-03-07 19:00:00", True),  # Sat 00:00, still Friday night
        ("2025-03-08 01:00:00", True),  # Sat 06:00
        ("2025-03-08 01:00:01", False),  # Sat 06:00:01
        ("2025-03-08 17:30:00", False),  # Sat 22:30: not a listed day
        ("2025-03-07 00:30:00", False),  # Fri 05:30: the tail of Thursday night
    ],
)
def test_schedule_spanning_midnight_in_karachi(utc: str, armed: bool) -> None:
    local = dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC).astimezone(KARACHI)
    assert in_schedule(FRIDAY_NIGHT, local) is armed


def test_schedule_same_day_window_and_no_windows() -> None:
    office = [TimeWindow(days=[Weekday.MON, Weekday.WED], start=dt.time(9, 0), end=dt.time(17, 0))]
    assert in_schedule(office, WEDNESDAY_NOON.astimezone(KARACHI))
    assert not in_schedule(office, (WEDNESDAY_NOON + dt.timedelta(hours=6)).astimezone(KARACHI))  # 18:00
    assert not in_schedule(office, (WEDNESDAY_NOON + dt.timedelta(days=1)).astimezone(KARACHI))  # Thursday
    assert in_schedule([], WEDNESDAY_NOON)


def test_rule_outside_its_schedule_neither_fires_nor_keeps_state() -> None:
    friday_2159 = dt.datetime(2025, 3, 7, 16, 59, 0, tzinfo=dt.UTC)
    intrusion = ZoneIntrusion(name="z", zone=ZONE, schedule=FRIDAY_NIGHT, cooldown_s=0)
    loitering = Loitering(name="loiter", zone=ZONE, dwell_s=30, schedule=FRIDAY_NIGHT, cooldown_s=0)
    scene = Scene(intrusion, loitering, start=friday_2159)
    firings = [
        (i, f.rule.name)
        for i, frame in enumerate(path(1, OUT, *[IN] * 100))
        for f in scene.step(frame, seconds=1)
    ]
    # In at 21:59:01; armed at 22:00:00 (frame 60): entering counts then, dwell counts from then.
    assert firings == [(60, "z"), (91, "loiter")]


def test_rule_starts_afresh_each_time_its_schedule_opens() -> None:
    # Armed 12:00:00-12:00:10 and 12:00:20-12:00:40 on Wednesday; one person inside all along.
    windows = [
        TimeWindow(days=[Weekday.WED], start=dt.time(12, 0, 0), end=dt.time(12, 0, 10)),
        TimeWindow(days=[Weekday.WED], start=dt.time(12, 0, 20), end=dt.time(12, 0, 40)),
    ]
    intrusion = ZoneIntrusion(name="z", zone=ZONE, schedule=windows, cooldown_s=0)
    loitering = Loitering(name="loiter", zone=ZONE, dwell_s=15, schedule=windows, cooldown_s=0)
    scene = Scene(intrusion, loitering)
    firings = [
        (i, f.rule.name) for i, frame in enumerate(path(1, *[IN] * 45)) for f in scene.step(frame, seconds=1)
    ]
    # Seen inside as the second window opens, as if new; its dwell counts from 12:00:20.
    assert firings == [(0, "z"), (20, "z"), (36, "loiter")]
