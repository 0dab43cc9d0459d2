"""In chromium: an investigator types a misspelt name in Urdu script into the header's search box, presses
Enter, sees the ranked hits with why they matched, and clicks through to the record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from analytics.test_rule_editor_browser import log_in
from conftest import Factory, LiveApp, serve
from safecity.config import Settings
from safecity.records import service as records
from safecity.records.schemas import PersonIn

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


def test_header_search_in_urdu_leads_to_ranked_hits_and_the_record(
    live_app: LiveApp, chromium: Browser
) -> None:
    with live_app.services.session_factory() as session:
        factory = Factory(session, live_app.services.mfa_box)
        lahore, multan = factory.district("LHR"), factory.district("MUL")
        factory.user("investigator", districts=[lahore], username="inv")
        factory.user("operator", districts=[lahore], username="desk")
        for district, name, name_ur in (
            (lahore, "Muhammad Hussain", "محمد حسین"),
            (lahore, "Muhammad Hassan", ""),
            (multan, "Mohammad Husain", ""),
        ):
            records.add_person(
                session=session,
                data=PersonIn(name=name, name_ur=name_ur, father_name="Ghulam Rasool"),
                district_id=district.id,
                source="own:test",
            )
        session.commit()

    page = chromium.new_page()
    log_in(page, live_app.base, "desk", factory.totp("desk"))
    expect(page.get_by_test_id("records-search")).to_have_count(0)  # no records.read, no box

    page = chromium.new_page()
    log_in(page, live_app.base, "inv", factory.totp("inv"))
    box = page.get_by_role("searchbox", name="Search records")
    expect(box).to_have_attribute("dir", "auto")
    box.fill("محمد حسين")  # Arabic yeh, as an Arabic keyboard types it
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/records/search\?q="))
    hits = page.get_by_test_id("search-hit")
    expect(hits).to_have_count(2)
    expect(hits.first).to_contain_text("Muhammad Hussain · محمد حسین")
    expect(hits.first).to_contain_text("name ~ محمد حسین (Urdu script)")
    expect(page.get_by_test_id("search-elsewhere")).to_contain_text("1 more in other districts")
    expect(page.get_by_test_id("search-results")).not_to_contain_text("Mohammad Husain")
    hits.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/records/persons/[0-9a-f-]{36}$"))
