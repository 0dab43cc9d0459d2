"""Counting lines: every track once per direction, by class, per bucket; per-track cool-downs; the counts API
and the chart on the camera's analytics page.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.counting import CountBook, bucket_start
from safecity.analytics.rules import Firing, RuleEngine
from safecity.analytics.schemas import CountingLine, LineCrossing, RuleConfig, ZoneIntrusion, rule_adapter
from safecity.analytics.tracking import Track
from safecity.analytics.types import CLASS_IDS
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import utcnow

if TYPE_CHECKING:
    from conftest import Factory

KARACHI = dt.timezone(dt.timedelta(hours=5))
START = dt.datetime(2026, 3, 5, 7, 59, 30, tzinfo=dt.UTC)  # half a minute before 08:00 UTC
ROAD = ((0.0, 0.5), (1.0, 0.5))  # drawn left to right: moving down the picture is left_to_right
CAR, BUS, MOTORCYCLE = CLASS_IDS["car"], CLASS_IDS["bus"], CLASS_IDS["motorcycle"]
DOWN, UP = "left_to_right", "right_to_left"


class Road:
    """Tracks moved by hand at 5 fps, as the tracker hands them to the rule engine."""

    def __init__(self, *rules: RuleConfig) -> None:
        self.rule_ids = [uuid.uuid4() for _ in rules]
        from zoneinfo import ZoneInfo

        self.engine = RuleEngine(
            list(zip(self.rule_ids, rules, strict=True)), timezone=ZoneInfo("Asia/Karachi")
        )
        self.tracks: dict[int, Track] = {}
        self.at = 0.0
        self.firings: list[tuple[dt.datetime, Firing]] = []

    def step(self, positions: dict[int, tuple[float, float]], classes: dict[int, int] | None = None) -> None:
        wall = START + dt.timedelta(seconds=self.at)
        for track_id, (x, y) in positions.items():
            box = np.array([x * 1000 - 20, y * 1000 - 40, x * 1000 + 20, y * 1000], dtype=np.float32)
            class_id = (classes or {}).get(track_id, CAR)
            track = self.tracks.get(track_id)
            if track is None:
                track = self.tracks[track_id] = Track(
                    track_id, class_id, self.at, self.at, wall, wall, box, 0.9, collections.deque(maxlen=300)
                )
            track.observe(box, 0.9, class_id, at=self.at, wall=wall, frame_size=(1000, 1000))
        for firing in self.engine.evaluate([self.tracks[i] for i in positions], at=self.at, wall=wall):
            self.firings.append((wall, firing))
        self.at += 0.2

    def drive(self, paths: dict[int, list[tuple[float, float] | None]], classes: dict[int, int]) -> None:
        """Each track's positions frame by frame (None: not detected in that frame)."""
        for i in range(max(len(p) for p in paths.values())):
            self.step({t: p[i] for t, p in paths.items() if i < len(p) and p[i] is not None}, classes)

    def crossings(self) -> list[tuple[int, str, str]]:
        """(track id, class, direction) of every crossing counted, in order."""
        return [
            (int(c["track_id"]), str(c["class"]), str(c["direction"]))
            for _, f in self.firings
            if f.rule.kind == "counting_line"
            for c in f.detail["crossings"]
        ]


def straight(x: float, y0: float, y1: float, n: int) -> list[tuple[float, float] | None]:
    return [(x, y0 + (y1 - y0) * i / (n - 1)) for i in range(n)]


