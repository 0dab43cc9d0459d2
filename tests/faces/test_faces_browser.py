"""An investigator in chromium starts a missing-persons watchlist, puts a person of the records on it by
CNIC and enrols two photos at once: the one with a face is enrolled with its quality, the one without is
refused with its reason, and the enrolled face shows on the watchlist (through the audited route).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from faces_data import astronaut_jpeg, coffee_jpeg, place
from playwright.sync_api import Browser, expect

from conftest import PASSWORD, Factory, fits_window, screenshot, serve
from safecity.config import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[tuple[str, Factory]]:
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        factory = Factory(session, app.services.mfa_box)
        district = factory.district("LHR")
        place(session, district)
        factory.user("investigator", districts=[district], username="sana")
        session.commit()
        yield app.base, factory
        session.rollback()


def test_an_investigator_enrols_photos_through_the_page(desk: tuple[str, Factory], chromium: Browser) -> None:
    url, factory = desk
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill("sana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp("sana"))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()

    page.goto(f"{url}/faces")
    form = page.locator("#watchlist-form")
    form.get_by_label("Name").fill("Missing children, Lahore")
    form.get_by_label("Kind").select_option("missing")
    form.get_by_label("Legal basis").fill("Missing person reports under Police Order 2002")
    form.get_by_label("Review on").fill((dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat())
    form.get_by_role("button", name="Create watchlist").click()
    expect(page.get_by_test_id("watchlist-state")).to_have_text("active")

    entry_form = page.locator("#entry-form")
    entry_form.get_by_label("CNIC or record number").fill("35202-7654321-3")
    entry_form.get_by_label("Reason").fill("Reported missing on 4 Dec 2026")
    entry_form.get_by_role("button", name="Add person").click()
    entry = page.get_by_test_id("entry")
    expect(entry).to_contain_text("Eileen Collins")
    expect(entry.get_by_test_id("enrolled")).to_have_text("0 photos enrolled")

    entry.locator("input[type=file]").set_input_files(
        [
            {"name": "eileen.jpg", "mimeType": "image/jpeg", "buffer": astronaut_jpeg()},
            {"name": "cup.jpg", "mimeType": "image/jpeg", "buffer": coffee_jpeg()},
        ]
    )
    entry.get_by_role("button", name="Enrol photos").click()
    report = entry.get_by_test_id("quality-report")
    expect(report.locator("tr[data-code=accepted]")).to_contain_text("eileen.jpg")
    expect(report.locator("tr[data-code=no_face]")).to_contain_text("no face was found")
    expect(entry.get_by_test_id("enrol-report")).to_contain_text("1 of 2 enrolled")
    screenshot(page, "faces-enrolment-report")

    page.reload()
    entry = page.get_by_test_id("entry")
    expect(entry.get_by_test_id("enrolled")).to_have_text("1 photo enrolled")
    face = entry.locator("img[alt='enrolled face']")
    expect(face).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth === 150", arg=face.element_handle())
    fits_window(page)
