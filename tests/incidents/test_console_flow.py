"""The control room in chromium: an alert is escalated, a unit dispatched, it arrives, the KPIs show it.

Everything is real: the alert comes from an external system's API token, the page is pushed the alert over
Server-Sent Events, the unit is told over MQTT (Mosquitto) and reports its position and arrival over MQTT.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.orm import Session

from conftest import MQTT_HOST, MQTT_PORT, PASSWORD, START, Factory, answers, missing_part, serve
from safecity import seed
from safecity.auth import service as users
from safecity.auth import tokens
from safecity.auth.principal import SYSTEM
from safecity.cameras.models import Camera
from safecity.config import DispatchSettings, Settings
from safecity.core.db import utcnow
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.schemas import UnitIn
from safecity.incidents.sharing import service as sharing
from safecity.org import service as org

pytestmark = pytest.mark.browser


@dataclass
class Room:
    url: str
    session: Session
    factory: Factory
    prefix: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def room(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[Room]:
    """The application on its own database with units on MQTT, served by uvicorn on a free port."""
    if not answers(MQTT_HOST, MQTT_PORT):
        missing_part(f"Mosquitto at {MQTT_HOST}:{MQTT_PORT}", f"start it (as root: {START['mosquitto']})")
    prefix = f"t{uuid.uuid4().hex[:8]}/units"
    dispatch = DispatchSettings(mqtt_host=MQTT_HOST, mqtt_port=MQTT_PORT, topic_prefix=prefix)
    with (
        serve(settings.model_copy(update={"dispatch": dispatch}), db_url, tmp_path) as app,
        app.services.session_factory() as session,
    ):
        yield Room(app.base, session, Factory(session, app.services.mfa_box), prefix)


async def _unit_reports(prefix: str, call_sign: str, reports: list[tuple[str, dict[str, object]]]) -> None:
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
        for kind, payload in reports:
            await client.publish(f"{prefix}/{call_sign}/{kind}", json.dumps(payload), qos=1)


async def _first_message(topic: str, subscribed: threading.Event) -> dict[str, object]:
    """The first message on `topic`, as the unit's terminal would receive it."""
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
        await client.subscribe(topic, qos=1)
        subscribed.set()
        async for message in client.messages:
            payload: dict[str, object] = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            return payload
    raise AssertionError("no dispatch message")


