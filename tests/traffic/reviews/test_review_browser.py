"""In Debian's chromium: a traffic officer opens the review queue, sees a violation's evidence side by side
(frames, plate crop, the clip playing in a <video>, the read character by character, the signal state),
confirms it, and sees the registry check's result; the page breaks no rule of the CSP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from review_world import make_camera, make_rule, make_violation, register

from analytics.test_rule_editor_browser import log_in
from conftest import Factory, LiveApp, serve
from safecity.config import Settings
from safecity.traffic.reviews import service as reviews
from safecity.traffic.violations.models import Violation, ViolationStatus

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_an_officer_confirms_a_violation_in_chromium(live_app: LiveApp, chromium: Browser) -> None:
    from playwright.sync_api import expect

    services = live_app.services
    with services.session_factory() as session:
        factory = Factory(session, services.mfa_box)
        district = factory.district()
        camera = make_camera(session, district, "Saddar Chowk")
        register(session, "LEA1234", vehicle_class="car", colour="Pearl White")
        violation = make_violation(
            session,
            camera,
            services.settings.evidence_dir,
            plate_read="LEA1234",
            confidence=0.96,
            vehicle_class="car",
            colour="white",
            rule=make_rule(session, camera, "Red light Saddar"),
        )
        officer = factory.user("traffic_officer", districts=[district])
        session.commit()
        username, code, violation_id = officer.username, factory.totp(officer.username), violation.id

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", on_console)
    log_in(page, live_app.base, username, code)
    page.get_by_role("navigation", name="Main").get_by_text("Traffic", exact=True).first.click()  # its menu
    page.get_by_role("link", name="Review violations").click()
    page.wait_for_url(f"{live_app.base}/traffic/review")
    row = page.locator(f'tr[data-violation="{violation_id}"]')
    expect(row).to_contain_text("Saddar Chowk")
    expect(row).to_contain_text("LEA1234")
    row.get_by_role("link").click()
    page.wait_for_url(f"{live_app.base}/traffic/review/{violation_id}")

    # The evidence, side by side: every frame and the crop decoded, the clip playable.
    for role in ("before", "at", "after", "plate"):
        frame = page.get_by_test_id(f"frame-{role}")
        expect(frame).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=frame.element_handle())
    clip = page.get_by_test_id("clip")
    page.wait_for_function(
        "(video) => video.readyState >= 1 && video.duration > 1", arg=clip.element_handle()
    )
    assert clip.evaluate("(video) => [video.videoWidth, video.videoHeight]") == [320, 240]
    expect(page.get_by_test_id("plate-read")).to_have_text("LEA1234")
    expect(page.locator(".plate-read .char.doubtful")).to_have_count(1)  # the "1" read 55% sure
    expect(page.get_by_test_id("read-confidence")).to_have_text("96% sure")
    expect(page.get_by_test_id("alternatives")).to_contain_text("LEA1284 (41%)")
    measured = page.get_by_test_id("measured")
    expect(measured).to_contain_text("signal.state")
    expect(measured).to_contain_text("controller")
    expect(measured).to_contain_text("Stop line north")

    form = page.get_by_test_id("confirm-form")
    expect(form.get_by_label("Plate")).to_have_value("LEA1234")
    form.get_by_label("Note").fill("Clear red; vehicle crossed after 2.4 s of red")
    form.get_by_role("button", name="Confirm violation").click()
    expect(page.get_by_test_id("violation-status")).to_have_text("confirmed")
    expect(page.get_by_test_id("registry-result")).to_have_text("Matches the registry.")
    expect(page.get_by_test_id("reviews")).to_contain_text(f"Confirm by {username}")
    assert blocked == []
    page.close()

    with services.session_factory() as session:
        row_after = session.get(Violation, violation_id)
        assert row_after is not None and row_after.status == ViolationStatus.CONFIRMED
        assert (
            row_after.registry_check is not None
            and row_after.registry_check["owner"]["name"] == "Ayesha Khan"
        )
        (review,) = reviews.reviews_of(session=session, violation_id=violation_id)
        assert review.note == "Clear red; vehicle crossed after 2.4 s of red"
