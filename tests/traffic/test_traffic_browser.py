"""In Debian's chromium: a traffic officer sees the city's traffic (counts and speeds of each location, road
segments coloured by congestion and recoloured live), a location's charts, and calibrates its speed lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_traffic_api import counted_road

from analytics.test_rule_editor_browser import log_in
from conftest import Factory, LiveApp, serve
from safecity.config import Settings
from safecity.core.db import utcnow
from safecity.traffic import pages as traffic_pages
from safecity.traffic import service as traffic
from safecity.traffic.models import Segment, SegmentState
from safecity.traffic.schemas import SegmentIn

if TYPE_CHECKING:
    from playwright.sync_api import Browser

JAM = "#6d0000"


@pytest.fixture
def live_app(
    db_url: str, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveApp]:
    monkeypatch.setattr(traffic_pages, "REFRESH_S", 1)  # the map reloads congestion every second here
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_the_traffic_page_shows_counts_speeds_and_congestion(live_app: LiveApp, chromium: Browser) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district, camera, a, b = counted_road(factory, session)
        officer = factory.user("traffic_officer", districts=[district])
        segment = traffic.create_segment(
            session=session,
            principal=factory.principal(officer),
            data=SegmentIn(
                name="GT Road east",
                camera_id=camera.id,
                line_ids=[a, b],
                path=[(34.0, 71.50), (34.002, 71.51)],
                free_flow_kmh=60,
            ),
        )
        row = session.get(Segment, segment.id)
        assert row is not None
        traffic.evaluate_segment(session=session, segment=row, now=utcnow())
        session.commit()
        username, code, camera_id = officer.username, factory.totp(officer.username), camera.id

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, live_app.base, username, code)
    page.get_by_role("navigation", name="Main").get_by_text("Traffic", exact=True).first.click()  # its menu
    page.get_by_role("link", name="Traffic", exact=True).click()
    page.wait_for_url(f"{live_app.base}/traffic")
    location = page.get_by_test_id("traffic-location")
    expect(location).to_contain_text("GT Road")
    expect(location.get_by_test_id("location-counts")).to_have_text("2 bus, 6 car")  # both lanes, last hour
    expect(location.get_by_test_id("location-mean-speed")).to_have_text("60.0")
    segment_row = page.locator(f'tr[data-segment="{segment.id}"]')
    expect(segment_row.locator("[data-level]")).to_have_text("free")
    # The map draws the segment, and the location measuring it as a dot, in the segment's level's colour.
    expect(page.locator("path.leaflet-interactive")).to_have_count(2)
    expect(page.locator('path.leaflet-interactive[stroke="#2e7d32"]')).to_have_count(2)

    # The evaluator finds a jam: the map and the table follow without a reload.
    with services.session_factory() as session:
        state = session.get(SegmentState, segment.id)
        assert state is not None
        state.level, state.jammed = "jam", True
        session.commit()
    expect(segment_row.locator("[data-level]")).to_have_text("jam", timeout=10_000)
    expect(page.locator(f'path.leaflet-interactive[stroke="{JAM}"]')).to_have_count(2)

    page.get_by_role("link", name="GT Road").click()
    page.wait_for_url(f"{live_app.base}/traffic/locations/{camera_id}")
    expect(page.get_by_test_id("traffic-count-chart")).to_have_count(2)  # one per lane
    expect(page.get_by_test_id("traffic-count-caption").first).to_contain_text("1 bus, 3 car")
    expect(page.get_by_test_id("traffic-speed-chart")).to_have_count(1)
    caption = page.get_by_test_id("traffic-speed-caption")
    expect(caption).to_contain_text("3 vehicles measured, mean 60.0 km/h")
    expect(caption).to_contain_text("top 72.0 km/h")

    form = page.get_by_test_id("calibration-form")
    form.get_by_label("Distance along the road (m)").fill("25")
    form.get_by_label("Speed limit (km/h, optional)").fill("50")
    form.get_by_role("button", name="Save calibration").click()
    expect(page.get_by_test_id("calibration")).to_contain_text("Entry → Exit: 25.0 m, limit 50.0 km/h")
    located = page.request.get(f"{live_app.base}/api/v1/traffic/locations/{camera_id}").json()
    assert [(c["distance_m"], c["speed_limit_kmh"]) for c in located["calibrations"]] == [(25.0, 50.0)]
    assert uuid.UUID(located["calibrations"][0]["line_a_id"]) == a
    page.close()
