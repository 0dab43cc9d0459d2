"""In Debian's chromium: a person logs in with a password and a TOTP code and reaches the dashboard; stored
names stay text on every map; every page keeps to a CSP with nothing inline."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from conftest import PASSWORD, Factory, serve
from safecity.config import Settings

pytestmark = pytest.mark.browser


@dataclass
class Live:
    url: str
    factory: Factory


@pytest.fixture
def live(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Live]:
    """The application on a database of its own, served by a real uvicorn on a free loopback port.

    A real server answers requests on several threads at once, so it gets real connections, not the
    rolled-back test connection the other tests share.
    """
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        yield Live(app.base, Factory(session, app.services.mfa_box))


def test_first_login_enrols_mfa_then_reaches_the_dashboard(live: Live, chromium: Browser) -> None:
    page = chromium.new_page()
    admin = live.factory.user("admin", username="chief", mfa=False)
    live.factory.user("operator", username="desk", districts=[live.factory.district("PSW")], mfa=False)
    live.factory.session.commit()
    live_url = live.url

    page.goto(f"{live_url}/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid username or password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # An administrator can grant access, so the first login sets up the second factor.
    expect(page).to_have_url(re.compile(r"/mfa/enrol$"))
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.get_by_test_id("mfa-secret").inner_text().strip()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()

    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_text("Administration", exact=True).click()  # the bar's menu of that kind of work
    expect(nav.get_by_role("link", name="Users")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)  # not an auditor

    if shots := os.environ.get("SAFECITY_SCREENSHOTS"):  # for a person to look at the page
        page.screenshot(path=str(Path(shots) / "dashboard.png"), full_page=True)

    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_test_id("users")).to_contain_text("desk")

    # Log out, and the next login asks for a code instead of enrolment.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login/mfa$"))
    next_step = int(time.time()) // 30 + 1  # the enrolment used this step's code: replays are refused
    page.get_by_label("Code").fill(pyotp.TOTP(secret).generate_otp(next_step))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()


# --- stored text stays text, and pages keep to a CSP with nothing inline ---------------------------

# A name as an attacker would store it: markup, a picture from elsewhere and an inline handler.
EVIL = '<img src="https://127.0.0.1:9/pwned.png" onerror="document.title=\'pwned\'"><b id="pwned">x</b>'


@dataclass
class Stored:
    """What one logged-in person stored through the API, in the browser page that stored it."""

    page: Page
    camera_id: str
    incident_id: str


def _log_in_and_store(live: Live, chromium: Browser, name: str) -> Stored:
    """Log a supervisor who also administers in, and store a station, a site, a camera and an incident
    named `name` through the API, with the page's own session."""
    district = live.factory.district("PSW")
    district.name = name  # districts are set up by the administrators of the system
    user = live.factory.user("admin", "supervisor")
    live.factory.session.commit()
    page = chromium.new_page()
    page.goto(f"{live.url}/login")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(live.factory.totp(user.username))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("dashboard-title")).to_be_visible()
    csrf = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]

    def post(path: str, body: dict[str, object]) -> dict[str, object]:
        response = page.request.post(f"{live.url}/api/v1{path}", data=body, headers={"X-CSRF-Token": csrf})
        assert response.status == 201, response.text()
        return dict(response.json())

    place = {"district_id": str(district.id), "name": name}
    post("/stations", {**place, "latitude": 34.01, "longitude": 71.52})
    post("/sites", {**place, "latitude": 34.02, "longitude": 71.56})
    camera = post(
        "/cameras",
        {
            **place,
            "latitude": 34.0,
            "longitude": 71.6,
            "bearing": 90,
            "field_of_view": 60,
            "stream_url": "rtsp://127.0.0.1:9/evil",
        },
    )
    incident = post(
        "/incidents",
        {
            "district_id": str(district.id),
            "category": "fire",
            "title": name,
            "latitude": 34.03,
            "longitude": 71.5,
        },
    )
    return Stored(page, str(camera["id"]), str(incident["id"]))


def _tooltips(page: Page, wanted: str) -> tuple[list[str], int]:
    """Hover every marker of the map: the tooltips' texts, and how many elements with id "pwned" showed.

    Polls until a tooltip holds `wanted`: the console draws its markers again as units report.
    """
    markers = page.locator("path.leaflet-interactive")
    expect(markers.first).to_be_attached()
    texts: list[str] = []
    pwned = 0
    deadline = time.monotonic() + 15
    while not any(wanted in text for text in texts) and time.monotonic() < deadline:
        for i in range(markers.count()):
            markers.nth(i).hover(force=True)  # a tooltip is made when its marker is hovered
            texts += page.locator(".leaflet-tooltip").all_inner_texts()
            pwned += page.locator("#pwned").count()
    return texts, pwned


def test_stored_names_are_shown_as_text_on_every_map(live: Live, chromium: Browser) -> None:
    stored = _log_in_and_store(live, chromium, EVIL)
    page = stored.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # The camera page keeps its map with the details, opened by their link (#settings).
    for path in ("/", "/org/districts", "/cameras", f"/cameras/{stored.camera_id}#settings", "/console"):
        page.goto(f"{live.url}{path}")
        texts, pwned = _tooltips(page, EVIL)
        assert any(EVIL in text for text in texts), (path, texts)  # the name, as it was typed
        assert pwned == 0, path  # and never markup
        assert page.title() != "pwned"
    assert not [url for url in requested if "pwned" in url]  # no picture fetched from the markup


def test_pages_keep_to_a_content_security_policy_with_nothing_inline(live: Live, chromium: Browser) -> None:
    stored = _log_in_and_store(live, chromium, "Chowk Yadgar")
    page = stored.page
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    camera, incident = f"/cameras/{stored.camera_id}", f"/incidents/{stored.incident_id}"
    paths = [
        "/",
        "/cameras",
        camera,
        f"{camera}/analytics",
        f"{camera}/playback",
        "/wall",
        "/console",
        "/alerts",
        "/analytics/events",
        "/incidents",
        "/incidents/new",
        incident,
        "/units",
        "/kpis",
        "/org/districts",
        "/cameras/import",
        "/admin/users",
        "/account",
    ]
    for path in paths:
        response = page.goto(f"{live.url}{path}")
        assert response is not None and response.status == 200, path
        csp = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "style-src 'self';" in csp, (path, csp)
        assert "img-src 'self' data: blob:;" in csp, (path, csp)
        page.wait_for_load_state("load")  # every script has run: htmx, Leaflet, the page's own
        if shots := os.environ.get("SAFECITY_SCREENSHOTS"):  # for a person to look at the pages
            name = path.replace(stored.camera_id, "camera").replace(stored.incident_id, "incident")
            page.screenshot(
                path=str(Path(shots) / f"{name.strip('/').replace('/', '-') or 'home'}.png"), full_page=True
            )
    assert violations == []
