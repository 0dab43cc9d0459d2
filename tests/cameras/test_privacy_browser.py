"""In Debian's chromium: an administrator draws a privacy mask on the camera page; the player's cover holds
it over recorded video for an operator, and for a supervisor who lifted the masks (a lifting clears the live
picture only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import Factory, LiveApp, fits_window, log_in, screenshot, serve
from safecity.cameras.models import Camera
from safecity.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    """The application without cameras running."""
    with serve(settings, db_url, tmp_path) as app:
        yield app


def click_at(page: Page, fx: float, fy: float) -> tuple[float, float]:
    """Click the masks' drawing at a fraction of its size; returns the fractions the click stands for."""
    overlay = page.locator("[data-privacy-overlay]")
    box = overlay.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    x, y = round(fx * box["width"]), round(fy * box["height"])
    overlay.click(position={"x": x, "y": y})
    return x / box["width"], y / box["height"]


@pytest.mark.browser
def test_a_mask_drawn_on_the_camera_page_covers_playback_even_for_whoever_lifted_it(
    live_app: LiveApp, chromium: Browser
) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district = factory.district()
        camera = Camera(
            name="Dalgaran",
            district_id=district.id,
            latitude=34.0,
            longitude=71.57,
            stream_url="rtsp://10.0.0.9/1",
        )
        session.add(camera)
        users = {
            role: factory.user(role, districts=[district]) for role in ("admin", "operator", "supervisor")
        }
        session.commit()
        camera_id = camera.id
        logins = {role: (u.username, factory.totp(u.username)) for role, u in users.items()}

    admin = chromium.new_page(viewport={"width": 1400, "height": 1000})
    log_in(admin, live_app.base, *logins["admin"])
    admin.goto(f"{live_app.base}/cameras/{camera_id}")
    panel = admin.get_by_test_id("privacy")
    panel.locator("summary").click()
    expect(panel.get_by_test_id("mask-list")).to_be_empty()
    corners = [click_at(admin, fx, fy) for fx, fy in ((0.1, 0.1), (0.45, 0.1), (0.45, 0.6), (0.1, 0.6))]
    panel.get_by_role("button", name="Close the shape").click()
    panel.get_by_label("Name of the area").fill("Windows of house 12")
    panel.get_by_role("button", name="Add the area").click()
    panel.get_by_role("button", name="Save masks").click()
    expect(panel.locator("[data-privacy-hint]")).to_have_text("Masks saved.")
    expect(panel.get_by_test_id("mask-list")).to_contain_text("Windows of house 12")
    fits_window(admin, "Save masks", "Add the area")
    screenshot(admin, "privacy-masks-admin")
    (mask,) = admin.request.get(f"{live_app.base}/api/v1/cameras/{camera_id}/privacy-masks").json()["masks"]
    assert mask["name"] == "Windows of house 12"
    for (sx, sy), (cx, cy) in zip(mask["polygon"], corners, strict=True):
        assert abs(sx - cx) < 0.005 and abs(sy - cy) < 0.005

    operator = chromium.new_page(viewport={"width": 1400, "height": 1000})
    log_in(operator, live_app.base, *logins["operator"])
    operator.goto(f"{live_app.base}/cameras/{camera_id}")
    expect(operator.locator("[data-testid=privacy-cover] polygon")).to_have_count(1)
    expect(operator.locator("[data-unmask-form]")).to_have_count(0)
    expect(operator.locator("[data-mask-form]")).to_have_count(0)

    supervisor = chromium.new_page(viewport={"width": 1400, "height": 1000})
    log_in(supervisor, live_app.base, *logins["supervisor"])
    supervisor.goto(f"{live_app.base}/cameras/{camera_id}")
    expect(supervisor.locator("[data-testid=privacy-cover] polygon")).to_have_count(1)
    panel = supervisor.get_by_test_id("privacy")
    panel.locator("summary").click()
    panel.get_by_label("Purpose (FIR, incident, court order)").fill("FIR 341/2026 burglary")
    panel.get_by_label("Minutes").fill("20")
    panel.get_by_role("button", name="Lift the masks for me").click()
    expect(panel.get_by_test_id("lifted")).to_contain_text("Lifted for you in the live picture until")
    expect(supervisor.locator("[data-testid=privacy-cover] polygon")).to_have_count(1)
    screenshot(supervisor, "privacy-masks-lifted")
    operator.reload()
    expect(operator.locator("[data-testid=privacy-cover] polygon")).to_have_count(1)
