"""Commercial cameras in Debian's chromium, at 1366x768 and 1920x1080: an owner places premises on the map and
connects a camera that is checked by itself; a camera reviewer approves a failed camera only with a reason;
an operator watches an on-request camera only under the owner's grant, until it expires."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from conftest import PASSWORD, Factory, RtspCamera, encode_cctv_clip, fits_window, screenshot, serve
from safecity.audit import service as audit
from safecity.auth.models import User
from safecity.cameras.models import AccessRequest, Approval, Camera, Owner, Premises, Sharing
from safecity.config import CameraSettings, Settings
from safecity.core.db import utcnow

SIZES = ((1366, 768), (1920, 1080))
CAMERA_PASSWORD = "Kh4-bazaar-cam-77"


def _log_in(browser: Browser, base: str, factory: Factory, user: User, size: tuple[int, int]) -> Page:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp(user.username))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("username")).to_have_text(user.username)
    return page


def _shoot(page: Page, name: str) -> None:
    size = page.viewport_size or {"width": 0, "height": 0}
    screenshot(page, f"{name}-{size['width']}x{size['height']}")


@pytest.mark.browser
def test_owner_reviewer_and_operator_in_a_browser(
    db_url: str,
    tmp_path: Path,
    settings: Settings,
    chromium: Browser,
    rtsp_camera: Callable[..., RtspCamera],
) -> None:
    stream = rtsp_camera(width=320, height=240, fps=10, seconds=4, user="shopcam", password=CAMERA_PASSWORD)
    clip = encode_cctv_clip(tmp_path / "souk.mp4", width=320, height=240, fps=10, seconds=4)
    settings.cameras = CameraSettings.model_validate({"owner_allowed_networks": ["127.0.0.0/8"]})
    settings.video = settings.video.model_copy(update={"run_in_web": True})
    with serve(settings, db_url, tmp_path) as live:
        with live.services.session_factory() as session:
            factory = Factory(session, live.services.mfa_box)
            district = factory.district()
            owner = factory.user("camera_owner")
            reviewer = factory.user("camera_reviewer", districts=[district])
            operator = factory.user("operator", districts=[district])
            # An approved on-request camera of this owner, run by the web process (demo footage).
            souk = Premises(
                owner_user_id=owner.id,
                district_id=district.id,
                name="Gold souk",
                organisation="Souk Traders",
                contact_phone="+923001234567",
                latitude=34.0105,
                longitude=71.5601,
            )
            session.add(souk)
            session.flush()
            gate = Camera(
                name="Souk gate",
                district_id=district.id,
                premises_id=souk.id,
                latitude=34.0105,
                longitude=71.5601,
                stream_url=str(clip),
                owner=Owner.COMMERCIAL,
                owner_organisation="Souk Traders",
                sharing=Sharing.ON_REQUEST,
                approval=Approval.APPROVED,
                tags=[],
            )
            session.add(gate)
            session.flush()
            gate_id = gate.id
            session.commit()
        base = live.base

        # --- the owner: premises placed on the map, a camera connected and checked by itself -------------
        page = _log_in(chromium, base, factory, owner, SIZES[0])
        page.goto(f"{base}/owner")
        form = page.locator("#premises-form")
        form.get_by_label("Name").fill("Saddar branch")
        form.get_by_label("Organisation").fill("Bank of Khyber")
        form.get_by_label("Mobile number").fill("0300 1234567")
        the_map = page.get_by_test_id("premises-map")
        the_map.scroll_into_view_if_needed()
        expect(form.get_by_label("Latitude")).to_have_value("")
        the_map.click(position={"x": 120, "y": 90})  # the place, clicked on the map
        expect(form.get_by_label("Latitude")).not_to_have_value("")
        clicked = (
            float(form.get_by_label("Latitude").input_value()),
            float(form.get_by_label("Longitude").input_value()),
        )
        # a marker to drag (the base layer's town names are markers of their own)
        expect(the_map.locator(".leaflet-marker-icon:not(.basemap-label)")).to_have_count(1)
        form.get_by_role("button", name="Register").click()
        branch = page.get_by_test_id("premises").filter(has_text="Saddar branch")
        expect(branch).to_be_visible()
        with live.services.session_factory() as session:
            placed = session.scalars(select(Premises).where(Premises.name == "Saddar branch")).one()
            assert (round(placed.latitude, 6), round(placed.longitude, 6)) == clicked

        branch.get_by_text("Connect a camera here").click()
        branch.get_by_label("Name", exact=True).fill("Entrance")
        branch.get_by_label("Stream URL", exact=True).fill(stream.url)
        branch.get_by_label("Username", exact=True).fill("shopcam")
        branch.get_by_label("Password", exact=True).fill(CAMERA_PASSWORD)
        branch.get_by_role("button", name="Connect").click()
        row = page.get_by_test_id("owner-camera").filter(has_text="Entrance")
        # Nobody presses a button: the result appears by itself (320x240 fails the 1280x720 minimum).
        expect(row.get_by_test_id("compliance-state")).to_have_text("failed", timeout=45_000)
        for size in SIZES:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            fits_window(page, "Register")
            _shoot(page, "owner")
        row.get_by_role("link", name="Details, changes and viewers").click()
        expect(page.get_by_test_id("compliance")).to_contain_text("320x240 is below the minimum")
        for size in SIZES:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            fits_window(page, "Save")
            _shoot(page, "owner-camera")

        # --- the camera reviewer: a failed camera is approved only with a written reason ---------------
        review = _log_in(chromium, base, factory, reviewer, SIZES[0])
        menu = review.get_by_role("navigation", name="Main")
        menu.get_by_text("Video", exact=True).click()
        menu.get_by_role("link", name="Camera review").click()
        item = review.get_by_test_id("review-item").filter(has_text="Entrance")
        expect(item.get_by_test_id("override-warning")).to_contain_text("Resolution")
        for size in SIZES:
            review.set_viewport_size({"width": size[0], "height": size[1]})
            fits_window(review, "Approve despite the findings", "Reject")
            _shoot(review, "review")
        approve = item.get_by_role("button", name="Approve despite the findings")
        approve.click()  # no reason: the form refuses to send
        assert item.get_by_label("Reason for approving despite the findings").evaluate(
            "el => !el.validity.valid"
        )
        expect(item).to_be_visible()
        reason = "Bank gate: the picture serves the entrance; owner upgrades to 720p by March"
        item.get_by_label("Reason for approving despite the findings").fill(reason)
        approve.click()
        expect(review.get_by_test_id("review-item").filter(has_text="Entrance")).to_have_count(0)
        with live.services.session_factory() as session:
            entrance = session.scalars(select(Camera).where(Camera.name == "Entrance")).one()
            assert (entrance.approval, entrance.review_reason) == (Approval.APPROVED, reason)
            more = Factory(session, live.services.mfa_box)
            auditor = more.principal(more.user("auditor"))
            session.commit()
            (entry,) = audit.search(session=session, principal=auditor, action="camera.review")
            assert entry.detail["override"] is True and "resolution" in entry.detail["failed"]

        # --- the operator: refused, asks with a purpose, the owner grants, watches, the grant expires ------
        watch = _log_in(chromium, base, factory, operator, SIZES[0])
        refused = watch.request.get(f"{base}/api/v1/cameras/{gate_id}/snapshot.jpg")
        assert refused.status == 403 and refused.json()["error"]["code"] == "access_request_required"
        watch.goto(f"{base}/cameras")
        watch.get_by_role("row").filter(has_text="Souk gate").get_by_role(
            "link", name="request access"
        ).click()
        expect(watch.get_by_test_id("no-grant")).to_be_visible()
        expect(watch.get_by_test_id("live")).to_have_count(0)
        for size in SIZES:
            watch.set_viewport_size({"width": size[0], "height": size[1]})
            fits_window(watch, "Request access")
            _shoot(watch, "access-refused")
        watch.get_by_label("Purpose").fill("Chain snatching reported at the souk gate at 14:10")
        watch.get_by_label("Incident or FIR number (optional)").fill("INC-PSH-2026-000042")
        watch.get_by_role("button", name="Request access").click()
        expect(watch.get_by_test_id("request-status")).to_have_text("pending")

        page.goto(f"{base}/owner")
        pending = page.get_by_test_id("pending-request").filter(has_text="INC-PSH-2026-000042")
        expect(pending).to_contain_text("Chain snatching")
        pending.get_by_role("button", name="Grant").click()
        expect(page.get_by_test_id("pending-request")).to_have_count(0)

        watch.reload()
        expect(watch.get_by_test_id("grant")).to_contain_text("INC-PSH-2026-000042")
        picture = watch.get_by_test_id("live")
        watch.wait_for_function("el => el.naturalWidth === 320", arg=picture.element_handle(), timeout=30_000)
        for size in reversed(SIZES):
            watch.set_viewport_size({"width": size[0], "height": size[1]})
            fits_window(watch, "Request access")
            _shoot(watch, "access-granted")
        with live.services.session_factory() as session:  # the window closes in a few seconds
            grant = session.scalars(select(AccessRequest)).one()
            grant.ends_at = utcnow() + dt.timedelta(seconds=4)
            session.commit()
        watch.reload()
        expect(watch.get_by_test_id("grant")).to_be_visible()
        # A stream opened under the grant ends by itself when the window closes (it never outlives it).
        ended = watch.request.get(f"{base}/api/v1/cameras/{gate_id}/live.mjpeg?fps=2", timeout=30_000)
        assert ended.status == 200 and b"Content-Type: image/jpeg" in ended.body()
        # The page reloads by itself at the end of the window, and is refused.
        expect(watch.get_by_test_id("no-grant")).to_be_visible(timeout=30_000)
        expect(watch.get_by_test_id("live")).to_have_count(0)
        again = watch.request.get(f"{base}/api/v1/cameras/{gate_id}/snapshot.jpg")
        assert again.status == 403 and again.json()["error"]["code"] == "access_request_required"
        for p in (page, review, watch):
            p.close()
