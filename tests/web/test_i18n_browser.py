"""In Debian's chromium at 1366x768 and 1920x1080: an operator switches the interface to Urdu on the account
page, and the account, incident list, call-taker form and login pages render right to left in Urdu, in the
served Urdu font, with nothing running off the side; the citizen portal in Urdu as well."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from analytics.test_rule_editor_browser import log_in
from conftest import Factory, LiveApp, fits_window, screenshot, serve
from safecity.config import Settings
from safecity.incidents import service as incidents

pytestmark = pytest.mark.browser

SIZES = [(1366, 768), (1920, 1080)]


@pytest.fixture
def live(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


def _right_to_left(page: Page) -> None:
    """The page is Urdu, right to left, set in the served Urdu font, and the brand sits at the right."""
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "ur")
    expect(html).to_have_attribute("dir", "rtl")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    loaded = page.evaluate(
        "document.fonts.ready.then(() => [...document.fonts].filter("
        "f => f.family.replaceAll('\"', '') === 'safecity urdu' && f.status === 'loaded').length)"
    )
    assert loaded >= 1, "the Urdu font did not load"
    brand = page.locator(".topbar .brand").bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert brand is not None and brand["x"] > width / 2, brand  # the start of a right-to-left line


def _shot(page: Page, name: str, size: tuple[int, int]) -> None:
    screenshot(page, f"{name}-{size[0]}x{size[1]}")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_an_operator_switches_to_urdu_and_the_pages_turn_right_to_left(
    live: LiveApp, chromium: Browser, size: tuple[int, int]
) -> None:
    with live.services.session_factory() as session:
        factory = Factory(session, live.services.mfa_box)
        district = factory.district("PSW")
        desk = factory.user("operator", districts=[district])
        incidents.create_incident(
            session=session,
            principal=factory.principal(desk),
            data=incidents.validate_incident(
                category="street_crime", priority=1, address="Saddar Road", caller_phone="0300 1234567"
            ),
        )
        session.commit()
        username, code = desk.username, factory.totp(desk.username)

    page = chromium.new_page(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    log_in(page, live.base, username, code)  # in English: the browser asks for it
    page.goto(f"{live.base}/account")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.get_by_label("Language of the interface").select_option("ur")
    page.get_by_role("button", name="Save").click()

    # The account page reloads in Urdu, right to left, with the menu in Urdu.
    expect(page.get_by_role("heading", name="میرا اکاؤنٹ")).to_be_visible()
    _right_to_left(page)
    nav = page.get_by_role("navigation", name="مرکزی")
    expect(nav.get_by_role("link", name="ڈیش بورڈ", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Incidents", exact=True)).to_have_count(0)
    expect(page.get_by_label("انٹرفیس کی زبان")).to_have_value("ur")
    fits_window(page, "محفوظ کریں", "لاگ آؤٹ")
    _shot(page, "account-ur", size)

    # The incident list: Urdu headings and labels; the number and the time stay left to right.
    nav.get_by_text("ردعمل", exact=True).click()  # the menu of the response's pages
    nav.get_by_role("link", name="واقعات", exact=True).click()
    page.wait_for_url(f"{live.base}/incidents")
    _right_to_left(page)
    table = page.get_by_test_id("incidents")
    expect(table.locator("th").first).to_have_text("ترجیح")
    row = table.locator("tr.incident").first
    expect(row).to_contain_text("P1 انتہائی نازک")
    expect(row).to_contain_text("اسٹریٹ کرائم")
    expect(row).to_contain_text("نیا")
    assert row.locator("bdi[dir=ltr]").inner_text().strip()  # the incident number
    fits_window(page, "فلٹر کریں")
    _shot(page, "incidents-ur", size)

    # The call-taker's form.
    nav = page.get_by_role("navigation", name="مرکزی")
    nav.get_by_text("ردعمل", exact=True).click()
    nav.get_by_role("link", name="کال درج کریں", exact=True).click()
    page.wait_for_url(f"{live.base}/incidents/new")
    _right_to_left(page)
    expect(page.get_by_label("پتہ یا نمایاں مقام")).to_be_visible()
    expect(page.get_by_label("فون")).to_have_attribute("dir", "ltr")
    fits_window(page, "واقعہ درج کریں")
    _shot(page, "new-incident-ur", size)

    # Logging out leads to the login page in Urdu (the choice is remembered on this browser too).
    page.get_by_role("button", name="لاگ آؤٹ").click()
    page.wait_for_url(f"{live.base}/login")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", name="لاگ ان کریں")).to_be_visible()
    fits_window(page, "لاگ ان کریں")
    _shot(page, "login-ur", size)
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    # The citizen portal in Urdu, as before: right to left, in Nastaliq.
    page.goto(f"{live.base}/portal?lang=ur")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", name="اپنے چالان تلاش کریں")).to_be_visible()
    nastaliq = page.evaluate(
        "document.fonts.ready.then(() => [...document.fonts].filter("
        "f => f.family.replaceAll('\"', '') === 'safecity nastaliq' && f.status === 'loaded').length)"
    )
    assert nastaliq >= 1
    fits_window(page, "چالان تلاش کریں")
    _shot(page, "portal-ur", size)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_longest_menu_wraps_in_urdu_instead_of_running_off_the_side(
    live: LiveApp, chromium: Browser, size: tuple[int, int]
) -> None:
    """An administrator who is also a supervisor and an auditor sees most of the menu, kept in Urdu."""
    with live.services.session_factory() as session:
        factory = Factory(session, live.services.mfa_box)
        chief = factory.user("admin", "supervisor", "auditor", "traffic_officer")
        chief.language = "ur"  # chosen earlier, on another day
        session.commit()
        username, code = chief.username, factory.totp(chief.username)

    page = chromium.new_page(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    log_in(page, live.base, username, code)
    page.goto(f"{live.base}/account")
    _right_to_left(page)
    nav = page.get_by_role("navigation", name="مرکزی")
    width = size[0]
    # Each menu of the bar, opened, shows its links inside the window (the last ones open towards the middle).
    for menu in nav.locator("summary").all():
        menu.click()
        shown = [link for link in nav.get_by_role("link").all() if link.is_visible()]
        for box in (link.bounding_box() for link in shown):
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    page.keyboard.press("Escape")  # closes the last one
    nav.get_by_text("انتظامیہ", exact=True).click()
    expect(nav.get_by_role("link", name="آڈٹ لاگ", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="صارفین", exact=True)).to_be_visible()
    fits_window(page, "محفوظ کریں", "لاگ آؤٹ")
    _shot(page, "account-ur-long-menu", size)
