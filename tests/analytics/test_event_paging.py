"""The analytics events page pages through a long feed: 50 a page, older and newer, filters kept."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from safecity.cameras.models import Camera
from safecity.events import service as events
from safecity.events.schemas import EventIn

if TYPE_CHECKING:  # tests/analytics/conftest.py takes the name `conftest` in this directory
    from conftest import Factory

START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr id="event-([0-9a-f-]{36})"', html)


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'href="(\?[^"]*)" rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_feed_pages_by_time_and_id_and_keeps_its_filters(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    district = factory.district()
    camera = Camera(
        name="Chowk", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    other = Camera(
        name="Gate", district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/2"
    )
    session.add_all([camera, other])
    session.flush()
    batch = []
    for n in range(120):
        # Three events share each second, so the order needs the id as well as the time.
        batch.append(
            EventIn(
                id=uuid.uuid4(),
                occurred_at=START + dt.timedelta(seconds=n // 3),
                kind="analytics.line_crossing",
                source="analytics",
                district_id=district.id,
                camera_id=camera.id,
                payload={"camera_name": camera.name},
            )
        )
    batch.append(
        EventIn(
            id=uuid.uuid4(),
            occurred_at=START,
            kind="analytics.line_crossing",
            source="analytics",
            district_id=district.id,
            camera_id=other.id,
            payload={"camera_name": other.name},
        )
    )
    events.record_many(session=session, events=batch)
    client = login_as(factory.user("operator", districts=[district]))
    expected = [
        str(e.id)
        for e in sorted(
            (e for e in batch if e.camera_id == camera.id),
            key=lambda e: (-e.occurred_at.timestamp(), e.id.hex),
        )
    ]

    first = client.get("/analytics/events", params={"camera_id": str(camera.id)})
    assert first.status_code == 200 and 'data-event-feed="/api/v1/events/stream"' in first.text
    assert _ids(first.text) == expected[:50] and _link(first.text, "prev") is None
    older = _link(first.text, "next")
    assert older and f"camera_id={camera.id}" in older
    second = client.get("/analytics/events" + older)
    assert _ids(second.text) == expected[50:100]
    assert "data-event-feed" not in second.text  # live updates belong to the newest page
    third = client.get("/analytics/events" + (_link(second.text, "next") or ""))
    assert _ids(third.text) == expected[100:] and _link(third.text, "next") is None
    back = client.get("/analytics/events" + (_link(third.text, "prev") or ""))
    assert _ids(back.text) == expected[50:100]
    newest = client.get("/analytics/events" + (_link(back.text, "prev") or ""))
    assert _ids(newest.text) == expected[:50] and _link(newest.text, "prev") is None
    # A link that was tampered with shows the newest page.
    assert _ids(client.get("/analytics/events", params={"before": "garbage"}).text)[:1] == expected[:1]