def _in_own_thread(work: Coroutine[object, object, None]) -> None:
    """Run a coroutine on a thread of its own (Playwright's sync API owns this thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result(timeout=30)


def test_alert_to_arrival_in_the_control_room(room: Room, chromium: Browser) -> None:
    session, factory = room.session, room.factory
    seed.reference_data(session=session)
    peshawar = org.district_by_code(session=session, code="PSW")
    assert peshawar is not None
    # A supervisor on the desk: operator, dispatcher and the response-time figures (with a second factor).
    factory.user("operator", "dispatcher", "supervisor", districts=[peshawar], username="desk")
    machine = factory.user("admin", username="integration")
    dik = org.district_by_code(session=session, code="DIK")
    assert dik is not None
    rescue_desk = factory.user("operator", districts=[dik], username="rescue-desk", mfa=False)
    sharing.set_user_agency(session=session, actor=SYSTEM, user_id=rescue_desk.id, agency_code="rescue1122")
    camera = Camera(
        name="Hashtnagri Gate",
        district_id=peshawar.id,
        latitude=34.0119,
        longitude=71.5756,
        stream_url="rtsp://127.0.0.1:1/none",
    )
    session.add(camera)
    actor = users.principal_for(session=session, user=machine)
    unit = dispatch.create_unit(
        session=session,
        principal=factory.principal(factory.user("supervisor")),
        data=UnitIn(
            agency="police",
            call_sign="PSW-MOB-07",
            vehicle_registration="LEB-1234",
            vehicle_type="Toyota Hilux",
            district_id=peshawar.id,
            status=UnitStatus.AVAILABLE,
        ),
    )
    unit.latitude, unit.longitude = 34.0021, 71.5380
    _token, secret = tokens.create(
        session=session, actor=actor, name="analytics gateway", permissions=["alerts.raise"]
    )
    session.commit()

    page = chromium.new_page()
    page.goto(f"{room.url}/login")
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(factory.totp("desk"))
    page.get_by_role("button", name="Continue").click()
    page.goto(f"{room.url}/console")
    expect(page.get_by_test_id("feed-state")).to_have_text("Live")

    # 1. An alert arrives from another system and appears in the open console without a reload.
    raised = httpx.post(
        f"{room.url}/api/v1/alerts",
        headers={"Authorization": f"Bearer {secret}"},
        json={
            "kind": "analytics.intrusion",
            "severity": 3,
            "title": "Intrusion at the gate",
            "camera_id": str(camera.id),
        },
    )
    assert raised.status_code == 201, raised.text
    row = page.locator(f"#alert-{raised.json()['id']}")
    expect(row).to_be_visible(timeout=2000)

    # 2. The operator escalates it into an incident and gets the recommended units.
    row.get_by_text("Intrusion at the gate").click()
    page.get_by_label("Category").select_option("street_crime")
    page.get_by_label("Priority").select_option("1")
    page.get_by_role("button", name="Escalate into an incident").click()
    opened = page.get_by_role("link", name=re.compile(r"Incident PSW-\d{4}-000001 opened"))
    opened_href = str(opened.get_attribute("href"))
    opened.click()
    recommendations = page.get_by_test_id("recommendations")
    expect(recommendations).to_contain_text("PSW-MOB-07")

    # 3. The dispatcher sends the unit; the unit is told over MQTT.
    subscribed = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        told = pool.submit(asyncio.run, _first_message(f"{room.prefix}/PSW-MOB-07/dispatch", subscribed))
        assert subscribed.wait(10)
        page.get_by_role("button", name="Dispatch PSW-MOB-07").click()
        expect(page.locator("#flash")).to_contain_text("PSW-MOB-07 dispatched")
        order = told.result(timeout=15)
    assert re.fullmatch(r"PSW-\d{4}-000001", str(order["incident_number"])), order

    # 4. The unit moves and arrives, reporting over MQTT.
    _in_own_thread(
        _unit_reports(
            room.prefix,
            "PSW-MOB-07",
            [
                ("position", {"lat": 34.0070, "lon": 71.5600, "at": utcnow().isoformat()}),
                ("status", {"status": "on_scene"}),
            ],
        )
    )
    assignments = page.get_by_test_id("assignments")
    expect(assignments).to_contain_text("on scene", timeout=15_000)
    page.reload()
    expect(page.get_by_test_id("timeline")).to_contain_text(re.compile(r"on.scene", re.IGNORECASE))

    # 5. The response-time figures show this incident's time to dispatch and to arrive.
    page.goto(f"{room.url}/kpis")
    overall = page.get_by_test_id("kpis-overall").locator("tbody tr").first
    cells = overall.locator("td")
    expect(cells.nth(1)).to_have_text("1")  # incidents
    expect(cells.nth(2)).to_have_text("1 of 1")  # dispatched
    expect(cells.nth(3)).to_have_text(re.compile(r"^\d+ s$"))  # median time to dispatch
    expect(cells.nth(6)).to_have_text("1 of 1")  # arrived
    expect(cells.nth(7)).to_have_text(re.compile(r"^\d+ s$"))  # median time to arrive
    expect(page.get_by_test_id("kpis-agency")).to_contain_text("Police")

    # 6. Shared with Rescue 1122, the incident shows in a Rescue operator's console in another district.
    incident_id = re.sub(r".*/incidents/", "", opened_href)
    shared = page.evaluate(
        """async ([id, token]) => (await fetch(`/api/v1/incidents/${id}/shares`, {method: "POST",
             headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
             body: JSON.stringify({agency_code: "rescue1122", note: "casualty possible"})})).status""",
        [
            incident_id,
            page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"),
        ],
    )
    assert shared == 201
    rescue = chromium.new_page()
    rescue.goto(f"{room.url}/login")
    rescue.get_by_label("Username").fill("rescue-desk")
    rescue.get_by_label("Password").fill(PASSWORD)
    rescue.get_by_role("button", name="Log in").click()
    rescue.goto(f"{room.url}/console")
    expect(rescue.get_by_test_id("shared-incidents")).to_contain_text(re.compile(r"PSW-\d{4}-000001"))
    rescue.get_by_role("link", name=re.compile(r"PSW-\d{4}-000001")).click()
    expect(rescue.get_by_test_id("timeline")).to_contain_text(re.compile(r"rescue1122|Rescue", re.IGNORECASE))
