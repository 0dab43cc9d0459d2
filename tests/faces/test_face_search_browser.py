"""In Debian's chromium: an investigator searches the faces seen by a camera with a photo, under a
retrospective authorisation, and finds the person on the timeline and the map with a link to the video.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from faces_data import astronaut, astronaut_mirrored_jpeg, authorise, jpeg, listed_entry, place

from conftest import Factory, LiveApp, log_in, serve
from safecity.analytics.faces.engine import FaceEngine
from safecity.config import Settings
from safecity.faces import service as faces
from safecity.faces.matches import service as matches
from safecity.faces.models import AuthorisationKind

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_an_investigator_finds_a_face_on_the_timeline_and_the_map(
    live_app: LiveApp, chromium: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    settings = live_app.services.settings
    box = faces.biometric_box(settings)
    seen = FaceEngine(settings.faces).analyse(astronaut())[0].embedding
    assert seen is not None
    with live_app.services.session_factory() as session:
        factory = Factory(session, live_app.services.mfa_box)
        district = factory.district()
        here = place(session, district)
        investigator = factory.user("investigator", districts=[district])
        requester, approver = (
            factory.principal(factory.user("supervisor", districts=[district])) for _ in range(2)
        )
        entry = listed_entry(session, requester, district, here.person_id)
        authorisation_id = authorise(
            session,
            requester,
            approver,
            district,
            entry.watchlist_id,
            cameras=[here.camera_id],
            kind=AuthorisationKind.RETROSPECTIVE,
            starts_at=now - dt.timedelta(hours=6),
            ends_at=now + dt.timedelta(hours=6),
        )
        matches.record_sighting(
            session=session,
            box=box,
            camera_id=here.camera_id,
            district_id=district.id,
            seen_at=now - dt.timedelta(hours=2),
            face_box=[10, 10, 150, 150],
            quality={"ok": True},
            chip_jpeg=jpeg(astronaut()[:150, :150]),
            embedding=seen,
            authorisation_id=None,
            keep_for=dt.timedelta(hours=24),
        )
        session.commit()
        username, code, camera_id = investigator.username, factory.totp(investigator.username), here.camera_id
    photo = tmp_path / "suspect.jpg"
    photo.write_bytes(astronaut_mirrored_jpeg())
    local = ZoneInfo(settings.timezone)

    page = chromium.new_page()
    log_in(page, live_app.base, username, code)
    page.get_by_role("navigation", name="Main").get_by_text("Analytics", exact=True).click()  # its menu
    page.get_by_role("link", name="Face search").click()
    page.get_by_label("Photo").set_input_files(photo)
    page.get_by_label("Authorisation").select_option(str(authorisation_id))
    page.get_by_test_id("face-cameras").select_option(str(camera_id))
    page.get_by_label("From").fill((now - dt.timedelta(hours=5)).astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until").fill(now.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Purpose").fill("FIR 12/2026: where was the accused before the robbery")
    page.get_by_role("button", name="Search").click()

    expect(page.get_by_test_id("face-search-summary")).to_contain_text("1 faces found among 1")
    entries = page.get_by_test_id("face-timeline").locator("li")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Mall Road")
    expect(entries.first.locator("img.chip")).to_be_visible()
    expect(page.get_by_test_id("face-map").locator(".leaflet-interactive")).to_have_count(1)
    video = page.get_by_test_id("face-video")
    expect(video).to_have_attribute("href", f"/cameras/{camera_id}?at={_quoted(now - dt.timedelta(hours=2))}")

    # The same search over an area drawn on the map of her cameras, no camera chosen.
    page.get_by_test_id("face-cameras").select_option([])
    page.get_by_role("button", name="Draw area").click()
    area_map = page.get_by_test_id("face-area-map")
    expect(area_map.locator(".leaflet-interactive")).to_have_count(1)  # the camera, at the map's centre
    size = area_map.bounding_box()
    assert size is not None
    area_map.click(position={"x": size["width"] * 0.3, "y": size["height"] * 0.3})
    area_map.click(position={"x": size["width"] * 0.7, "y": size["height"] * 0.7})
    expect(page.get_by_test_id("face-area")).to_have_text(re.compile(r"^31\.5\d+,74\.\d+,31\.5\d+,74\.\d+$"))
    with page.expect_response(lambda r: r.url.endswith("/faces/search") and r.request.method == "POST"):
        page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("face-search-summary")).to_contain_text(
        "1 faces found among 1 seen by 1 cameras"
    )
    expect(page.get_by_test_id("face-timeline").locator("li")).to_have_count(1)
    expect(page.get_by_test_id("face-area")).to_have_text(re.compile(r"^31\.5"))  # kept for the next search
    page.close()


def _quoted(at: dt.datetime) -> str:
    from urllib.parse import quote

    return quote(at.isoformat(), safe="") + "#playback"
