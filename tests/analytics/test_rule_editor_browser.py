"""In Debian's chromium: a supervisor draws a line and a zone on a camera, then sees an event arrive live."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import pytest

from conftest import Factory, LiveApp, RtspCamera, log_in, serve, wait_until
from safecity.cameras.models import Camera
from safecity.config import Settings, VideoSettings
from safecity.events import service as events
from safecity.events.schemas import EventIn, EventOut
from safecity.video.status import CameraState

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# An event's "Play back" link: the camera page, opened at the event's moment.
PLAYBACK_LINK = re.compile(r"^/cameras/[0-9a-f-]+\?at=.+#playback$")


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    """The application without cameras running."""
    with serve(settings, db_url, tmp_path) as app:
        yield app


def click_at(page: Page, fx: float, fy: float) -> tuple[float, float]:
    """Click the drawing at a fraction of its size; returns the fractions the click stands for."""
    overlay = page.get_by_test_id("overlay")
    box = overlay.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    x, y = round(fx * box["width"]), round(fy * box["height"])
    overlay.click(position={"x": x, "y": y})
    return x / box["width"], y / box["height"]


def assert_points(stored: list[list[float]], clicked: list[tuple[float, float]]) -> None:
    assert len(stored) == len(clicked)
    for (sx, sy), (cx, cy) in zip(stored, clicked, strict=True):
        assert abs(sx - cx) < 0.005 and abs(sy - cy) < 0.005, (stored, clicked)


@pytest.mark.browser
def test_a_supervisor_draws_rules_and_sees_an_event_arrive_live(live_app: LiveApp, chromium: Browser) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district = factory.district()
        camera = Camera(
            name="Qissa Khwani",
            district_id=district.id,
            latitude=34.0,
            longitude=71.57,
            stream_url="rtsp://10.0.0.9/1",
        )
        session.add(camera)
        supervisor = factory.user("supervisor", districts=[district])
        session.commit()
        camera_id, district_id, username = camera.id, district.id, supervisor.username
        code = factory.totp(username)

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, live_app.base, username, code)
    page.goto(f"{live_app.base}/cameras/{camera_id}")
    page.get_by_role("link", name="Analytics rules").click()
    # No video runs in this app, so the camera has no picture: the editor says so and draws on a blank frame.
    expect(page.get_by_test_id("picture-state")).to_contain_text("no picture")
    expect(page.get_by_test_id("no-rules")).to_be_visible()

    form = page.get_by_test_id("rule-form")
    form.get_by_label("Kind").select_option("line_crossing")
    line = [click_at(page, 0.2, 0.7), click_at(page, 0.8, 0.6)]
    expect(page.get_by_test_id("draw-hint")).to_contain_text("Line drawn")
    form.get_by_label("Name").fill("Gate line")
    form.get_by_label("Direction counted").select_option("left_to_right")
    form.get_by_test_id("save-rule").click()
    expect(page.get_by_test_id("rules")).to_contain_text("Gate line")

    form.get_by_label("Kind").select_option("zone_intrusion")
    form.get_by_label("Name").fill("Roof")
    form.get_by_test_id("save-rule").click()  # nothing drawn yet: refused in the page, next to the form
    expect(page.get_by_test_id("rule-errors")).to_contain_text("Draw the zone first")
    zone = [click_at(page, fx, fy) for fx, fy in ((0.1, 0.1), (0.45, 0.12), (0.4, 0.45), (0.12, 0.4))]
    form.get_by_test_id("close-zone").click()
    form.get_by_label("car").check()
    form.get_by_test_id("save-rule").click()
    expect(page.get_by_test_id("rules")).to_contain_text("Roof")
    expect(page.get_by_test_id("rule-errors")).to_be_hidden()
    expect(page.locator("svg.overlay g[data-rule]")).to_have_count(2)

    rules = {
        r["name"]: r for r in page.request.get(f"{live_app.base}/api/v1/cameras/{camera_id}/rules").json()
    }
    assert set(rules) == {"Gate line", "Roof"}
    assert rules["Gate line"]["config"]["direction"] == "left_to_right"
    assert_points(rules["Gate line"]["config"]["line"], line)
    assert_points(rules["Roof"]["config"]["zone"], zone)
    assert rules["Roof"]["config"]["classes"] == ["car", "person"]

    page.goto(f"{live_app.base}/analytics/events")
    expect(page.get_by_test_id("feed-state")).to_have_text("Live")
    expect(page.get_by_test_id("no-events")).to_be_visible()
    event = analytics_event(services.settings, camera_id, district_id, rules["Gate line"])
    with services.session_factory() as session:  # stored first, then published, as the pipeline does
        events.record_many(session=session, events=[event])
        session.commit()
    out = EventOut.model_validate(event.model_dump())
    live_app.publish(f"events.analytics.{camera_id}", out.model_dump_json().encode(), str(event.id))
    row = page.locator(f"#event-{event.id}")
    expect(row).to_contain_text(
        "Gate line", timeout=15_000
    )  # live, without a reload (bench measures how fast)
    expect(row).to_contain_text("Qissa Khwani")
    expect(row).to_contain_text("Line crossing")
    expect(row).to_contain_text("2 person")
    thumb = row.locator("img.thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    expect(row.get_by_role("link", name="Play back")).to_have_attribute("href", PLAYBACK_LINK)
    page.close()


def analytics_event(
    settings: Settings, camera_id: uuid.UUID, district_id: uuid.UUID, rule: dict[str, Any]
) -> EventIn:
    """A line crossing with its snapshot written where the pipeline writes them (a real photograph)."""
    from skimage import data

    event_id = uuid.uuid4()
    relative = f"{camera_id}/2026-11-22/{event_id}.jpg"
    path = settings.snapshots_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    left, _right, _disparity = data.stereo_motorcycle()
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(encoded.tobytes())
    person = {"class": "person", "score": 0.9, "track_id": 4}
    return EventIn(
        id=event_id,
        occurred_at=dt.datetime.now(dt.UTC),
        kind="analytics.line_crossing",
        source="analytics",
        district_id=district_id,
        camera_id=camera_id,
        severity=2,
        payload={
            "rule_id": rule["id"],
            "rule_name": rule["name"],
            "rule_kind": "line_crossing",
            "camera_name": "Qissa Khwani",
            "objects": [
                {**person, "box": [10, 20, 60, 200]},
                {**person, "box": [90, 20, 140, 210], "track_id": 5},
            ],
            "detail": {"direction": "left_to_right"},
            "snapshot": relative,
            "frame_size": [left.shape[1], left.shape[0]],
        },
    )


@pytest.mark.browser
def test_people_walking_across_a_drawn_line_and_zone_show_up_live_with_snapshots(
    rtsp_camera: Callable[..., RtspCamera], db_url: str, tmp_path: Path, settings: Settings, chromium: Browser
) -> None:
    """The issue's "done when": draw a line and a zone on a real camera of people, see their events arrive."""
    from playwright.sync_api import expect

    server = rtsp_camera(width=768, height=576, fps=10, seconds=60)  # real pedestrians crossing a square
    with_video = settings.model_copy(update={"video": VideoSettings(run_in_web=True, analytics_fps=5)})
    with serve(with_video, db_url, tmp_path) as app:
        with app.services.session_factory() as session:
            factory = Factory(session, app.services.mfa_box)
            district = factory.district()
            camera = Camera(
                name="Square", district_id=district.id, latitude=34.0, longitude=71.57, stream_url=server.url
            )
            session.add(camera)
            supervisor = factory.user("supervisor", districts=[district])
            session.commit()
            camera_id, username = camera.id, supervisor.username
            code = factory.totp(username)
        assert app.services.video is not None
        video = app.services.video
        asyncio.run_coroutine_threadsafe(video.refresh(), app.loop).result(20)
        wait_until(
            lambda: (
                (status := video.supervisor.status(camera_id)) is not None
                and status.state is CameraState.ONLINE
            ),
            within=30,
            message="the camera did not come online",
        )

        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, app.base, username, code)
        page.goto(f"{app.base}/cameras/{camera_id}/analytics")
        expect(page.get_by_test_id("picture-state")).to_contain_text("picture at")
        form = page.get_by_test_id("rule-form")
        form.get_by_label("Kind").select_option("line_crossing")
        click_at(page, 0.5, 0.3)
        click_at(page, 0.5, 0.98)  # down the middle of the square, where people cross all the time
        form.get_by_label("Name").fill("Middle")
        form.get_by_label("Direction counted").select_option("both")
        form.get_by_test_id("save-rule").click()
        expect(page.get_by_test_id("rules")).to_contain_text("Middle")
        form.get_by_label("Kind").select_option("zone_intrusion")
        for fx, fy in ((0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)):
            click_at(page, fx, fy)  # the whole square: someone is always in it
        form.get_by_test_id("close-zone").click()
        form.get_by_label("Name").fill("Square")
        form.get_by_label("Severity").select_option(label="high")  # high: also an alert for operators
        form.get_by_test_id("save-rule").click()
        expect(page.get_by_test_id("rules")).to_contain_text("Square")

        page.goto(f"{app.base}/analytics/events?camera_id={camera_id}")
        expect(page.get_by_test_id("feed-state")).to_have_text("Live")
        # The runtime picks the rules up within seconds and people walk across: events are pushed live.
        crossing = page.locator("tr[id^=event-]", has_text="Middle").first
        expect(crossing).to_be_visible(timeout=40000)
        expect(crossing).to_contain_text("Line crossing")
        expect(crossing).to_contain_text("person")
        entering = page.locator("tr[id^=event-]", has_text="Zone intrusion").first
        expect(entering).to_be_visible(timeout=20000)
        thumb = crossing.locator("img.thumb")
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        expect(crossing.get_by_role("link", name="Play back")).to_have_attribute("href", PLAYBACK_LINK)

        # The high-severity zone also alerted the operators: the console shows what the analytics saw.
        page.goto(f"{app.base}/console")
        alert = page.locator("tr.alert", has_text="Square: person").first
        expect(alert).to_be_visible(timeout=20000)
        alert.click()
        shot = page.get_by_test_id("alert-snapshot")
        expect(shot).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=shot.element_handle())
        page.close()
