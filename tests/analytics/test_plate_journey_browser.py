"""In Debian's chromium: an investigator searches a plate and follows its journey on the map."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_plate_search import sight
from test_rule_editor_browser import log_in

from conftest import Factory, LiveApp, serve
from safecity.cameras.models import Camera
from safecity.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_an_investigator_searches_a_plate_and_sees_its_route(live_app: LiveApp, chromium: Browser) -> None:
    from playwright.sync_api import expect

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with live_app.services.session_factory() as session:
        factory = Factory(session, live_app.services.mfa_box)
        district = factory.district()
        names = ("Gate", "Bridge", "Market")
        for i, name in enumerate(names):
            camera = Camera(
                name=name,
                district_id=district.id,
                latitude=31.5 + i / 100,
                longitude=74.3,
                stream_url="rtsp://x/1",
            )
            session.add(camera)
            session.flush()
            sight(session, camera, "LEA1234", now - dt.timedelta(hours=3 - i))
        investigator = factory.user("investigator", districts=[district])
        session.commit()
        username, code = investigator.username, factory.totp(investigator.username)

    page = chromium.new_page()
    log_in(page, live_app.base, username, code)
    page.get_by_role("navigation", name="Main").get_by_text("Analytics", exact=True).click()  # its menu
    page.get_by_role("link", name="Plates").click()
    page.get_by_label("Plate").fill("LEA-1234")
    page.get_by_label("Purpose").fill("FIR 9/2026")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("sightings").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("sightings-map").locator(".leaflet-interactive")).to_have_count(3)

    rows.first.get_by_role("link", name="Journey").click()
    expect(page.get_by_test_id("journey-summary")).to_contain_text("3 sightings")
    journey_map = page.get_by_test_id("journey-map")
    expect(journey_map.locator(".stop-number")).to_have_text(["1", "2", "3"])
    expect(journey_map.locator("path.leaflet-interactive")).to_have_count(1)  # the route
    expect(page.get_by_test_id("timeline").locator("li")).to_have_count(3)
    timeline = page.get_by_test_id("timeline").inner_text()
    assert timeline.index("Gate") < timeline.index("Bridge") < timeline.index("Market")
    page.close()
