"""In Debian's chromium at 1366x768 and 1920x1080: an operator who chose Urdu (users.language = "ur") works
the control room in it. The console, an incident, a camera page and the video wall render right to left with
Urdu headings, buttons and texts the page scripts write (the live feed's state, the queue count), numbers and
times left to right, nothing running off the side and the key buttons inside the window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from analytics.test_rule_editor_browser import log_in
from conftest import Factory, LiveApp, fits_window, screenshot, serve
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.events.alerts import service as alerts
from safecity.events.models import Severity
from safecity.incidents import service as incidents

pytestmark = pytest.mark.browser

SIZES = [(1366, 768), (1920, 1080)]


@pytest.fixture
def live(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


def _right_to_left(page: Page, heading: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "ur")
    expect(html).to_have_attribute("dir", "rtl")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()


def _shot(page: Page, name: str, size: tuple[int, int]) -> None:
    screenshot(page, f"{name}-{size[0]}x{size[1]}", full_page=False)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_an_operator_in_urdu_works_the_console_an_incident_a_camera_and_the_wall(
    live: LiveApp, chromium: Browser, size: tuple[int, int]
) -> None:
    with live.services.session_factory() as session:
        factory = Factory(session, live.services.mfa_box)
        district = factory.district("PSW")
        desk = factory.user("operator", districts=[district])
        desk.language = "ur"
        camera = Camera(
            name="Hashtnagri Gate",
            district_id=district.id,
            latitude=34.0119,
            longitude=71.5756,
            stream_url="rtsp://127.0.0.1:1/none",
        )
        session.add(camera)
        session.flush()
        for i, severity in enumerate((Severity.CRITICAL, Severity.HIGH, Severity.LOW)):
            alerts.raise_alert(
                session=session,
                kind="analytics.loitering",
                severity=severity,
                title=f"Loitering by the northern wall ({i})",
                source="analytics",
                camera_id=camera.id,
            )
        incident = incidents.create_incident(
            session=session,
            principal=factory.principal(desk),
            data=incidents.validate_incident(
                category="street_crime", priority=1, address="Saddar Road", caller_phone="0300 1234567"
            ),
        )
        session.commit()
        username, code = desk.username, factory.totp(desk.username)
        incident_id, number = incident.id, incident.number

    page = chromium.new_page(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    log_in(page, live.base, username, code)  # the login form follows the browser (English), then her choice

    # The console: the queue, the settings and the shortcuts in Urdu; the feed state and count written by
    # the page's scripts in Urdu too.
    page.goto(f"{live.base}/console")
    _right_to_left(page, "آپریٹر کنسول")
    expect(page.get_by_test_id("feed-state")).to_have_text("براہ راست")
    expect(page.get_by_test_id("queue-count")).to_contain_text("نئے")
    queue = page.get_by_test_id("alerts")
    expect(queue.locator("th").first).to_have_text("شدت")
    expect(queue.locator("tr.alert").first.locator(".sev")).to_have_text("انتہائی سنگین")
    expect(page.get_by_role("heading", name="نقشہ")).to_be_visible()
    fits_window(page, "وصولی کی تصدیق", "مسترد کریں", "ویڈیو الگ ونڈو میں")
    queue.locator("tr.alert").first.click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_role("button", name="واقعہ درج کریں")).to_be_visible()
    expect(detail.get_by_test_id("alert-state")).to_have_text("نیا، ابھی تصدیق نہیں ہوئی")
    fits_window(page, "وصولی کی تصدیق", "واقعہ درج کریں")
    _shot(page, "console-ur", size)
    page.keyboard.press("?")
    expect(page.get_by_role("heading", name="کی بورڈ شارٹ کٹ")).to_be_visible()
    page.get_by_role("button", name="بند کریں").click()

    # An incident: the SOP checklist, status change, units and timeline in Urdu; its number left to right.
    page.goto(f"{live.base}/incidents/{incident_id}")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    title = page.get_by_role("heading", level=1)
    expect(title).to_contain_text("P1 انتہائی نازک")
    expect(title.locator("bdi[dir=ltr]")).to_have_text(number)
    for heading in ("تفصیلات", "SOP چیک لسٹ", "حالت تبدیل کریں", "یونٹس", "ٹائم لائن"):
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("نیا")
    expect(page.get_by_test_id("sop-state").first).to_have_text("مکمل نہیں")
    expect(page.get_by_test_id("assignments")).to_contain_text("ابھی کوئی یونٹ نہیں بھیجا گیا")
    fits_window(page, "حالت تبدیل کریں", "ترجیح مقرر کریں", "نوٹ شامل کریں")
    _shot(page, "incident-ur", size)

    # The camera page: live, instant replay, the timeline and export in Urdu; the clock left to right.
    page.goto(f"{live.base}/cameras/{camera.id}")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", name="Hashtnagri Gate", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="فوری ری پلے (30 سیکنڈ)")).to_be_visible()
    expect(page.get_by_role("region", name="ٹائم لائن")).to_be_visible()
    expect(page.get_by_role("heading", name="یہاں کے واقعات")).to_be_visible()
    expect(page.get_by_test_id("clock")).to_have_attribute("dir", "ltr")
    fits_window(page, "براہ راست", "فوری ری پلے (30 سیکنڈ)", "پوری اسکرین", "ابھی", "چلائیں")
    _shot(page, "camera-ur", size)

    # The wall: layouts, saved layouts, full screen in Urdu; the tiles inside the window.
    page.goto(f"{live.base}/wall")
    _right_to_left(page, "ویڈیو وال")
    expect(page.get_by_role("button", name="4 خانے")).to_be_visible()
    expect(page.get_by_role("group", name="محفوظ لے آؤٹ")).to_be_visible()
    fits_window(page, "4 خانے", "لے آؤٹ محفوظ کریں", "پوری اسکرین")
    width = size[0]
    for box in page.locator("figure.tile:not([hidden])").evaluate_all(
        "tiles => tiles.map(t => { const r = t.getBoundingClientRect(); return [r.left, r.right]; })"
    ):
        assert box[0] >= 0 and box[1] <= width, box
    _shot(page, "wall-ur", size)
    page.close()
