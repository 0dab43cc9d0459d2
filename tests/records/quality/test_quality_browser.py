"""The data-quality pages in Debian's chromium: an administrator checks a CSV file of persons, then imports
it; an investigator finds the two records of one man side by side, merges them, and undoes the merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import PASSWORD, Factory, fits_window, screenshot, serve
from records.quality.people import add_person
from safecity.auth.models import User
from safecity.config import Settings


def _log_in(browser: Browser, base: str, factory: Factory, user: User) -> Page:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp(user.username))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("username")).to_have_text(user.username)
    return page


@pytest.mark.browser
def test_import_then_merge_and_undo_in_a_browser(
    db_url: str, tmp_path: Path, settings: Settings, chromium: Browser
) -> None:
    with serve(settings, db_url, tmp_path) as live:
        with live.services.session_factory() as session:
            factory = Factory(session, live.services.mfa_box)
            district = factory.district()
            admin = factory.user("admin")
            investigator = factory.user("investigator", districts=[district])
            add_person(
                session, district.id, name="Gul Khan", father_name="Sher Khan", date_of_birth="1985-03-01"
            )
            session.commit()
        csv = tmp_path / "prisons.csv"
        csv.write_text(
            "cnic,name,father_name,date_of_birth\n"
            "17301-1111111-1,gul  KHAN,sher khan,1985-03-01\n"
            "1730111,Bad Cnic,,\n",
            encoding="utf-8",
        )

        page = _log_in(chromium, live.base, factory, admin)
        expect(page.locator('a[href="/records/quality/imports"]')).to_have_count(1)
        page.goto(f"{live.base}/records/quality/imports")
        form = page.get_by_test_id("import-form")
        form.get_by_label("CSV file").set_input_files(str(csv))
        form.get_by_role("button", name="Import").click()
        report = page.get_by_test_id("import-report")
        expect(report).to_contain_text("2 rows checked")
        expect(report).to_contain_text("cnic: a CNIC is 13 digits")
        form.get_by_label("check only (dry run)").uncheck()
        form.get_by_role("button", name="Import").click()
        expect(report).to_contain_text("Nothing was imported: 1 bad rows of 2")
        csv.write_text(csv.read_text(encoding="utf-8").replace("1730111,Bad Cnic,,\n", ""), encoding="utf-8")
        form.get_by_label("CSV file").set_input_files(str(csv))
        form.get_by_role("button", name="Import").click()
        expect(report).to_contain_text("1 persons imported (1 new, 0 updated)")
        fits_window(page, "Import")
        screenshot(page, "records-import")

        page = _log_in(chromium, live.base, factory, investigator)
        expect(page.locator('a[href="/records/quality/duplicates"]')).to_have_count(1)
        page.goto(f"{live.base}/records/quality/duplicates")
        proposal = page.get_by_test_id("proposal")
        expect(proposal).to_have_count(1)
        expect(proposal).to_contain_text("import:prisons.csv")  # where the second record's values came from
        expect(proposal).to_contain_text("own:")
        screenshot(page, "records-duplicates")
        merge = proposal.get_by_test_id("merge-form").first
        merge.get_by_label("Reason").fill("one man: same father, same birthday, CNIC from prisons")
        merge.get_by_role("button").click()
        expect(page.get_by_test_id("no-proposals")).to_be_visible()
        merges = page.get_by_test_id("merges")
        expect(merges).to_contain_text("one man: same father")
        page.get_by_placeholder("why undo").fill("prisons confirm two brothers")
        page.get_by_role("button", name="Undo").click()
        expect(page.get_by_test_id("proposal")).to_have_count(1)
        expect(page.get_by_test_id("merges")).to_contain_text("prisons confirm two brothers")
        fits_window(page)
