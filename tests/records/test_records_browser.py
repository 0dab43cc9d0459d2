"""The investigator's story in chromium: a plate hit on the console opens the owner's record in one click
(the purpose filled from the alert), the record shows FIRs, warrants, vehicles and sightings on its map, a
record found by name asks for its purpose first, and the auditor sees each read with its purpose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import PASSWORD, Factory, fits_window, screenshot, serve
from records.story import Story, build
from safecity.config import Settings

pytestmark = pytest.mark.browser


@dataclass
class Desk:
    url: str
    story: Story


@pytest.fixture
def desk(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[tuple[Desk, Factory]]:
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        factory = Factory(session, app.services.mfa_box)
        district = factory.district("LHR")
        story = build(session, district)
        # A control-room investigator: watches the console and reads records (MFA, as records demand).
        factory.user("investigator", "operator", districts=[district], username="tariq")
        factory.user("auditor", username="audit.rabia")
        session.commit()
        yield Desk(app.base, story), factory
        session.rollback()


def _log_in(browser: Browser, url: str, factory: Factory, username: str) -> Page:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp(username))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    return page


def test_a_plate_hit_opens_the_owners_record_and_the_audit_shows_the_read(
    desk: tuple[Desk, Factory], chromium: Browser
) -> None:
    room, factory = desk
    page = _log_in(chromium, room.url, factory, "tariq")
    page.goto(f"{room.url}/console?alert={room.story.alert_id}")
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_contain_text("LEB1234")
    with page.context.expect_page() as opened:
        detail.get_by_test_id("open-records").click()  # one click
    record = opened.value
    expect(record.get_by_test_id("person-name")).to_contain_text("Muhammad Aslam")
    expect(record.get_by_test_id("read-purpose")).to_contain_text(f"Alert {room.story.alert_id}")
    expect(record.get_by_test_id("person-firs")).to_contain_text("12/2026 PS Gulberg")
    expect(record.locator("[data-testid=person-warrants] [data-state=active]")).to_contain_text("ACTIVE")
    expect(record.locator("[data-testid=person-warrants] [data-state=expired]")).to_have_count(1)
    expect(record.get_by_test_id("person-vehicles")).to_contain_text("LEB-1234")
    expect(record.get_by_test_id("person-sightings")).to_contain_text("Kalma Chowk")
    expect(record.locator("[data-testid=sightings-map] .leaflet-interactive")).to_have_count(
        1
    )  # the read's dot
    expect(record.get_by_test_id("person-name-ur")).to_have_attribute("dir", "rtl")
    fits_window(record)
    screenshot(record, "records-person-from-plate-hit")

    # Found by name, the record asks for the purpose first.
    page.goto(f"{room.url}/records?q=Muhammad")
    page.get_by_test_id("persons").get_by_role("link", name="Muhammad Aslam").click()
    expect(page.get_by_test_id("purpose-form")).to_be_visible()
    expect(page.get_by_test_id("person-name")).to_have_count(0)
    page.get_by_label("Purpose").fill("FIR 12/2026 PS Gulberg")
    page.get_by_role("button", name="Open the record").click()
    expect(page.get_by_test_id("person-firs")).to_contain_text("accused")

    auditor = _log_in(chromium, room.url, factory, "audit.rabia")
    auditor.goto(f"{room.url}/records/persons/{room.story.person_id}/reads")
    reads = auditor.get_by_test_id("reads")
    expect(reads.locator("tbody tr")).to_have_count(2)
    expect(reads).to_contain_text("FIR 12/2026 PS Gulberg")
    expect(reads).to_contain_text(re.compile(rf"Alert {room.story.alert_id}"))
    expect(reads).to_contain_text("tariq")
    screenshot(auditor, "records-who-read")
