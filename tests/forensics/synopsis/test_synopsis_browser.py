"""In Debian's chromium: an investigator asks for the synopsis of three recorded minutes, watches it render,
plays it, sees the three objects of three different minutes on screen together, and clicks one to open
the recording at its original moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from synopsis_data import SECONDS, SEGMENT_S, T0, encode, store_tracks

from conftest import Factory, LiveApp, add_camera, log_in, record, screenshot, serve
from safecity.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_an_investigator_renders_plays_and_clicks_through_a_synopsis(
    live_app: LiveApp, chromium: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    settings = live_app.services.settings
    with live_app.services.session_factory() as session:
        factory = Factory(session, live_app.services.mfa_box)
        district = factory.district()
        camera = add_camera(session, district.id)
        record(session, camera, settings.recordings_dir, encode(tmp_path / "scene.mp4"), T0, SEGMENT_S)
        store_tracks(session, camera)
        investigator = factory.user("investigator", districts=[district])
        session.commit()
        username, code, camera_id = investigator.username, factory.totp(investigator.username), camera.id
    local = ZoneInfo(settings.timezone)

    page = chromium.new_page()
    log_in(page, live_app.base, username, code)
    page.get_by_role("navigation", name="Main").get_by_text("Forensics", exact=True).click()  # its menu
    page.get_by_role("link", name="Video synopsis").click()
    page.get_by_label("Camera").select_option(str(camera_id))
    page.get_by_label("From").fill(T0.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    until = T0 + dt.timedelta(seconds=SECONDS)
    page.get_by_label("Until").fill(until.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Purpose").fill("FIR 9/2026: who passed the shop that morning")
    page.get_by_role("button", name="Make synopsis").click()

    page.wait_for_url(lambda url: "/forensics/synopsis/" in url)
    job = page.get_by_test_id("synopsis-job")
    expect(job).to_have_attribute("data-state", "done", timeout=60_000)  # polled by htmx until it is
    expect(page.get_by_test_id("synopsis-summary")).to_contain_text("3")
    expect(page.get_by_test_id("synopsis-heatmap")).to_be_visible()
    heatmap = page.get_by_test_id("synopsis-heatmap").element_handle()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=heatmap, timeout=10_000)

    video = page.get_by_test_id("synopsis-video")
    page.wait_for_function("(v) => v.readyState >= 2", arg=video.element_handle(), timeout=20_000)
    duration = float(video.evaluate("v => v.duration"))
    assert 3 < duration < SECONDS / 10
    video.evaluate("v => v.play()")
    page.wait_for_function("(v) => v.currentTime > 1", arg=video.element_handle(), timeout=20_000)
    video.evaluate("v => v.pause()")
    # The middle of the synopsis: the three objects, seen at three different minutes, are all on screen.
    video.evaluate(f"v => {{ v.currentTime = {duration / 2}; }}")
    objects = page.get_by_test_id("synopsis-object")
    expect(objects).to_have_count(3, timeout=10_000)
    screenshot(page, "forensics-synopsis")
    labels = sorted(objects.nth(i).get_attribute("title") or "" for i in range(3))
    # "HH:MM:SS class", in Asia/Karachi: seen at 10:00, 10:01 and 10:02.
    assert [label.split()[1] for label in labels] == ["person", "cat", "car"]
    assert [label[:5] for label in labels] == ["10:00", "10:01", "10:02"]
    href = objects.first.get_attribute("href") or ""
    assert href.startswith(f"/cameras/{camera_id}?at=")
    objects.first.click()
    page.wait_for_url(lambda url: f"/cameras/{camera_id}" in url and "at=" in url)
    page.close()
