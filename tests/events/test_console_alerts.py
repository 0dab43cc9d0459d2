"""The console's alert rules on a real database: the queue's ranking, escalation of alerts left
unacknowledged (by the service, by the flow that publishes it, and by the loop the application starts),
a recovered camera closing its offline alert, and each user's stored attention preferences."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory, serve, wait_until
from safecity import seed
from safecity.audit import service as audit
from safecity.cameras.models import Camera
from safecity.config import AlertSettings, Settings
from safecity.core.bus.memory import MemoryBus
from safecity.core.db import utcnow
from safecity.core.errors import Conflict
from safecity.events.alerts import flows
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import Alert, AlertPreference, AlertStatus
from safecity.events.alerts.schemas import AlertOut
from safecity.events.models import Severity
from safecity.org import service as org
from safecity.org.models import District
from safecity.video.flows import SOURCE as CAMERA_HEALTH
from safecity.video.flows import VideoRuntime
from safecity.video.status import CameraState, CameraStatus

LIMITS = {int(Severity.CRITICAL): 60.0, int(Severity.HIGH): 300.0}


def _camera(session: Session, district: District, name: str = "Gate A") -> Camera:
    camera = Camera(
        name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(camera)
    session.flush()
    return camera


def _raise(session: Session, camera: Camera, severity: Severity, title: str, at: dt.datetime) -> Alert:
    alert = alerts.raise_alert(
        session=session,
        kind="analytics.intrusion",
        severity=severity,
        title=title,
        source="t",
        camera_id=camera.id,
    )
    alert.first_raised_at = alert.raised_at = at
    session.flush()
    return alert


def test_the_queue_ranks_the_most_severe_first_then_the_longest_waiting(
    session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = _camera(session, district)
    now = utcnow()
    old_high = _raise(session, camera, Severity.HIGH, "old high", now - dt.timedelta(minutes=9))
    new_critical = _raise(session, camera, Severity.CRITICAL, "new critical", now - dt.timedelta(minutes=1))
    old_critical = _raise(session, camera, Severity.CRITICAL, "old critical", now - dt.timedelta(minutes=5))
    info = _raise(session, camera, Severity.INFO, "info", now - dt.timedelta(minutes=30))
    operator = factory.principal(factory.user("operator", districts=[district]))

    queue = alerts.list_alerts(session=session, principal=operator, status=AlertStatus.NEW, order="queue")
    assert [a.title for a in queue] == [old_critical.title, new_critical.title, old_high.title, info.title]
    newest = alerts.list_alerts(session=session, principal=operator, status=AlertStatus.NEW)
    assert newest[0].id == new_critical.id


def test_an_alert_left_unacknowledged_goes_to_the_districts_supervisors(
    session: Session, factory: Factory
) -> None:
    a, b = factory.district(), factory.district()
    camera = _camera(session, a)
    factory.user("supervisor", districts=[a], username="sup-a")
    factory.user("supervisor", districts=[b], username="sup-b")  # another district's: not told
    chief = factory.user("supervisor", username="chief")  # province-wide: told of every district
    chief.province_wide = True
    factory.user("operator", districts=[a], username="op-a")  # not a supervisor
    now = utcnow()
    overdue = _raise(session, camera, Severity.CRITICAL, "critical, 2 min", now - dt.timedelta(seconds=120))
    fresh = _raise(session, camera, Severity.CRITICAL, "critical, 30 s", now - dt.timedelta(seconds=30))
    high = _raise(session, camera, Severity.HIGH, "high, 2 min", now - dt.timedelta(seconds=120))
    low = _raise(
        session, camera, Severity.LOW, "low, an hour", now - dt.timedelta(hours=1)
    )  # never escalates
    handled = _raise(session, camera, Severity.CRITICAL, "acknowledged", now - dt.timedelta(seconds=600))
    operator = factory.principal(factory.user("operator", districts=[a]))
    alerts.acknowledge(session=session, principal=operator, alert_id=handled.id)

    escalated = alerts.escalate_overdue(session=session, limits=LIMITS, role="supervisor", now=now)

    assert [e.id for e in escalated] == [overdue.id]
    assert overdue.escalated_at == now and overdue.escalated_to_role == "supervisor"
    assert overdue.escalated_to_users == ["chief", "sup-a"]
    assert overdue.status == AlertStatus.NEW  # still waits for an operator: escalation is not handling
    for waiting in (fresh, high, low, handled):
        assert waiting.escalated_at is None
    auditor = factory.principal(factory.user("auditor"))
    entries = audit.search(session=session, principal=auditor, action="alerts.escalate")
    assert [e.object_id for e in entries] == [str(overdue.id)]
    assert (
        entries[0].detail["to_users"] == ["chief", "sup-a"] and entries[0].detail["unacknowledged_s"] == 120
    )

    # Once is enough: the next pass leaves it; later, the high one's time comes too.
    assert alerts.escalate_overdue(session=session, limits=LIMITS, role="supervisor", now=now) == []
    later = now + dt.timedelta(seconds=181)
    assert {
        e.id for e in alerts.escalate_overdue(session=session, limits=LIMITS, role="supervisor", now=later)
    } == {
        fresh.id,
        high.id,
    }
    # An escalated alert is still acknowledged as any other.
    assert (
        alerts.acknowledge(session=session, principal=operator, alert_id=overdue.id).status == "acknowledged"
    )


@pytest.mark.anyio
async def test_the_escalation_flow_commits_and_publishes_to_the_live_feeds(
    own_db: tuple[str, sessionmaker[Session]],
) -> None:
    _url, factory_db = own_db
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = _camera(session, district)
        alert = _raise(
            session, camera, Severity.CRITICAL, "Armed men at the gate", utcnow() - dt.timedelta(minutes=3)
        )
        session.commit()
        alert_id = alert.id
    bus = MemoryBus()
    await bus.start()
    try:
        published: list[AlertOut] = []
        subscription = await bus.subscribe("alerts.>", durable="test-escalation")

        async def take() -> None:
            async for message in subscription:
                published.append(AlertOut.model_validate_json(message.data))
                await message.ack()
                return

        taker = asyncio.create_task(take())
        settings = AlertSettings(escalate_after_s={"critical": 120})
        out = await flows.escalate_once(session_factory=factory_db, bus=bus, settings=settings)
        await asyncio.wait_for(taker, 5)
    finally:
        await bus.close()
    assert [o.id for o in out] == [alert_id]
    assert published and published[0].id == alert_id and published[0].escalated_to_role == "supervisor"
    with factory_db() as session:
        stored = session.get(Alert, alert_id)
        assert stored is not None and stored.escalated_at is not None


def test_the_application_runs_the_escalation_loop(db_url: str, tmp_path: Path, settings: Settings) -> None:
    """Started where the other periodic flows start: a critical alert left alone is escalated by itself."""
    quick = settings.model_copy(
        update={"alerts": AlertSettings(escalate_after_s={"critical": 0.5}, escalate_every_s=0.2)}
    )
    with serve(quick, db_url, tmp_path) as app, app.services.session_factory() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = _camera(session, district)
        alert = alerts.raise_alert(
            session=session,
            kind="analytics.intrusion",
            severity=Severity.CRITICAL,
            title="Nobody looks",
            source="t",
            camera_id=camera.id,
        )
        session.commit()

        alert_id = alert.id
        session.close()  # each look below in a short transaction of its own: SQLite has one writer

        def escalated() -> bool:
            with app.services.session_factory() as look:
                stored = look.get(Alert, alert_id)
                return stored is not None and stored.escalated_at is not None

        wait_until(escalated, within=20, message="the application never escalated the alert")


# --- a camera back online -------------------------------------------------------------------------------


def _status(camera: Camera, state: CameraState) -> CameraStatus:
    return CameraStatus(
        camera_id=camera.id, name=camera.name, district_id=camera.district_id, state=state, since=utcnow()
    )


@pytest.mark.anyio
async def test_a_recovered_camera_closes_its_offline_alert(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    _url, factory_db = own_db
    with factory_db() as session:
        seed.reference_data(session=session)
        district = org.district_by_code(session=session, code="PSW")
        assert district is not None
        camera = _camera(session, district, "Hashtnagri Gate")
        other = _camera(session, district, "Firdous Chowk")
        session.commit()
    bus = MemoryBus()
    await bus.start()
    runtime = VideoRuntime(settings, factory_db, bus)  # not started: its health handling alone
    try:
        for cam in (camera, other):
            await runtime._status_changed(
                CameraState.ONLINE, CameraState.OFFLINE, _status(cam, CameraState.OFFLINE)
            )
        with factory_db() as session:
            opened = {
                a.camera_id: a for a in session.scalars(select(Alert).where(Alert.kind == "camera.offline"))
            }
            assert {a.status for a in opened.values()} == {AlertStatus.NEW}
            # An operator has seen to the other camera's alert already: it keeps their record.
            seen = opened[other.id]
            seen.status = AlertStatus.ACKNOWLEDGED
            seen.acknowledged_by_name = "op-a"
            seen.acknowledged_at = utcnow()
            session.commit()

        for cam in (camera, other):
            await runtime._status_changed(
                CameraState.OFFLINE, CameraState.ONLINE, _status(cam, CameraState.ONLINE)
            )
    finally:
        await bus.close()

    with factory_db() as session:
        found = list(session.scalars(select(Alert).where(Alert.camera_id == camera.id)))
        assert len(found) == 1, "a recovery adds no alert to the queue"
        closed = found[0]
        assert closed.status == AlertStatus.RESOLVED and closed.acknowledged_by_name == "system"
        assert closed.acknowledged_at is not None
        assert closed.ack_note is not None and "back online" in closed.ack_note
        assert closed.ack_note.startswith("Auto-resolved")
        kept = session.scalars(select(Alert).where(Alert.camera_id == other.id)).one()
        assert (kept.status, kept.acknowledged_by_name) == (AlertStatus.ACKNOWLEDGED, "op-a")


def test_resolving_is_audited_and_a_resolved_alert_cannot_be_acknowledged(
    session: Session, factory: Factory
) -> None:
    district = factory.district()
    camera = _camera(session, district)
    key = f"camera.offline:{camera.id}"
    offline = alerts.raise_alert(
        session=session,
        kind="camera.offline",
        severity=Severity.HIGH,
        title="Gate A is offline",
        source=CAMERA_HEALTH,
        camera_id=camera.id,
        dedup_key=key,
    )
    assert alerts.resolve(session=session, source="another-system", dedup_key=key, note="x") is None
    closed = alerts.resolve(session=session, source=CAMERA_HEALTH, dedup_key=key, note="Auto-resolved: back")
    assert closed is not None and closed.id == offline.id and closed.status == AlertStatus.RESOLVED
    auditor = factory.principal(factory.user("auditor"))
    entries = audit.search(session=session, principal=auditor, action="alerts.resolve")
    assert [e.object_id for e in entries] == [str(offline.id)] and entries[0].actor_name == "system"
    operator = factory.principal(factory.user("operator", districts=[district]))
    with pytest.raises(Conflict, match="resolved already, by system"):
        alerts.acknowledge(session=session, principal=operator, alert_id=offline.id)
    # It went offline again: a new alert opens (the closed one no longer folds repeats).
    again = alerts.raise_alert(
        session=session,
        kind="camera.offline",
        severity=Severity.HIGH,
        title="Gate A is offline",
        source=CAMERA_HEALTH,
        camera_id=camera.id,
        dedup_key=key,
    )
    assert again.id != offline.id and again.status == AlertStatus.NEW


# --- preferences and the console's fragment -------------------------------------------------------------


def test_preferences_are_stored_per_user_and_audited(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    me = factory.user("operator", districts=[district])
    other = factory.user("operator", districts=[district])
    client = login_as(me)
    first = client.get("/api/v1/alerts/preferences").json()
    assert first == {
        "severities": [3, 4],
        "sound": True,
        "notifications": True,
        "muted": False,
        "stored": False,
    }
    saved = client.put(
        "/api/v1/alerts/preferences", json={"severities": [4, 2], "muted": True, "sound": False}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {
        "severities": [2, 4],
        "sound": False,
        "notifications": True,
        "muted": True,
        "stored": True,
    }
    assert client.put("/api/v1/alerts/preferences", json={"severities": [7]}).status_code == 422
    session.expire_all()
    stored = session.get(AlertPreference, me.id)
    assert stored is not None and stored.muted and stored.severities == [2, 4]
    assert session.get(AlertPreference, other.id) is None
    assert login_as(other).get("/api/v1/alerts/preferences").json()["muted"] is False
    auditor = factory.principal(factory.user("auditor"))
    entries = audit.search(session=session, principal=auditor, action="alerts.preferences")
    assert entries and entries[0].actor_name == me.username and entries[0].detail["muted"] is True


def test_the_console_fragment_links_the_camera_at_the_alerts_time_and_stays_in_scope(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    camera = _camera(session, a)
    at = dt.datetime(2026, 12, 5, 21, 4, 5, tzinfo=dt.UTC)
    alert = _raise(session, camera, Severity.CRITICAL, "<b>Intrusion</b>", at)
    session.commit()
    client = login_as(factory.user("operator", districts=[a]))
    page = client.get(f"/console/alerts/{alert.id}")
    assert page.status_code == 200
    assert f'href="/cameras/{camera.id}?at=2026-12-05T21%3A04%3A05Z"' in page.text
    assert "&lt;b&gt;Intrusion&lt;/b&gt;" in page.text and "<b>Intrusion" not in page.text
    assert "Escalate into an incident" in page.text and "Acknowledge</button>" in page.text
    console = client.get("/console", params={"alert": str(alert.id)})
    assert console.status_code == 200 and f'data-selected-id="{alert.id}"' in console.text
    outsider = login_as(factory.user("operator", districts=[b]))
    assert outsider.get(f"/console/alerts/{alert.id}").status_code == 404
    assert outsider.get(f"/console/alerts/{uuid.uuid4()}").status_code == 404
    owner = login_as(factory.user("camera_owner"))
    assert owner.get("/console/video").status_code == 403
    assert json.loads(client.get("/api/v1/alerts/preferences").text)["stored"] is False
