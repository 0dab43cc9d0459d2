"""In Debian's chromium: a stolen car's plate is read, the alert reaches the open console, the operator checks
the crop against the listed plate, confirms the hit and opens an incident in one click.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hotlist_data import message, sighting_in, store
from sqlalchemy import select

from conftest import PASSWORD, Factory, LiveApp, serve, wait_until
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import HitStatus, HotlistHit, ListKind, MatchMode
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn
from safecity.cameras.models import Camera
from safecity.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_a_stolen_plate_is_alerted_confirmed_and_opened_as_an_incident(
    live_app: LiveApp, chromium: Browser
) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district = factory.district()
        camera = Camera(
            name="Firdous Chowk",
            district_id=district.id,
            latitude=34.0045,
            longitude=71.5437,
            stream_url="rtsp://10.0.0.7/1",
        )
        session.add(camera)
        keeper = factory.principal(factory.user("supervisor", districts=[district]))
        hotlist = hotlists.create_hotlist(
            session=session,
            principal=keeper,
            data=HotlistIn(
                kind=ListKind.STOLEN,
                name="Stolen vehicles PS Gulberg",
                agency="PS Gulberg",
                instructions="Do not stop alone; inform PS Gulberg",
                match_mode=MatchMode.FUZZY,
            ),
        )
        hotlists.add_entry(
            session=session,
            principal=keeper,
            hotlist_id=hotlist.id,
            data=EntryIn(plate="LEB-1234", reason="snatched at gunpoint", reference="FIR 311/2026"),
        )
        desk = factory.user("operator", districts=[district], username="hotlist-desk")
        session.commit()
        camera_id, district_id, code = camera.id, district.id, factory.totp(desk.username)

    page = chromium.new_page()
    page.goto(f"{live_app.base}/login")
    page.get_by_label("Username").fill("hotlist-desk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_app.base}/console")
    expect(page.get_by_test_id("feed-state")).to_have_text("Live")

    # The camera reads the stolen car's plate; the pipeline stores the sighting and publishes it.
    with services.session_factory() as session:
        seen = store(
            session,
            sighting_in("LEB1234", camera_id=camera_id, district_id=district_id),
            services.settings.snapshots_dir,
        )
    live_app.publish(*message(seen))
    row = page.locator("tr.alert", has_text="LEB1234")
    expect(row).to_be_visible(timeout=2000)  # the read reaches the operator's screen within 2 s
    expect(row).to_contain_text("Stolen vehicles PS Gulberg")

    # The alert's detail on the console: the plate crop, the listed plate, what to do, and the hit.
    row.get_by_text("Stolen vehicle LEB1234").click()
    crop = page.get_by_test_id("hit-crop")
    expect(crop).to_be_visible()
    wait_until(lambda: crop.evaluate("img => img.complete && img.naturalWidth > 0"), within=5)
    expect(page.locator("[data-selected]")).to_contain_text("Do not stop alone; inform PS Gulberg")
    page.get_by_role("link", name="Review the hit").click()

    # The hit page: the crop beside the listed plate; the operator confirms it, then opens an incident.
    expect(page.get_by_test_id("listed-plate")).to_have_text("LEB1234")
    wait_until(lambda: page.get_by_test_id("hit-crop").evaluate("img => img.naturalWidth > 0"), within=5)
    page.get_by_role("button", name="Confirm: the crop shows this plate").click()
    expect(page.get_by_test_id("hit-status")).to_have_text("confirmed")
    page.get_by_role("button", name="Open incident").click()
    page.wait_for_url(re.compile(r"/incidents/[0-9a-f-]{36}$"))
    details = page.get_by_test_id("details")
    expect(details).to_contain_text("LEB1234")
    expect(details).to_contain_text("Stolen vehicles PS Gulberg")
    expect(details).to_contain_text("Firdous Chowk")
    expect(page.locator("h1")).to_contain_text("Stolen vehicle LEB1234 seen at Firdous Chowk")

    with services.session_factory() as session:
        hit = session.scalars(select(HotlistHit).where(HotlistHit.sighting_id == seen.id)).one()
        assert (hit.status, hit.handled_by_name) == (HitStatus.CONFIRMED, "hotlist-desk")
        assert hit.incident_id is not None and page.url.endswith(str(hit.incident_id))
