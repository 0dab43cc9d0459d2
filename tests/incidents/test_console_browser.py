"""The operator console in chromium at 1366x768 and 1920x1080, as a night-shift operator uses it.

It fits the window (no sideways scrolling, the queue's and the selected alert's actions in view), ranks the
queue, calls for attention when a critical alert arrives over the live feed (a WebAudio tone, a desktop
notification, the count in the title: the page's Notification and oscillators are watched), works from the
keyboard (j/k/a change the database), keeps the user's mute on the server, opens an alert from
`/console?alert=<id>`, and follows the selection in a popped-out video window.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory, screenshot, serve, wait_until
from safecity import seed
from safecity.auth import service as users
from safecity.auth import tokens
from safecity.auth.models import User
from safecity.cameras.models import Camera
from safecity.config import AlertSettings, Settings
from safecity.core.db import utcnow
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertPreference, AlertStatus
from safecity.events.models import Severity
from safecity.org import service as org

pytestmark = pytest.mark.browser


# Watches what the page does to call for attention, without changing it: every Notification made and every
# oscillator started are counted on window.__fired.
WATCH = """
window.__fired = { notifications: [], tones: 0 };
(() => {
  const Real = window.Notification;
  if (Real) {
    function Watched(title, options) {
      window.__fired.notifications.push({ title, body: options && options.body });
      return new Real(title, options);
    }
    Object.defineProperty(Watched, "permission", { get: () => Real.permission });
    Watched.requestPermission = (...args) => Real.requestPermission(...args);
    window.Notification = Watched;
  }
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__fired.tones += 1;
    return start.apply(this, args);
  };
})();
"""


@dataclass
class Room:
    url: str
    session: Session
    factory: Factory
    camera_id: uuid.UUID
    secret: str  # an external system's API token that raises alerts


@pytest.fixture
def room(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Room]:
    with serve(settings, db_url, tmp_path) as app, app.services.session_factory() as session:
        factory = Factory(session, app.services.mfa_box)
        seed.reference_data(session=session)
        peshawar = org.district_by_code(session=session, code="PSW")
        assert peshawar is not None
        factory.user("operator", districts=[peshawar], username="desk", mfa=False)
        machine = factory.user("admin", username="integration")
        camera = Camera(
            name="Hashtnagri Gate",
            district_id=peshawar.id,
            latitude=34.0119,
            longitude=71.5756,
            stream_url="rtsp://127.0.0.1:1/none",
        )
        session.add(camera)
        session.flush()
        now = utcnow()
        # A night's queue: more alerts than the pane shows, of every severity, long titles among them.
        for i in range(14):
            severity = [Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO, Severity.CRITICAL][i % 5]
            alert = alerts.raise_alert(
                session=session,
                kind="analytics.loitering" if i % 2 else "camera.tamper",
                severity=severity,
                title=f"Alert {i:02d}: a man loitering by the northern wall of Hashtnagri gate for a while",
                source="analytics-gateway",
                camera_id=camera.id,
            )
            alert.first_raised_at = alert.raised_at = now - dt.timedelta(minutes=60 - i)
            if i == 9:  # left unacknowledged: the escalation loop handed it to the supervisors
                alert.escalated_at = now - dt.timedelta(minutes=48)
                alert.escalated_to_role, alert.escalated_to_users = "supervisor", ["sup-khan"]
        _token, secret = tokens.create(
            session=session,
            actor=users.principal_for(session=session, user=machine),
            name="analytics gateway",
            permissions=["alerts.raise"],
        )
        session.commit()
        camera_id = camera.id
        session.close()  # the server writes to the same SQLite file: the test holds no transaction open
        yield Room(app.base, session, factory, camera_id, secret)


def _raise(room: Room, title: str, severity: int) -> str:
    raised = httpx.post(
        f"{room.url}/api/v1/alerts",
        headers={"Authorization": f"Bearer {room.secret}"},
        timeout=30,
        json={
            "kind": "analytics.intrusion",
            "severity": severity,
            "title": title,
            "camera_id": str(room.camera_id),
        },
    )
    assert raised.status_code == 201, raised.text
    return str(raised.json()["id"])


def _status(room: Room, alert_id: str) -> AlertStatus:
    room.session.expire_all()
    alert = room.session.get(Alert, uuid.UUID(alert_id))
    room.session.commit()  # end the read: the server writes to the same SQLite file
    assert alert is not None
    return alert.status


def _inside(page: Page, selector: str) -> None:
    """The element is on screen and can be clicked: inside the window, and at its corners and centre it is
    what the page shows (not clipped by a scrolling pane, not covered)."""
    seen = page.locator(selector).evaluate(
        """(el) => {
          const b = el.getBoundingClientRect();
          if (b.width === 0 || b.left < 0 || b.top < 0 || b.right > innerWidth || b.bottom > innerHeight)
            return "outside the window: " + JSON.stringify(b);
          const points = [[b.left + 2, b.top + 2], [b.right - 2, b.bottom - 2],
                          [(b.left + b.right) / 2, (b.top + b.bottom) / 2]];
          for (const [x, y] of points) {
            const hit = document.elementFromPoint(x, y);
            if (!hit || !(hit === el || el.contains(hit)))
              return "clipped or covered at " + x + "," + y + " by " +
                (hit ? hit.outerHTML.slice(0, 80) : "nothing");
          }
          return "ok";
        }"""
    )
    assert seen == "ok", (selector, seen)


def _fits(page: Page) -> None:
    sizes = page.evaluate(
        "({sw: document.documentElement.scrollWidth, sh: document.documentElement.scrollHeight,"
        " w: window.innerWidth, h: window.innerHeight})"
    )
    assert sizes["sw"] <= sizes["w"], f"the page scrolls sideways: {sizes}"
    assert sizes["sh"] <= sizes["h"], f"the page scrolls: {sizes}"


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
def test_the_console_in_a_24_7_room(room: Room, chromium: Browser, size: tuple[int, int]) -> None:
    width, height = size
    context = chromium.new_context(viewport={"width": width, "height": height})
    context.grant_permissions(["notifications"], origin=room.url)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.goto(f"{room.url}/login")
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{room.url}/console")
    expect(page.get_by_test_id("feed-state")).to_have_text("Live")

    # 1. The queue: critical first, then the longest waiting; it fits, with the actions in view.
    queue = page.locator("table[data-testid=alerts] tbody tr")
    expect(queue).to_have_count(14)
    severities = queue.evaluate_all("rows => rows.map(r => Number(r.dataset.severity))")
    assert severities == sorted(severities, reverse=True), severities
    firsts = queue.evaluate_all(
        "rows => rows.filter(r => r.dataset.severity === '4').map(r => r.dataset.firstRaisedAt)"
    )
    assert firsts == sorted(firsts)
    _fits(page)
    first = queue.first
    _inside(page, "table[data-testid=alerts] tbody tr:first-child button:text-is('Acknowledge')")
    _inside(page, "table[data-testid=alerts] tbody tr:first-child button:text-is('Dismiss')")
    escalated = page.locator("tr.escalated")
    expect(escalated).to_have_count(1)
    expect(escalated.locator(".badge")).to_have_text("Escalated to supervisor")
    # 5 of the 14 alerts are high or critical: the title says so.
    expect(page).to_have_title(re.compile(r"^\(5\) ● Operator console"))

    # 2. j selects the first alert: its detail, actions and escalation are in view without scrolling.
    page.keyboard.press("j")
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_contain_text("Alert 04")
    for selector in (
        "[data-testid=alert-detail] [data-ack-form] button",
        "[data-testid=alert-detail] [data-dismiss-form] button",
        "[data-testid=alert-detail] [data-escalate] button",
        "[data-testid=open-camera]",
    ):
        _inside(page, selector)
    href = page.get_by_test_id("open-camera").get_attribute("href") or ""
    assert re.fullmatch(rf"/cameras/{room.camera_id}\?at=\d{{4}}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ", href), href
    _fits(page)
    screenshot(page, f"console-{width}x{height}", full_page=False)

    # 3. A critical alert arrives: a tone, a desktop notification, the count in the title.
    page.evaluate("window.__fired = { notifications: [], tones: 0 }")
    arrived = _raise(room, "Armed intrusion at the gate", 4)
    expect(page.locator(f"#alert-{arrived}")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\(6\) ● Operator console"))
    page.wait_for_function("window.__fired.notifications.length >= 1 && window.__fired.tones >= 1")
    fired = page.evaluate("window.__fired")
    assert fired["notifications"][0]["title"] == "CRITICAL: Armed intrusion at the gate", fired
    assert "Hashtnagri Gate" in fired["notifications"][0]["body"]
    # Ranked among the critical ones by waiting time: the newest critical comes last of them.
    ranks = queue.evaluate_all("rows => rows.map(r => r.id)")
    assert ranks.index(f"alert-{arrived}") == 2, ranks  # after the two older critical alerts

    # 4. Shortcuts: `?` shows them; keys typed in a field stay in the field; j/k move; a acknowledges.
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts")).to_be_visible()
    expect(page.get_by_test_id("shortcuts")).to_contain_text("Acknowledge the selected alert")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcuts")).to_be_hidden()
    selected_id = first.get_attribute("id", timeout=2000)
    assert selected_id is not None
    note = page.get_by_label("Acknowledgement note")
    note.click()
    note.type("a j k m")  # letters of shortcuts: here they are a note
    expect(note).to_have_value("a j k m")
    assert _status(room, selected_id.removeprefix("alert-")) == AlertStatus.NEW
    page.keyboard.press("Escape")  # leave the field
    page.keyboard.press("j")
    expect(queue.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    expect(queue.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("a")
    acked = selected_id.removeprefix("alert-")
    expect(page.locator(f"#{selected_id}")).to_have_count(0)
    wait_until(lambda: _status(room, acked) == AlertStatus.ACKNOWLEDGED)
    # The next alert is selected at once, ready for the next key.
    expect(queue.first).to_have_class(re.compile(r"\bselected\b"))
    expect(page).to_have_title(re.compile(r"^\(5\) ● Operator console"))

    # Dismissing from a row: the reason field of that alert takes the focus; Enter dismisses it.
    last = queue.last
    last_id = last.get_attribute("id") or ""
    last.get_by_role("button", name="Dismiss").click()
    reason = page.get_by_label("Reason for dismissing")
    expect(reason).to_be_focused()
    reason.type("A cat on the wall")
    page.keyboard.press("Enter")
    expect(page.locator(f"#{last_id}")).to_have_count(0)
    wait_until(lambda: _status(room, last_id.removeprefix("alert-")) == AlertStatus.DISMISSED)
    # c opens the selected alert's camera at the alert's time, in a window of its own.
    expect(queue.last).to_have_class(re.compile(r"\bselected\b"))  # the next one, ready for the keys
    page.keyboard.press("k")
    with page.expect_popup() as camera_info:
        page.keyboard.press("c")
    expect(camera_info.value).to_have_url(re.compile(rf"/cameras/{room.camera_id}\?at=\d{{4}}-"))
    camera_info.value.close()

    # 5. Mute (m) is stored for this user: it survives a reload, and a muted console stays silent.
    page.keyboard.press("m")
    expect(page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    wait_until(lambda: _muted(room), message="the mute was not stored for the user")
    page.reload()
    expect(page.get_by_test_id("feed-state")).to_have_text("Live")
    expect(page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("mute")).to_have_text("Muted")
    page.evaluate("window.__fired = { notifications: [], tones: 0 }")
    quiet = _raise(room, "Second intrusion, muted console", 4)
    expect(page.locator(f"#alert-{quiet}")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\(6\) ● Operator console"))  # the title still counts it
    assert page.evaluate("window.__fired") == {"notifications": [], "tones": 0}

    # Which severities call for attention is the user's choice too: critical only.
    page.get_by_text("Alert settings").click()
    page.get_by_role("checkbox", name="high", exact=True).uncheck()
    page.get_by_role("button", name="Save").click()
    wait_until(lambda: _severities(room) == [4], message="the chosen severities were not stored")
    critical = queue.evaluate_all("rows => rows.filter(r => r.dataset.severity === '4').length")
    expect(page).to_have_title(re.compile(rf"^\({critical}\) ● Operator console"))

    # 6. /console?alert=<id> opens with that alert selected; the video pops out and follows the selection.
    page.goto(f"{room.url}/console?alert={quiet}")
    expect(page.locator(f"#alert-{quiet}")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_test_id("alert-detail")).to_contain_text("Second intrusion, muted console")
    with page.expect_popup() as popup_info:
        page.get_by_test_id("popout").click()
    popup = popup_info.value
    expect(popup).to_have_url(re.compile(r"/console/video$"))
    expect(popup.get_by_test_id("alert-detail")).to_contain_text("Second intrusion, muted console")
    expect(page.locator("[data-console]")).to_have_attribute("data-popped-out", "yes")
    page.bring_to_front()
    page.keyboard.press("j")
    expect(page.get_by_test_id("alert-detail")).not_to_contain_text("Second intrusion, muted console")
    now_selected = page.get_by_test_id("alert-detail").locator("h2").inner_text()
    expect(popup.get_by_test_id("alert-detail").locator("h2")).to_have_text(now_selected)
    _fits(page)
    popup.set_viewport_size({"width": width, "height": height})
    screenshot(popup, f"console-video-{width}x{height}", full_page=False)
    page.keyboard.press("?")
    screenshot(page, f"console-shortcuts-{width}x{height}", full_page=False)
    context.close()


def _severities(room: Room) -> list[int] | None:
    """The operator's stored severities that call for attention."""
    query = select(AlertPreference.severities).join(User, User.id == AlertPreference.user_id)
    chosen = room.session.scalar(query.where(User.username == "desk"))
    room.session.commit()
    return chosen


