"""In Debian's chromium: an administrator adds an identity service on /admin/connectors with its token,
sees it listed with its health and the token only as "set", presses Test against a real HTTP service that
refuses the token, and is told why; the token never reaches the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import PASSWORD, Factory, LiveApp, fits_window, serve
from connectors.http_server import TOKEN, http_service
from safecity.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[LiveApp]:
    with serve(settings, db_url, tmp_path) as app:
        yield app


@pytest.mark.browser
def test_an_administrator_adds_a_connector_and_tests_it(live_app: LiveApp, chromium: Browser) -> None:
    from playwright.sync_api import expect

    with live_app.services.session_factory() as session:
        factory = Factory(session, live_app.services.mfa_box)
        admin = factory.user("admin", username="connector-admin")
        session.commit()
        code = factory.totp(admin.username)

    with http_service("/verisys/v1/identities") as nadra:
        nadra.answer("", {"error": "token not recognised"}, status=401)
        page = chromium.new_page()
        page.goto(f"{live_app.base}/login")
        page.get_by_label("Username").fill("connector-admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(lambda url: "/login" not in url)
        expect(page.locator('nav a[href="/admin/connectors"]')).to_have_count(1)  # the Administration menu
        page.goto(f"{live_app.base}/admin/connectors")
        expect(page.get_by_test_id("connector-vehicle registry")).to_contain_text("vehicles.extract")

        form = page.get_by_test_id("connector-form")
        form.get_by_label("Name").fill("NADRA")
        form.get_by_label("Type").select_option("identity.rest")
        form.get_by_label("Settings (JSON)").fill(json.dumps({"url": nadra.url, "timeout_s": 2}))
        form.get_by_label("Token", exact=True).fill(TOKEN)
        form.get_by_role("button", name="Save").click()
        expect(page.locator("#flash")).to_contain_text("Saved NADRA (identity.rest)")

        page.reload()
        row = page.get_by_test_id("connector-NADRA")
        expect(row).to_contain_text("token: set")
        expect(row.get_by_test_id("state")).to_have_text("closed")
        expect(row).to_contain_text(nadra.url)
        fits_window(page, "Save")
        row.get_by_role("button", name="Test").click()
        expect(page.locator("#flash")).to_contain_text("refused our credentials (HTTP 401)")
        assert nadra.requests[-1].authorisation == f"Bearer {TOKEN}"
        page.reload()
        expect(page.get_by_test_id("connector-NADRA")).to_contain_text("refused our credentials")
        assert TOKEN not in page.content()