def test_a_road_of_traffic_is_counted_once_per_track_and_direction_by_class_and_bucket() -> None:
    road = Road(CountingLine(name="Main road", line=ROAD))
    jitter: list[tuple[float, float] | None] = [
        (0.7, y) for y in (0.4, 0.47, 0.52, 0.49, 0.53, 0.5, 0.56, 0.7)
    ]
    paths = {
        1: straight(0.2, 0.1, 0.9, 12),  # down
        2: straight(0.3, 0.9, 0.1, 12),  # up
        3: straight(0.4, 0.2, 0.8, 8),  # down, a bus
        4: straight(0.6, 0.8, 0.2, 8),  # up, a motorcycle
        5: jitter,  # a car that wobbles on the line: down once, up once (it did go back), never more
        6: straight(0.8, 0.1, 0.4, 8),  # stops short of the line
    }
    paths[7] = [None] * 4 + straight(0.9, 0.2, 0.8, 8)  # down, appears later
    road.drive(paths, classes={3: BUS, 4: MOTORCYCLE})
    counted = road.crossings()
    assert sorted(counted) == [
        (1, "car", DOWN),
        (2, "car", UP),
        (3, "bus", DOWN),
        (4, "motorcycle", UP),
        (5, "car", DOWN),
        (5, "car", UP),
        (7, "car", DOWN),
    ]
    # Counted into buckets: the crossings at 08:00:31 and later fall in the minute after the first ones.
    book = CountBook()
    camera_id = uuid.uuid4()
    for wall, firing in road.firings:
        book.add(camera_id, firing, wall + dt.timedelta(seconds=29))
    rows = book.drain()
    by_interval: collections.Counter[int] = collections.Counter()
    for key, n in rows.items():
        by_interval[key.interval_min] += n
    assert by_interval == {1: 7, 5: 7, 15: 7, 60: 7}
    hourly: collections.Counter[tuple[str, str]] = collections.Counter()
    for key, n in rows.items():
        if key.interval_min == 60:
            hourly[key.direction, key.class_name] += n
    assert hourly == {(DOWN, "car"): 3, (UP, "car"): 2, (DOWN, "bus"): 1, (UP, "motorcycle"): 1}
    # Shifted to straddle 08:00 UTC: the first crossings fall in the hour (and minute) before.
    assert {k.bucket_start.hour for k in rows if k.interval_min == 60} == {7, 8}
    assert {k.bucket_start for k in rows if k.interval_min == 1} == {
        dt.datetime(2026, 3, 5, 7, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC),
    }
    assert book.drain() == {}  # drained once


def test_bucket_start() -> None:
    moment = dt.datetime(2026, 3, 5, 8, 47, 12, tzinfo=dt.UTC)
    assert [bucket_start(moment, m).strftime("%H:%M") for m in (1, 5, 15, 60)] == [
        "08:47",
        "08:45",
        "08:45",
        "08:00",
    ]


def test_a_vehicle_detected_late_past_the_line_is_counted_only_when_it_came_from_it() -> None:
    road = Road(CountingLine(name="Main road", line=ROAD))
    road.drive(
        {
            1: straight(0.1, 0.55, 0.95, 10),  # first seen just past the line, driving away: counted
            2: straight(0.3, 0.8, 0.95, 6),  # first seen far past it: it may have come from a side street
            3: [(0.5, 0.53)] * 6 + straight(0.5, 0.53, 0.9, 6),  # was parked just past it, then drove off
            4: straight(0.7, 0.56, 0.2, 10),  # first seen past it, driving towards it and over: counted once
            5: [(0.9, 0.1), None, None, None, (0.9, 0.9)],  # missed for three frames while crossing
        },
        classes={},
    )
    assert sorted(road.crossings()) == [(1, "car", DOWN), (4, "car", UP), (5, "car", DOWN)]


def test_a_line_crossing_cools_down_per_track() -> None:
    road = Road(LineCrossing(name="Gate", line=ROAD, classes=["car"], cooldown_s=30))
    # Two cars cross a second apart; the first turns round and crosses back within its cool-down.
    road.drive(
        {
            1: straight(0.2, 0.3, 0.7, 4) + straight(0.2, 0.7, 0.3, 4),
            2: [None] * 5 + straight(0.6, 0.3, 0.7, 4),
        },
        classes={},
    )
    assert [(f.track_ids, f.detail["direction"]) for _, f in road.firings] == [((1,), DOWN), ((2,), DOWN)]


def test_a_rule_reloaded_does_not_count_past_crossings_again() -> None:
    rule = CountingLine(name="Main road", line=ROAD)
    road = Road(rule)
    road.drive({1: straight(0.2, 0.3, 0.9, 8)}, classes={})
    assert len(road.crossings()) == 1
    road.engine = RuleEngine([(road.rule_ids[0], rule)], timezone=road.engine._timezone)  # a reload
    road.firings.clear()
    road.drive({1: [(0.2, 0.92), (0.2, 0.94)]}, classes={})
    assert road.crossings() == []


# --- stored counts: the API and the chart ------------------------------------------------------------

DRAWER = Principal(None, "test", frozenset({"cameras.read", "analytics.manage"}), None, via="system")


