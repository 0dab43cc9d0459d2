"""Events over time: counts per local hour or day (scoped, filtered) and the chart on the feed page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.org.models import District

if TYPE_CHECKING:  # tests/analytics/conftest.py takes the name `conftest` in this directory
    from conftest import Factory

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5 all year


def karachi(day: int, hour: int, minute: int = 0, second: float = 0) -> dt.datetime:
    """A moment on 2025-11-<day>, Karachi time."""
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return dt.datetime(2025, 11, day, hour, minute, whole, micro, tzinfo=KARACHI)


@dataclass
class Place:
    a: District
    b: District
    cam_a: Camera
    cam_a2: Camera
    cam_b: Camera
    viewer_a: Principal  # an operator of district A only
    everyone: Principal  # a supervisor of every district


def camera(session: Session, district: District, name: str) -> Camera:
    found = Camera(
        name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(found)
    session.flush()
    return found


@pytest.fixture
def place(factory: Factory, session: Session) -> Place:
    a, b = factory.district(), factory.district()
    return Place(
        a,
        b,
        camera(session, a, "Chowk A"),
        camera(session, a, "Gate A"),
        camera(session, b, "Chowk B"),
        factory.principal(factory.user("operator", districts=[a])),
        factory.principal(factory.user("supervisor")),
    )


def record(session: Session, cam: Camera, at: dt.datetime, kind: str = "analytics.line_crossing") -> None:
    event = EventIn(
        id=uuid.uuid4(),
        occurred_at=at,
        kind=kind,
        source="analytics",
        district_id=cam.district_id,
        camera_id=cam.id,
        severity=2,
        payload={"camera_name": cam.name},
    )
    events.record_many(session=session, events=[event])


def hourly(place: Place, session: Session, principal: Principal, **filters: Any) -> list[tuple[str, int]]:
    """Counts per hour from 22:00 on the 22nd to 02:00 on the 23rd, as ("DD HH:MM", count)."""
    counts = events.count_over_time(
        session=session,
        principal=principal,
        since=karachi(22, 22),
        until=karachi(23, 2),
        per="hour",
        timezone=KARACHI,
        **filters,
    )
    return [(f"{start:%d %H:%M}", n) for start, n in counts]


def test_counts_per_local_hour_across_midnight_are_exact(place: Place, session: Session) -> None:
    for at in [
        karachi(22, 21, 59, 59.9),  # before the period
        karachi(22, 22, 5),
        karachi(22, 22, 5),
        karachi(22, 22, 59, 59.9),  # a fraction of a second before 23:00 still counts for 22:00
        karachi(22, 23),  # on the hour: the new hour
        karachi(23, 0, 30),
        karachi(23, 0, 45),
        karachi(23, 0, 59, 59),
        karachi(23, 1, 59),
        karachi(23, 2),  # `until` is exclusive
    ]:
        record(session, place.cam_a, at)

    assert hourly(place, session, place.viewer_a) == [
        ("22 22:00", 3),
        ("22 23:00", 1),
        ("23 00:00", 3),
        ("23 01:00", 1),
    ]
    counts = events.count_over_time(
        session=session,
        principal=place.viewer_a,
        since=karachi(22, 22),
        until=karachi(23, 2),
        per="hour",
        timezone=KARACHI,
    )
    assert counts[2][0] == karachi(23, 0) and counts[2][0].utcoffset() == dt.timedelta(hours=5)


def test_another_districts_events_are_not_counted(place: Place, session: Session) -> None:
    record(session, place.cam_a, karachi(22, 22, 10))
    record(session, place.cam_b, karachi(22, 22, 20))
    record(session, place.cam_b, karachi(23, 1, 20))

    assert hourly(place, session, place.viewer_a) == [
        ("22 22:00", 1),
        ("22 23:00", 0),
        ("23 00:00", 0),
        ("23 01:00", 0),
    ]
    assert hourly(place, session, place.everyone) == [
        ("22 22:00", 2),
        ("22 23:00", 0),
        ("23 00:00", 0),
        ("23 01:00", 1),
    ]
    assert hourly(place, session, place.viewer_a, district_id=place.b.id) == [
        ("22 22:00", 0),
        ("22 23:00", 0),
        ("23 00:00", 0),
        ("23 01:00", 0),
    ]


def test_the_filters_of_search_apply(place: Place, session: Session) -> None:
    record(session, place.cam_a, karachi(22, 22, 1), "analytics.crowd")
    record(session, place.cam_a, karachi(22, 22, 2), "analytics.line_crossing")
    record(session, place.cam_a2, karachi(22, 23, 3), "analytics.crowd")
    record(session, place.cam_a, karachi(23, 0, 4), "camera.offline")
    record(session, place.cam_a, karachi(23, 1, 5), "analyticsx.other")  # "." is no wildcard

    def totals(**filters: Any) -> list[int]:
        return [n for _, n in hourly(place, session, place.viewer_a, **filters)]

    assert totals() == [2, 1, 1, 1]
    assert totals(kind_prefix="analytics.") == [2, 1, 0, 0]
    assert totals(kind="analytics.crowd") == [1, 1, 0, 0]
    assert totals(camera_id=place.cam_a2.id) == [0, 1, 0, 0]
    assert totals(camera_id=place.cam_a.id, kind_prefix="analytics.") == [2, 0, 0, 0]


def test_days_are_local_days(place: Place, session: Session) -> None:
    # 23:59 and 00:00 Karachi time are 18:59 and 19:00 UTC of the same UTC day, yet different local days.
    record(session, place.cam_a, karachi(22, 23, 59))
    record(session, place.cam_a, karachi(23, 0, 0))
    record(session, place.cam_a, karachi(23, 18, 0))
    record(session, place.cam_a, karachi(24, 4, 0))

    counts = events.count_over_time(
        session=session,
        principal=place.viewer_a,
        since=karachi(21, 12),  # mid-day: the first day counts from here on
        until=karachi(24, 0),
        per="day",
        timezone=KARACHI,
    )
    assert [(start, n) for start, n in counts] == [
        (karachi(21, 0), 0),
        (karachi(22, 0), 1),
        (karachi(23, 0), 2),
    ]


def test_bad_periods_are_refused(place: Place, session: Session, factory: Factory) -> None:
    def count(since: dt.datetime, until: dt.datetime, principal: Principal = place.viewer_a) -> object:
        return events.count_over_time(
            session=session, principal=principal, since=since, until=until, per="hour", timezone=KARACHI
        )

    with pytest.raises(InvalidInput, match="before"):
        count(karachi(23, 0), karachi(23, 0))
    with pytest.raises(InvalidInput, match="at most"):
        count(karachi(1, 0), karachi(30, 0) + dt.timedelta(days=60))
    with pytest.raises(InvalidInput, match="time zone"):
        count(dt.datetime(2025, 11, 22), karachi(23, 0))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(PermissionDenied):
        count(karachi(22, 0), karachi(23, 0), factory.principal(factory.user("admin")))


# --- the chart on /analytics/events -----------------------------------------------------------------


def bar_titles(page: str) -> list[str]:
    chart = page[page.index('data-testid="event-chart"') : page.index("</svg>", page.index("event-chart"))]
    return re.findall(r"<rect [^>]*><title>([^<]*)</title>", chart)


def test_the_page_charts_the_filtered_events_per_local_hour(
    place: Place, session: Session, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    for at in [karachi(22, 22, 5), karachi(22, 22, 50), karachi(23, 0, 10)]:
        record(session, place.cam_a, at)
    record(session, place.cam_a, karachi(23, 0, 20), "analytics.crowd")
    record(session, place.cam_b, karachi(22, 22, 30))  # another district
    client = login_as(factory.user("operator", districts=[place.a]))

    window = {"since": "2025-11-22T22:00", "until": "2025-11-23T01:00"}
    page = client.get("/analytics/events", params=window)
    assert page.status_code == 200, page.text
    assert bar_titles(page.text) == [
        "2025-11-22 22:00: 2 events",
        "2025-11-22 23:00: 0 events",
        "2025-11-23 00:00: 2 events",
    ]
    assert "4 events per hour, 2025-11-22 22:00 to 2025-11-23 01:00 local time." in page.text
    assert ">23 Nov</text>" in page.text  # midnight is labelled by its date

    crowds = client.get("/analytics/events", params={**window, "kind": "crowd"})
    assert bar_titles(crowds.text) == [
        "2025-11-22 22:00: 0 events",
        "2025-11-22 23:00: 0 events",
        "2025-11-23 00:00: 1 event",
    ]
    other_camera = client.get("/analytics/events", params={**window, "camera_id": str(place.cam_a2.id)})
    assert "0 events per hour" in other_camera.text


def test_the_page_charts_longer_periods_per_day_and_the_last_day_by_default(
    place: Place, session: Session, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    record(session, place.cam_a, karachi(20, 9))
    record(session, place.cam_a, karachi(22, 23, 59))
    record(session, place.cam_a, utcnow() - dt.timedelta(minutes=1))
    record(session, place.cam_a, utcnow() - dt.timedelta(hours=25))  # outside the last 24 hours
    client = login_as(factory.user("operator", districts=[place.a]))

    days = client.get("/analytics/events", params={"since": "2025-11-20T00:00", "until": "2025-11-23T00:00"})
    assert bar_titles(days.text) == ["2025-11-20: 1 event", "2025-11-21: 0 events", "2025-11-22: 1 event"]

    years = client.get("/analytics/events", params={"since": "2020-01-01T00:00", "until": "2025-11-23T00:00"})
    assert "(the last 366 days of the period)" in years.text
    assert len(bar_titles(years.text)) == 366 and bar_titles(years.text)[-1] == "2025-11-22: 1 event"

    default = bar_titles(client.get("/analytics/events").text)
    assert len(default) == 24  # the current hour and the 23 before it
    this_hour = (utcnow() - dt.timedelta(minutes=1)).astimezone(KARACHI)
    assert f"{this_hour:%Y-%m-%d %H}:00: 1 event" in default[-2:]  # the last, unless an hour began since
    assert sum(int(title.split(": ")[1].split()[0]) for title in default) == 1

    later = client.get("/analytics/events", params={"since": "2025-11-23T00:00", "until": "2025-11-22T00:00"})
    assert 'data-testid="event-chart"' not in later.text  # an empty period has no chart
