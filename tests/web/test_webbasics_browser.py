"""In Debian's chromium at 1366x768 and 1920x1080: errors are pages in the layout with a next step (the API
stays JSON), forms say what is wrong next to the field, the audit log filters with empty dates, shows names,
pages and fits the screen, the events page pages, and passwords are changed and reset as people do it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import PASSWORD, Factory, fits_window, screenshot, serve
from safecity.audit import service as audit
from safecity.auth import sessions
from safecity.cameras.models import Camera
from safecity.config import AuthSettings, Settings
from safecity.events import service as events
from safecity.events.schemas import EventIn

pytestmark = pytest.mark.browser

SIZES = ((1366, 768), (1920, 1080))
NEW_PASSWORD = "a brand new passphrase 42"


@dataclass
class Live:
    url: str
    factory: Factory


@pytest.fixture
def live(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Live]:
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        yield Live(app.base, Factory(session, app.services.mfa_box))


def _shot(page: Page, name: str) -> None:
    size = page.viewport_size or {"width": 0, "height": 0}
    screenshot(page, f"{name}-{size['width']}")


def _log_in(page: Page, live: Live, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))
    if page.url.endswith("/login/mfa"):
        page.get_by_label("Code").fill(live.factory.totp(username))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(lambda url: "/login" not in url)


def test_errors_are_pages_with_a_next_step_and_forms_mark_their_fields(live: Live, chromium: Browser) -> None:
    user = live.factory.user("operator", districts=[live.factory.district()], mfa=False)
    live.factory.session.commit()
    page = chromium.new_page()
    _log_in(page, live, user.username)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live.url}/no/such/page")
        error = page.get_by_test_id("error-page")
        expect(error).to_contain_text("Not found")
        expect(page.get_by_test_id("next-steps")).to_contain_text("Check the address")
        expect(page.get_by_test_id("error-code")).to_contain_text("not_found")
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # in the layout, logged in
        fits_window(page)
        _shot(page, "error-404")

        page.goto(f"{live.url}/audit")
        expect(page.get_by_test_id("error-page")).to_contain_text("You may not do this")
        expect(page.get_by_test_id("next-steps")).to_contain_text(
            "Ask an administrator for the permission 'audit.read'"
        )
        _shot(page, "error-403")

        api = page.request.get(f"{live.url}/api/v1/audit")
        assert api.status == 403 and api.json()["error"]["code"] == "permission_denied"
        missing = page.request.get(f"{live.url}/api/v1/no-such-thing", headers={"Accept": "text/html"})
        assert missing.status == 404 and missing.json()["error"]["code"] == "not_found"

        # The browser's own checks, shown next to the fields, before anything is sent.
        page.goto(f"{live.url}/account/password")
        page.get_by_role("button", name="Change password").click()
        current = page.get_by_label("Current password")
        expect(current).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".field-error").first).to_be_visible()
        current.fill("not my password")
        expect(current).not_to_have_attribute("aria-invalid", "true")
        page.locator("input[name=new_password]").fill(NEW_PASSWORD)
        page.locator("input[name=repeat_password]").fill(NEW_PASSWORD + "!")
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("the two entries are not the same")).to_be_visible()
        # The server's verdict on a field (a 422 with details) lands next to that field.
        page.locator("input[name=repeat_password]").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("the current password is not right").first).to_be_visible()
        expect(current).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#flash")).to_contain_text("bad_password")
        fits_window(page)
        _shot(page, "form-errors")


def test_the_audit_log_filters_names_pages_andfits_window(live: Live, chromium: Browser) -> None:
    f = live.factory
    a, b = f.district("AUDA"), f.district("AUDB")
    ours = f.user("operator", districts=[a], mfa=False, username="nadia.khan")
    ours.full_name = "Nadia Khan"
    theirs = f.user("operator", districts=[b], mfa=False, username="bilal.b")
    auditor = f.user("auditor", districts=[a], username="district.auditor")
    camera = Camera(
        name="Chowk Yadgar North",
        district_id=a.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://10.0.0.9/1",
    )
    f.session.add(camera)
    f.session.flush()
    for n in range(70):
        audit.record(
            session=f.session,
            action="cameras.view",
            outcome="success",
            object_type="camera",
            object_id=str(camera.id),
            district_id=a.id,
            purpose=f"checking the junction after a reported accident, case {n} " + "with a long note " * 4,
            detail={"reason": "x" * 200, "n": n},
        )
    for user in (ours, theirs):  # logins carry no district
        sessions.login(session=f.session, policy=AuthSettings(), username=user.username, password=PASSWORD)
    f.session.commit()

    page = chromium.new_page()
    _log_in(page, live, auditor.username)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live.url}/audit")
        filters = page.get_by_test_id("audit-filters")
        filters.get_by_label("From").fill("")
        filters.get_by_label("To").fill("")
        filters.get_by_role("button", name="Filter").click()
        expect(page.get_by_test_id("audit-entries")).to_be_visible()
        entries = page.get_by_test_id("audit-entries")
        expect(entries).to_contain_text("Nadia Khan (nadia.khan)")  # a login of a user of the district
        expect(entries).not_to_contain_text("bilal.b")
        expect(entries.get_by_role("link", name="Chowk Yadgar North").first).to_be_visible()
        expect(page.get_by_test_id("audit-count").first).to_contain_text(
            re.compile(r"Entries 1 to 50 of \d+")
        )
        fits_window(page)
        _shot(page, "audit")

        page.get_by_role("link", name="Older →").first.click()
        # Each read is itself audited, so the log has grown by one entry in the meantime.
        expect(page.get_by_test_id("audit-count").first).to_contain_text(re.compile(r"Entries 52 to \d+ of"))
        fits_window(page)
        page.get_by_role("link", name="← Newer").first.click()
        expect(page.get_by_test_id("audit-count").first).to_contain_text(re.compile(r"Entries 3 to 52 of"))

        filters = page.get_by_test_id("audit-filters")
        filters.get_by_label("Object").fill("chowk yadgar north")
        filters.get_by_label("From").fill(dt.datetime.now(ZoneInfo("Asia/Karachi")).date().isoformat())
        filters.get_by_role("button", name="Filter").click()
        expect(page.get_by_test_id("audit-count").first).to_contain_text("of 70")


def test_the_events_page_pages(live: Live, chromium: Browser) -> None:
    f = live.factory
    district = f.district()
    camera = Camera(
        name="Hashtnagri",
        district_id=district.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://10.0.0.9/1",
    )
    f.session.add(camera)
    f.session.flush()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    events.record_many(
        session=f.session,
        events=[
            EventIn(
                id=uuid.uuid4(),
                occurred_at=start + dt.timedelta(seconds=n),
                kind="analytics.line_crossing",
                source="analytics",
                district_id=district.id,
                camera_id=camera.id,
                payload={"camera_name": camera.name, "rule_name": f"Line {n}"},
            )
            for n in range(120)
        ],
    )
    user = f.user("operator", districts=[district], mfa=False)
    f.session.commit()
    page = chromium.new_page()
    _log_in(page, live, user.username)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live.url}/analytics/events?camera_id={camera.id}")
        rows = page.locator("table.events tbody tr")
        expect(rows).to_have_count(50)
        expect(rows.first).to_contain_text("Line 119")
        page.get_by_role("link", name="Older →").first.click()
        expect(rows).to_have_count(50)
        expect(rows.first).to_contain_text("Line 69")
        assert f"camera_id={camera.id}" in page.url  # the filter stays
        page.get_by_role("link", name="Older →").first.click()
        expect(rows).to_have_count(20)
        expect(page.get_by_role("link", name="Older →")).to_have_count(0)
        _shot(page, "events-last-page")
        page.get_by_role("link", name="← Newer").first.click()
        expect(rows.first).to_contain_text("Line 69")


def test_a_user_changes_their_password_and_an_admin_reset_forces_a_change(
    live: Live, chromium: Browser
) -> None:
    f = live.factory
    district = f.district()
    user = f.user("operator", districts=[district], mfa=False, username="asma.desk")
    admin = f.user("admin", username="chief.admin")
    f.session.commit()

    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    _log_in(page, live, user.username)
    page.goto(f"{live.url}/account")
    page.get_by_test_id("change-password-link").click()
    page.get_by_label("Current password").fill(PASSWORD)
    page.locator("input[name=new_password]").fill(NEW_PASSWORD)
    page.locator("input[name=repeat_password]").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#flash")).to_contain_text("Your password is changed")
    _shot(page, "password-changed")
    page.get_by_role("button", name="Log out").click()
    _log_in(page, live, user.username, NEW_PASSWORD)
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    page.close()

    boss = chromium.new_page(viewport={"width": 1920, "height": 1080})
    boss.on("dialog", lambda dialog: dialog.accept())
    _log_in(boss, live, admin.username)
    boss.goto(f"{live.url}/admin/users")
    row = boss.get_by_test_id("users").locator("tr", has_text=user.username)
    row.locator("summary").click()
    row.get_by_role("button", name="Reset password").click()
    temporary = boss.get_by_test_id("temporary-password").inner_text().strip()
    assert len(temporary) >= 12
    fits_window(boss)
    _shot(boss, "password-reset")

    page = chromium.new_page(viewport={"width": 1920, "height": 1080})
    _log_in(page, live, user.username, temporary)
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.get_by_test_id("password-change-required")).to_be_visible()
    page.goto(f"{live.url}/alerts")  # nothing else opens until the password is changed
    expect(page).to_have_url(re.compile(r"/account/password$"))
    api = page.request.get(f"{live.url}/api/v1/alerts")
    assert api.status == 403 and api.json()["error"]["code"] == "password_change_required"
    _shot(page, "password-forced")
    page.get_by_label("Current password").fill(temporary)
    page.locator("input[name=new_password]").fill("another good passphrase")
    page.locator("input[name=repeat_password]").fill("another good passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    page.goto(f"{live.url}/alerts")
    expect(page).to_have_url(re.compile(r"/alerts$"))
