"""A person in Debian's chromium logs in with a password and a TOTP code, and reaches the dashboard."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import Browser, expect
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from conftest import PASSWORD, Factory, new_database
from safecity.app import create_app
from safecity.config import Settings
from safecity.runtime import build_services

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        live_settings = settings.model_copy(update={"database_url": SecretStr(url)})
        services = build_services(live_settings)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_config=None)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        with services.session_factory() as session:
            yield Live(f"http://127.0.0.1:{port}", Factory(session, services.mfa_box))
        server.should_exit = True
        thread.join(timeout=10)


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