def _camera_with_counts(factory: Factory, session: Session) -> tuple[Camera, uuid.UUID]:
    district = factory.district()
    camera = Camera(
        name="Chowk", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(camera)
    session.flush()
    config = rule_adapter.validate_python(
        {"kind": "counting_line", "name": "Main road", "line": [[0, 0.5], [1, 0.5]]}
    )
    rule = analytics.create_rule(session=session, principal=DRAWER, camera_id=camera.id, config=config)
    road = Road(config)
    road.rule_ids[0] = rule.id
    road.engine = RuleEngine([(rule.id, config)], timezone=road.engine._timezone)
    road.drive(
        {1: straight(0.2, 0.1, 0.9, 8), 2: straight(0.4, 0.9, 0.1, 8), 3: straight(0.6, 0.1, 0.9, 8)},
        {3: BUS},
    )
    book = CountBook()
    now = utcnow() - dt.timedelta(minutes=3)
    for _, firing in road.firings:
        book.add(camera.id, firing, now)
    # Written in two flushes: the second adds to the first's rows.
    rows = book.drain()
    analytics.add_counts(session=session, rows=rows)
    analytics.add_counts(session=session, rows=rows)
    session.commit()
    return camera, rule.id


def test_counts_api_is_scoped_and_bucketed(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    camera, rule_id = _camera_with_counts(factory, session)
    district = session.get(type(factory.district()), camera.district_id)
    client = login_as(factory.user("operator", districts=[district]))
    now = utcnow()
    window = {
        "since": (now - dt.timedelta(hours=2)).isoformat(),
        "until": (now + dt.timedelta(hours=1)).isoformat(),
    }
    url = f"/api/v1/cameras/{camera.id}/counts"
    hourly = client.get(url, params={**window, "interval": 60, "rule_id": str(rule_id)})
    assert hourly.status_code == 200, hourly.text
    got = {(r["direction"], r["class"]): r["count"] for r in hourly.json()}
    assert got == {(DOWN, "car"): 2, (UP, "car"): 2, (DOWN, "bus"): 2}  # two flushes of one crossing each
    assert {r["interval_min"] for r in hourly.json()} == {60}
    minutes = client.get(url, params={**window, "interval": 1}).json()
    assert sum(r["count"] for r in minutes) == 6 and len({r["bucket_start"] for r in minutes}) == 1
    assert client.get(url, params={**window, "interval": 7}).status_code == 422
    assert client.get(url, params={"since": "yesterday", "until": window["until"]}).status_code == 422
    # Another district's operator does not learn the camera exists; someone without alerts.read is refused.
    other = login_as(factory.user("operator", districts=[factory.district()]))
    assert other.get(url, params=window).status_code == 404
    owner = login_as(factory.user("traffic_officer", districts=[district]))
    assert owner.get(url, params=window).status_code == 403


def test_the_analytics_page_charts_each_lines_counts_per_direction(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    camera, _ = _camera_with_counts(factory, session)
    client = login_as(factory.user("supervisor"))
    page = client.get(f"/cameras/{camera.id}/analytics", params={"interval": 5})
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count('data-testid="count-chart"') == 2  # both directions of the one line
    titles = re.findall(r"<title>([^<]*)</title>", html)
    assert any(t.endswith(": 2 bus") for t in titles) and any(t.endswith(": 2 car") for t in titles)
    assert "left to right, per 5 min" in html and "2 bus, 2 car" in html
    assert '<option value="5" selected>' in html
    assert client.get(f"/cameras/{camera.id}/analytics", params={"interval": 7}).status_code == 422


def test_a_second_box_for_the_same_object_is_not_a_second_event() -> None:
    zone = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]
    road = Road(ZoneIntrusion(name="Yard", zone=zone, classes=["car"], cooldown_s=30))
    road.step({1: (0.1, 0.5)})
    road.step({1: (0.5, 0.5)})  # enters: fires
    road.step({1: (0.5, 0.5), 2: (0.51, 0.5)})  # the tracker splits it: a new id in the same place
    road.step({1: (0.5, 0.5), 2: (0.51, 0.5), 3: (0.45, 0.45)})  # a second car, beside it: fires
    assert [f.track_ids for _, f in road.firings] == [(1,), (3,)]