def _muted(room: Room) -> bool:
    """Whether the operator's stored preference says muted (read in a short transaction of its own)."""
    query = select(AlertPreference.muted).join(User, User.id == AlertPreference.user_id)
    muted = room.session.scalar(query.where(User.username == "desk"))
    room.session.commit()
    return bool(muted)


def test_a_supervisor_is_called_when_an_alert_goes_unacknowledged(
    db_url: str, tmp_path: Path, settings: Settings, chromium: Browser
) -> None:
    """The loop the application runs escalates a medium alert nobody acknowledged; the supervisor's console,
    which does not sound for medium alerts, calls them for this one and shows to whom it went."""
    quick = settings.model_copy(
        update={"alerts": AlertSettings(escalate_after_s={"medium": 2.0}, escalate_every_s=0.3)}
    )
    with serve(quick, db_url, tmp_path) as app, app.services.session_factory() as session:
        factory = Factory(session, app.services.mfa_box)
        seed.reference_data(session=session)
        peshawar = org.district_by_code(session=session, code="PSW")
        assert peshawar is not None
        factory.user("supervisor", districts=[peshawar], username="shift-lead")
        session.commit()
        code = factory.totp("shift-lead")
        district_id = peshawar.id
        session.close()

        context = chromium.new_context(viewport={"width": 1366, "height": 768})
        context.grant_permissions(["notifications"], origin=app.base)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.goto(f"{app.base}/login")
        page.get_by_label("Username").fill("shift-lead")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Continue").click()
        page.goto(f"{app.base}/console")
        expect(page.get_by_test_id("feed-state")).to_have_text("Live")

        with app.services.session_factory() as writer:
            alert = alerts.raise_alert(
                session=writer,
                kind="vms.motion",
                severity=Severity.MEDIUM,
                title="Motion in the record room",
                source="vms",
                district_id=district_id,
            )
            writer.commit()
            alert_id = alert.id
        # The alert comes over the live feed (published by the escalation, which happens within seconds).
        row = page.locator(f"#alert-{alert_id}")
        expect(row.locator(".badge")).to_have_text("Escalated to supervisor", timeout=15_000)
        page.wait_for_function("window.__fired.notifications.length >= 1")
        fired = page.evaluate("window.__fired.notifications")
        assert fired[0]["title"] == "MEDIUM: Motion in the record room", fired
        assert "escalated to you" in fired[0]["body"]
        row.click()
        expect(page.get_by_test_id("alert-escalation")).to_contain_text(
            "Escalated to supervisor (shift-lead)"
        )
        context.close()
