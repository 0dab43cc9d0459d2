"""Units, dispatch, SOPs and KPIs in chromium, as a dispatcher and an operator live them.

A dispatcher sends a unit and an operator's incident page (another browser, never reloaded) shows it; the
unit's own terminal reports its status over the API and that page follows; closing with open SOP steps is
refused without a reason and accepted with one; the freed unit is recommended for the next incident; a
dispatcher takes a unit out of service on the units page; the KPI page counts an incident no unit was sent
to as missed. The pages are checked (and photographed) at 1366x768 and 1920x1080.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory, screenshot, serve
from safecity import seed
from safecity.auth import tokens
from safecity.config import Settings
from safecity.core.db import utcnow
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import Unit, UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident
from safecity.incidents.schemas import IncidentIn
from safecity.org import service as org

pytestmark = pytest.mark.browser

SIZES = [(1366, 768), (1920, 1080)]


@dataclass
class Desk:
    url: str
    session: Session
    factory: Factory


@pytest.fixture
def desk(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Desk]:
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        yield Desk(app.base, session, Factory(session, app.services.mfa_box))


def _log_in(page: Page, url: str, username: str, code: str | None = None) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if code is not None:
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Continue").click()
    expect(page).not_to_have_url(re.compile(r"/login$|/mfa"))


def _unit(
    session: Session, boss: object, district_id: object, call_sign: str, at: tuple[float, float]
) -> Unit:
    made = dispatch.create_unit(
        session=session,
        principal=boss,  # type: ignore[arg-type]
        data=UnitIn(
            agency="police",
            call_sign=call_sign,
            vehicle_registration="LEB-1234",
            vehicle_type="Toyota Hilux",
            district_id=district_id,  # type: ignore[arg-type]
            status=UnitStatus.AVAILABLE,
        ),
    )
    made.latitude, made.longitude, made.position_at = at[0], at[1], utcnow()
    return made


def _fits(page: Page, width: int) -> None:
    """Nothing of the page's own content reaches past the window's width (no sideways scrolling for it).

    The shared header is the layout's own (for a user with many roles its menu is long) and not judged here.
    """
    wide = page.evaluate(
        """(w) => [...document.querySelectorAll('main *')]
             .filter(e => !e.closest('.leaflet-container') && e.getBoundingClientRect().right > w + 1)
             .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + (e.dataset.testid || ''))""",
        width,
    )
    assert wide == [], f"reaches past {width} px: {wide}"
    assert page.evaluate("document.querySelector('main').scrollWidth") <= width


def _in_view(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, selector


def test_units_dispatch_sops_and_kpis_stay_true(desk: Desk, chromium: Browser) -> None:
    session, factory = desk.session, desk.factory
    seed.reference_data(session=session)
    peshawar = org.district_by_code(session=session, code="PSW")
    assert peshawar is not None
    factory.user("operator", "dispatcher", "supervisor", districts=[peshawar], username="desk")
    factory.user("operator", districts=[peshawar], username="watch", mfa=False)
    terminal = factory.user("unit", districts=[peshawar], username="mdt-07", mfa=False)
    boss = factory.principal(factory.user("supervisor"))
    mob7 = _unit(session, boss, peshawar.id, "PSW-MOB-07", (34.0021, 71.5380))
    _unit(session, boss, peshawar.id, "PSW-MOB-08", (34.0150, 71.5450))
    mob7.account_id = terminal.id
    _, secret = tokens.create(
        session=session, actor=factory.principal(terminal), name="MDT PSW-MOB-07", permissions=["units.self"]
    )
    robbery = incidents.create_incident(
        session=session,
        principal=boss,
        data=IncidentIn(
            district_id=peshawar.id,
            category=Category.STREET_CRIME,
            priority=1,
            title="Armed robbery at a jewellery shop",
            latitude=34.0087,
            longitude=71.5665,
            address="Qissa Khwani Bazaar",
        ),
    )
    # An ambulance call nobody sent a unit to, twenty minutes ago: it must count as missed.
    forgotten = incidents.create_incident(
        session=session,
        principal=boss,
        data=IncidentIn(
            district_id=peshawar.id, category=Category.MEDICAL, priority=2, title="Man collapsed"
        ),
    )
    forgotten.created_at = utcnow() - dt.timedelta(minutes=20)
    session.commit()
    here = f"{desk.url}/incidents/{robbery.id}"

    dispatcher = chromium.new_page(viewport={"width": 1366, "height": 768})
    _log_in(dispatcher, desk.url, "desk", factory.totp("desk"))
    # The operator's screen: another browser, on the same incident, never reloaded from here on.
    watcher = chromium.new_context(viewport={"width": 1366, "height": 768}).new_page()
    _log_in(watcher, desk.url, "watch")
    watcher.goto(here)
    expect(watcher.get_by_test_id("live-state")).to_have_text("Live")
    expect(watcher.get_by_test_id("assignments")).to_contain_text("No unit sent yet")
    watcher.evaluate("window.__notReloaded = true")

    # 0. The call-taker's form is checked before it is sent: what happened, and both coordinates or none.
    dispatcher.goto(f"{desk.url}/incidents/new")
    call = dispatcher.locator("#incident-form")
    call.get_by_role("button", name="Open incident").click()
    assert call.get_by_label("What happened").evaluate("el => el.validity.valueMissing") is True
    call.get_by_label("What happened").fill("Two men on a motorbike snatched a bag")
    call.get_by_label("Latitude").fill("34.0040")
    call.get_by_role("button", name="Open incident").click()
    assert call.get_by_label("Longitude").evaluate("el => el.validationMessage").startswith("Give both")
    expect(dispatcher).to_have_url(re.compile(r"/incidents/new$"))
    call.get_by_label("Phone").fill("call me maybe")
    call.get_by_label("Longitude").fill("71.5420")
    call.get_by_role("button", name="Open incident").click()
    assert call.get_by_label("Phone").evaluate("el => el.validity.patternMismatch") is True
    call.get_by_label("Phone").fill("0300 1234567")
    call.get_by_role("button", name="Open incident").click()
    expect(dispatcher).to_have_url(re.compile(r"/incidents/[0-9a-f-]{36}$"))

    # 1. The dispatcher sends the nearest unit from the incident's dispatch panel.
    dispatcher.goto(here)
    dispatcher.get_by_role("button", name="Dispatch PSW-MOB-07").click()
    expect(dispatcher.locator("#flash")).to_contain_text("PSW-MOB-07 dispatched")
    # ... and the operator's page shows it without a reload: the unit, the status, the timeline.
    expect(watcher.get_by_test_id("assignments")).to_contain_text("PSW-MOB-07")
    expect(watcher.get_by_test_id("status")).to_have_text("dispatched")
    expect(watcher.get_by_test_id("timeline")).to_contain_text("PSW-MOB-07 dispatched")

    # 2. The unit's own terminal says it is on its way, then on scene (its token, its unit only).
    for status in ("en_route", "on_scene"):
        sent = httpx.post(
            f"{desk.url}/api/v1/units/me/status",
            headers={"Authorization": f"Bearer {secret}"},
            json={"status": status},
        )
        assert sent.status_code == 200, sent.text
    expect(watcher.get_by_test_id("assignments")).to_contain_text("on scene")
    expect(watcher.get_by_test_id("timeline")).to_contain_text("PSW-MOB-07 arrived on scene")
    expect(watcher.get_by_test_id("status")).to_have_text("on scene")

    # 3. SOP steps show their real state; one is marked done.
    dispatcher.reload()
    steps = dispatcher.get_by_test_id("sop-step")
    total = steps.count()
    assert total >= 3
    expect(steps.first.get_by_test_id("sop-state")).to_have_text("Not done")
    expect(steps.first.get_by_role("button", name="Mark step 1 done")).to_have_text("Mark done")
    steps.first.get_by_role("button", name="Mark step 1 done").click()
    expect(dispatcher.get_by_test_id("sop-step").first.get_by_test_id("sop-state")).to_have_text(
        re.compile(r"^Done ✓ by desk at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    )
    expect(watcher.get_by_test_id("sop-progress")).to_have_text(f"1 of {total} steps done")

    # 4. Resolving with open steps: the form lists them and will not send without a reason ...
    form = dispatcher.locator("#status-form")
    expect(dispatcher.get_by_test_id("open-steps")).to_contain_text(f"{total - 1} of {total} SOP steps")
    form.get_by_label("New status").select_option("resolved")
    form.get_by_label("Reason", exact=True).fill("Suspects arrested")
    form.get_by_role("button", name="Change status").click()
    why = form.get_by_label("Why are these steps not done?")
    assert why.evaluate("el => el.validity.valueMissing") is True
    expect(dispatcher.get_by_test_id("status")).to_have_text("on scene")
    # ... nor does the server take it when the browser's check is bypassed.
    why.evaluate("el => el.removeAttribute('required')")
    form.get_by_role("button", name="Change status").click()
    expect(dispatcher.locator("#flash")).to_contain_text(f"{total - 1} of {total} SOP steps are not done")
    expect(dispatcher.get_by_test_id("status")).to_have_text("on scene")
    # With the reason it is resolved, and the reason is on the timeline (the operator sees it live).
    why.fill("Suspects arrested at the scene; the rest was not needed")
    form.get_by_role("button", name="Change status").click()
    expect(dispatcher.get_by_test_id("status")).to_have_text("resolved")
    expect(watcher.get_by_test_id("timeline")).to_contain_text(
        "Suspects arrested at the scene; the rest was not needed"
    )
    # The unit was freed by the close.
    expect(watcher.get_by_test_id("timeline")).to_contain_text("PSW-MOB-07 released: available again")
    expect(watcher.get_by_test_id("status")).to_have_text("resolved")
    assert watcher.evaluate("window.__notReloaded") is True

    # 5. The freed unit is recommended for the next incident.
    snatching = incidents.create_incident(
        session=session,
        principal=boss,
        data=IncidentIn(
            district_id=peshawar.id,
            category=Category.STREET_CRIME,
            priority=2,
            title="Mobile phone snatched",
            latitude=34.0040,
            longitude=71.5420,
        ),
    )
    session.commit()
    dispatcher.goto(f"{desk.url}/incidents/{snatching.id}")
    expect(dispatcher.get_by_test_id("recommendations")).to_contain_text("PSW-MOB-07")

    # 6. On the units page the dispatcher takes a unit out of service (confirmed first) and it shows.
    dispatcher.goto(f"{desk.url}/units")
    row = dispatcher.locator("[data-testid=unit-row][data-call-sign='PSW-MOB-08']")
    expect(row.get_by_test_id("unit-status")).to_have_text("available")
    row.get_by_role("button", name="Set").click()  # nothing chosen: the browser's check stops it
    expect(row.get_by_test_id("unit-status")).to_have_text("available")
    row.get_by_label("New status of PSW-MOB-08").select_option("out_of_service")
    dispatcher.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Set").click()
    expect(row.get_by_test_id("unit-status")).to_have_text("available")  # not confirmed: unchanged
    dispatcher.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Set").click()
    row = dispatcher.locator("[data-testid=unit-row][data-call-sign='PSW-MOB-08']")
    expect(row.get_by_test_id("unit-status")).to_have_text("out of service")
    expect(
        dispatcher.locator("[data-testid=unit-row][data-call-sign='PSW-MOB-07']").get_by_test_id(
            "unit-status"
        )
    ).to_have_text("available")

    # 7. The KPI page counts the ambulance call no unit was sent to as missed, with the counts shown.
    dispatcher.goto(f"{desk.url}/kpis")
    medical = dispatcher.get_by_test_id("kpis-category").locator("tr", has_text="medical")
    expect(medical.get_by_test_id("dispatch-within")).to_contain_text("0 of 1")
    expect(medical.get_by_test_id("dispatch-within")).to_contain_text("1 missed")
    expect(dispatcher.get_by_test_id("chart-times-y-title")).to_have_text("minutes (median)")

    # ... and the incident list flags it: no unit for twenty minutes, past the P2 target.
    dispatcher.goto(f"{desk.url}/incidents")
    waiting = dispatcher.get_by_test_id("incidents").locator("tr", has_text="Man collapsed")
    expect(waiting.get_by_test_id("overdue")).to_have_text("No unit for 20 min (target 3.0 min)")
    expect(dispatcher.get_by_test_id("incidents").get_by_test_id("overdue")).to_have_count(1)

    # 8. The three pages at both sizes: nothing sideways, the controls in view, photographed.
    for width, height in SIZES:
        dispatcher.set_viewport_size({"width": width, "height": height})
        for name, path, control in (
            ("incident", f"/incidents/{robbery.id}", "[data-testid=timeline]"),
            ("units", "/units", "form.unit-status button"),
            ("kpis", "/kpis", "[data-testid=chart-times]"),
        ):
            dispatcher.goto(f"{desk.url}{path}")
            expect(dispatcher.locator(control).first).to_be_visible()
            _fits(dispatcher, width)
            _in_view(dispatcher, control)
            screenshot(dispatcher, f"{name}-{width}x{height}")
        # The chart's top label is drawn whole, inside the picture.
        top = dispatcher.get_by_test_id("chart-times-top").bounding_box()
        chart = dispatcher.get_by_test_id("chart-times").bounding_box()
        assert top is not None and chart is not None and top["x"] >= chart["x"]
    # The open incident page with steps left (the close form's warning) at both sizes too.
    for width, height in SIZES:
        dispatcher.set_viewport_size({"width": width, "height": height})
        dispatcher.goto(f"{desk.url}/incidents/{snatching.id}")
        expect(dispatcher.get_by_test_id("open-steps")).to_be_visible()
        _fits(dispatcher, width)
        _in_view(dispatcher, "#status-form button")
        screenshot(dispatcher, f"incident-open-{width}x{height}")
    assert session.get(Incident, forgotten.id) is not None
