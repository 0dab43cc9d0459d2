"""Video one click from everything, in Debian's chromium at 1366x768 and 1920x1080.

The camera page (live from a real RTSP camera, instant replay, timeline markers, ?at=) and the video wall
(fit, full screen, named layouts, tours, replay per tile).

The cameras are real RTSP servers (GStreamer) run by the web process itself, as in the embedded deployment;
recordings are made by the real recorder in 2-second segments while the test runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from conftest import (
    PASSWORD,
    Factory,
    RtspCamera,
    fits_window,
    new_database,
    screenshot,
    serve_in_thread,
    wait_until,
)
from safecity.app import build_services, create_app
from safecity.auth.models import User
from safecity.cameras.models import Approval, Camera, Owner
from safecity.config import Settings
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.org.models import District
from safecity.runtime import Services
from safecity.video.models import Recording

SIZES = [(1366, 768), (1920, 1080)]

pytestmark = pytest.mark.browser


@dataclass
class Room:
    base: str
    services: Services
    factory: Factory
    district: District
    operator: User
    cameras: list[Camera]


def _camera(session: Session, district: District, name: str, url: str) -> Camera:
    camera = Camera(
        name=name,
        district_id=district.id,
        latitude=34.0,
        longitude=71.5,
        stream_url=url,
        owner=Owner.POLICE,
        approval=Approval.APPROVED,
        tags=[],
        recording=True,
    )
    session.add(camera)
    session.flush()
    return camera


@contextmanager
def control_room(
    db_url: str, tmp_path: Path, settings: Settings, streams: list[RtspCamera], names: list[str]
) -> Iterator[Room]:
    """The app on a database of its own, running and recording the given RTSP cameras (2 s segments)."""
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        video = settings.video.model_copy(update={"run_in_web": True, "segment_seconds": 2})
        services = build_services(
            settings.model_copy(update={"database_url": SecretStr(url), "video": video})
        )
        with services.session_factory() as session:
            factory = Factory(session, services.mfa_box)
            district = factory.district()
            operator = factory.user("operator", districts=[district])
            cameras = [_camera(session, district, n, s.url) for n, s in zip(names, streams, strict=True)]
            session.commit()
            # Leaving the block shuts the app down, which stops the cameras.
            with serve_in_thread(create_app(services=services)) as (base, _):
                yield Room(base, services, factory, district, operator, cameras)


def _login(page: Page, room: Room, user: User) -> None:
    page.goto(f"{room.base}/login")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(room.factory.totp(user.username))
    page.get_by_role("button", name="Continue").click()
    expect(page).not_to_have_url(f"{room.base}/login/mfa")


def _recorded(room: Room, camera: Camera) -> tuple[dt.datetime, dt.datetime]:
    """The span the recorder has indexed for the camera so far."""
    with room.services.session_factory() as session:
        rows = list(session.scalars(select(Recording).where(Recording.camera_id == camera.id)))
        return min(r.start for r in rows), max(r.end for r in rows)


def _wait_recorded(room: Room, camera: Camera, seconds: float) -> tuple[dt.datetime, dt.datetime]:
    def enough() -> bool:
        with room.services.session_factory() as session:
            rows = list(session.scalars(select(Recording).where(Recording.camera_id == camera.id)))
        return (
            bool(rows) and (max(r.end for r in rows) - min(r.start for r in rows)).total_seconds() >= seconds
        )

    wait_until(enough, within=60, message="the recorder indexed too little")
    return _recorded(room, camera)


def _frame_changes(page: Page, selector: str) -> bool:
    """Whether the picture an <img> shows changes over a second (a live stream, not a still)."""
    grab = f"""() => {{
        const img = document.querySelector({selector!r});
        if (!img || !img.naturalWidth) return null;
        const c = document.createElement('canvas');
        c.width = 64; c.height = 36;
        c.getContext('2d').drawImage(img, 0, 0, 64, 36);
        return Array.from(c.getContext('2d').getImageData(0, 0, 64, 36).data);
    }}"""
    first = page.evaluate(grab)
    for _ in range(20):
        page.wait_for_timeout(250)
        later = page.evaluate(grab)
        if first is not None and later is not None and later != first:
            return True
        first = first or later
    return False


def _wall_time(page: Page) -> dt.datetime:
    page.wait_for_function("() => document.getElementById('player').dataset.wallTime", timeout=20_000)
    return dt.datetime.fromisoformat(page.locator("#player").get_attribute("data-wall-time") or "")


def test_the_camera_page_shows_live_replays_the_last_30_s_and_seeks_to_markers(
    db_url: str,
    tmp_path: Path,
    settings: Settings,
    chromium: Browser,
    rtsp_camera: Callable[..., RtspCamera],
) -> None:
    stream = rtsp_camera(width=640, height=360, fps=10, seconds=8)
    with control_room(db_url, tmp_path, settings, [stream], ["Bazaar gate"]) as room:
        camera = room.cameras[0]
        start, end = _wait_recorded(room, camera, 8)
        # Something happened at the camera while it recorded: an analytics event, 3 s into the recording.
        marker_at = start + dt.timedelta(seconds=3)
        with room.services.session_factory() as session:
            events.record_many(
                session=session,
                events=[
                    EventIn(
                        id=uuid.uuid4(),
                        occurred_at=marker_at,
                        kind="analytics.loitering",
                        source="analytics",
                        district_id=room.district.id,
                        camera_id=camera.id,
                        severity=3,
                    )
                ],
            )
            session.commit()
        # The page closes before the server stops: its live stream would hold the shutdown.
        with chromium.new_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            _login(page, room, room.operator)  # once: a TOTP code is never accepted twice
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{room.base}/cameras/{camera.id}")

                # Live first: a real picture from the camera, changing.
                expect(page.get_by_test_id("mode")).to_have_text("LIVE")
                page.wait_for_function(
                    "() => document.querySelector('[data-live]').naturalWidth === 640", timeout=20_000
                )
                assert _frame_changes(page, "[data-live]"), "the live picture does not move"
                expect(page.get_by_test_id("camera-status")).to_contain_text("online", timeout=10_000)
                # The timeline shows what was recorded, the gap before it, and the event.
                expect(page.locator(".tl-span.recorded").first).to_be_visible()
                expect(page.locator(".tl-span.gap").first).to_be_attached()
                marker = page.locator(".tl-marker.event")
                expect(marker).to_have_count(1)
                expect(page.get_by_test_id("markers")).to_contain_text("Analytics.loitering")
                fits_window(page)
                screenshot(page, f"camera-page-live-{width}x{height}", full_page=False)
                # The live view and the timeline are on the first screen.
                for part in ("[data-screen]", "[data-track]", "[data-instant-replay]"):
                    box = page.locator(part).bounding_box()
                    assert box is not None and box["y"] + box["height"] <= height, f"{part} below the fold"

                # Instant replay: the last 30 s, playing.
                clicked = dt.datetime.now(dt.UTC)
                page.get_by_role("button", name="Instant replay (30 s)").click()
                expect(page.get_by_test_id("mode")).to_contain_text("REPLAY")
                page.wait_for_function(
                    "() => document.getElementById('player').currentTime > 1.5", timeout=20_000
                )
                shown = _wall_time(page)
                assert clicked - dt.timedelta(seconds=32) <= shown <= clicked, (shown, clicked)
                assert shown >= start
                expect(page.locator("[data-live]")).to_be_hidden()  # the live stream is closed meanwhile

                # Click the event's marker: playback seeks to it.
                marker.click()
                expect(page.get_by_test_id("mode")).to_have_text("PLAYBACK")
                page.wait_for_function(
                    f"() => document.getElementById('player').dataset.wallTime >= {marker_at.isoformat()!r}"
                    " && document.getElementById('player').currentTime > 0.5",
                    timeout=20_000,
                )
                shown = _wall_time(page)
                assert marker_at - dt.timedelta(seconds=1) <= shown <= marker_at + dt.timedelta(seconds=4), (
                    shown,
                    marker_at,
                )
                screenshot(page, f"camera-page-playback-{width}x{height}", full_page=False)

                # Zoom to the minute around it: the window narrows, the marker is still there.
                page.get_by_role("button", name="Minute", exact=True).click()
                expect(page.get_by_role("button", name="Minute", exact=True)).to_have_attribute(
                    "aria-pressed", "true"
                )
                expect(page.locator(".tl-marker.event")).to_have_count(1)
                label = page.get_by_test_id("timeline-window").text_content() or ""
                assert label.count(":") >= 3, label  # seconds are shown at this zoom

                # The mouse wheel over the timeline zooms back out, to 10 minutes.
                page.locator("[data-track]").hover()
                page.mouse.wheel(0, 200)
                expect(page.get_by_role("button", name="10 min", exact=True)).to_have_attribute(
                    "aria-pressed", "true"
                )
                expect(page.locator(".tl-marker.event")).to_have_count(1)

                # The picture full screen (double-click or the button), and back.
                page.get_by_role("button", name="Full screen", exact=True).click()
                page.wait_for_function("() => document.fullscreenElement?.matches('[data-screen]')")
                page.evaluate("document.exitFullscreen()")
                page.wait_for_function("() => !document.fullscreenElement")

                # Back to live.
                page.get_by_role("button", name="Live", exact=True).click()
                expect(page.get_by_test_id("mode")).to_have_text("LIVE")
                page.wait_for_function("() => document.querySelector('[data-live]').naturalWidth === 640")

                # ?at= (a link from an alert, event or search) opens playback at that moment.
                at = start + dt.timedelta(seconds=5)
                page.goto(f"{room.base}/cameras/{camera.id}?at={at.isoformat().replace('+', '%2B')}")
                expect(page.get_by_test_id("mode")).to_have_text("PLAYBACK")
                page.wait_for_function(
                    "() => document.getElementById('player').currentTime > 0.5", timeout=20_000
                )
                shown = _wall_time(page)
                assert at - dt.timedelta(seconds=1) <= shown <= at + dt.timedelta(seconds=4), (shown, at)
                expect(page.get_by_test_id("player-status")).to_have_text("")
            assert errors == [], errors
        assert end > start


def _tile_boxes(page: Page, count: int) -> list[dict[str, float]]:
    boxes = []
    for i in range(count):
        box = page.locator(f"[data-tile='{i}']").bounding_box()
        assert box is not None
        boxes.append(box)
    return boxes


def test_the_wall_fits_goes_full_screen_saves_layouts_and_tours(
    db_url: str,
    tmp_path: Path,
    settings: Settings,
    chromium: Browser,
    rtsp_camera: Callable[..., RtspCamera],
) -> None:
    streams = [rtsp_camera(width=640, height=360, fps=10, seconds=8) for _ in range(3)]
    names = ["Bazaar gate", "Clock tower", "Bus stand"]
    with control_room(db_url, tmp_path, settings, streams, names) as room:
        gate, tower, bus = room.cameras
        _wait_recorded(room, gate, 6)
        with chromium.new_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            _login(page, room, room.operator)  # once: a TOTP code is never accepted twice
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{room.base}/wall")
                page.get_by_role("button", name="4 tiles", exact=True).click()
                for i, camera in enumerate((gate, tower, bus)):
                    page.get_by_label(f"Camera on tile {i + 1}", exact=True).select_option(label=camera.name)
                for i in range(3):
                    page.wait_for_function(
                        f"() => document.querySelector(\"[data-tile='{i}'] img\").naturalWidth > 0",
                        timeout=20_000,
                    )
                # 2x2, all four tiles inside the viewport, no scrolling either way.
                boxes = _tile_boxes(page, 4)
                for box in boxes:
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box
                    assert box["y"] >= 0 and box["y"] + box["height"] <= height + 0.5, (box, height)
                assert boxes[0]["y"] == boxes[1]["y"] and boxes[2]["y"] > boxes[0]["y"]  # two rows of two
                assert boxes[2]["x"] == boxes[0]["x"]
                fits_window(page)
                # Each tile: the camera's name linking to its page, and a running clock.
                first = page.locator("[data-tile='0']")
                expect(first.locator("[data-camera-link]")).to_have_attribute("href", f"/cameras/{gate.id}")
                clock = first.get_by_test_id("tile-clock")
                before = clock.text_content()
                page.wait_for_function(
                    "t => document.querySelector(\"[data-tile='0'] [data-clock]\").textContent !== t",
                    arg=before,
                )
                screenshot(page, f"wall-{width}x{height}", full_page=False)
                # Nine and sixteen tiles fit too (3x3, 4x4), then back to four.
                for count in (9, 16):
                    page.get_by_role("button", name=f"{count} tiles", exact=True).click()
                    for box in _tile_boxes(page, count):
                        assert (
                            box["y"] + box["height"] <= height + 0.5
                            and box["x"] + box["width"] <= width + 0.5
                        )
                    fits_window(page)
                    screenshot(page, f"wall-{count}-{width}x{height}", full_page=False)
                page.get_by_role("button", name="4 tiles", exact=True).click()
                expect(page.locator("[data-tile='4']")).to_be_hidden()

                # Full screen: the whole wall, then one tile (double-click), then back.
                page.get_by_role("button", name="Full screen", exact=True).click()
                page.wait_for_function(
                    "() => document.fullscreenElement"
                    " && document.fullscreenElement.matches('[data-wall-page]')"
                )
                boxes = _tile_boxes(page, 4)
                assert all(b["y"] + b["height"] <= height + 0.5 for b in boxes)
                screenshot(page, f"wall-fullscreen-{width}x{height}", full_page=False)
                page.evaluate("document.exitFullscreen()")
                page.wait_for_function("() => !document.fullscreenElement")
                page.locator("[data-tile='1'] [data-picture]").dblclick()
                page.wait_for_function(
                    "() => document.fullscreenElement && document.fullscreenElement.dataset.tile === '1'"
                )
                page.evaluate("document.exitFullscreen()")
                page.wait_for_function("() => !document.fullscreenElement")

                # Instant replay on a tile: its last 30 s play in the tile, then Live returns.
                page.get_by_role("button", name="Instant replay of tile 1").click()
                page.wait_for_function(
                    "() => document.querySelector(\"[data-tile='0'] video\").currentTime > 1", timeout=20_000
                )
                expect(first.locator("[data-mode]")).to_have_text("REPLAY")
                page.get_by_role("button", name="Instant replay of tile 1").click()  # now labelled "Live"
                expect(first.locator("[data-mode]")).to_have_text("LIVE")

                # A named layout: save it, change the wall, reload, load it back.
                name = f"Night shift {width}"
                page.get_by_label("Layout name").fill(name)
                page.get_by_role("button", name="Save layout").click()
                page.wait_for_function(
                    "n => Array.from(document.querySelectorAll('[data-preset-select] option'))"
                    ".some(o => o.text === n)",
                    arg=name,
                )
                page.get_by_role("button", name="1 tile", exact=True).click()
                with page.expect_response(
                    lambda r: r.url.endswith("/api/v1/wall") and r.request.method == "PUT"
                ):
                    page.get_by_label("Camera on tile 1", exact=True).select_option(label=bus.name)
                page.reload()
                expect(page.get_by_role("button", name="1 tile", exact=True)).to_have_attribute(
                    "aria-pressed", "true"
                )
                page.get_by_label("Saved layout", exact=True).select_option(label=name)
                page.get_by_role("button", name="Load", exact=True).click()
                expect(page.get_by_role("button", name="4 tiles", exact=True)).to_have_attribute(
                    "aria-pressed", "true"
                )
                for i, camera in enumerate((gate, tower, bus)):
                    expect(page.get_by_label(f"Camera on tile {i + 1}", exact=True)).to_have_value(
                        str(camera.id)
                    )

                # A tour on tile 4: it cycles through two cameras every 5 s, and is kept with the wall.
                page.get_by_role("button", name="Camera tour on tile 4").click()
                dialog = page.locator("[data-tour-dialog]")
                dialog.get_by_label("Bazaar gate").check()
                dialog.get_by_label("Clock tower").check()
                dialog.get_by_label("Seconds per camera").fill("5")
                with page.expect_response(
                    lambda r: r.url.endswith("/api/v1/wall") and r.request.method == "PUT"
                ):
                    dialog.get_by_role("button", name="Start tour").click()
                fourth = page.locator("[data-tile='3']")
                expect(fourth.locator("[data-tour-state]")).to_have_text("Tour 1/2 · 5 s")
                expect(page.get_by_label("Camera on tile 4", exact=True)).to_have_value(str(gate.id))
                expect(fourth.locator("[data-tour-state]")).to_have_text("Tour 2/2 · 5 s", timeout=10_000)
                expect(page.get_by_label("Camera on tile 4", exact=True)).to_have_value(str(tower.id))
                expect(fourth.locator("[data-camera-link]")).to_have_attribute("href", f"/cameras/{tower.id}")
                page.wait_for_function(
                    "() => document.querySelector(\"[data-tile='3'] img\").naturalWidth > 0", timeout=20_000
                )
                page.reload()  # the tour was saved when it started
                expect(fourth.locator("[data-tour-state]")).to_contain_text("/2 · 5 s")
                screenshot(page, f"wall-tour-{width}x{height}", full_page=False)

                # The tile's name opens the camera page.
                first.locator("[data-camera-link]").click()
                expect(page).to_have_url(f"{room.base}/cameras/{gate.id}")
                expect(page.get_by_test_id("mode")).to_have_text("LIVE")
            assert errors == [], errors
