"""Incidents: numbering, the status lifecycle, SOPs, timeline, links, escalation from alerts, scope, API."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import create_session_factory
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.events.alerts import service as alerts
from safecity.events.alerts.models import AlertStatus
from safecity.incidents import service
from safecity.incidents.models import Category, Incident, IncidentCounter, LinkKind, Source, Status
from safecity.incidents.schemas import IncidentIn
from safecity.org.models import District, Province


@dataclass
class Room:
    """Two districts, an operator and a dispatcher in A, an operator in B."""

    a: District
    b: District
    operator_a: Principal
    dispatcher_a: Principal
    operator_b: Principal


@pytest.fixture
def room(factory: Factory) -> Room:
    a, b = factory.district(), factory.district()
    return Room(
        a,
        b,
        factory.principal(factory.user("operator", districts=[a])),
        factory.principal(factory.user("dispatcher", districts=[a])),
        factory.principal(factory.user("operator", districts=[b])),
    )


def _open(
    session: Session, principal: Principal, category: Category = Category.FIRE, **kw: object
) -> Incident:
    data = IncidentIn(category=category, description="Smoke from a shop", **kw)  # type: ignore[arg-type]
    return service.create_incident(session=session, principal=principal, data=data)


def _camera(session: Session, district: District) -> Camera:
    camera = Camera(
        name="Chowk Yadgar 1",
        district_id=district.id,
        latitude=34.008,
        longitude=71.578,
        stream_url="rtsp://10.0.0.9/1",
    )
    session.add(camera)
    session.flush()
    return camera


def test_numbers_are_sequential_per_district_and_year(session: Session, room: Room, factory: Factory) -> None:
    province_wide = factory.principal(factory.user("operator"))
    year = dt.datetime.now(dt.UTC).year
    first = _open(session, room.operator_a)
    second = _open(session, room.operator_a, Category.MEDICAL)
    other = _open(session, room.operator_b)
    third = _open(session, province_wide, district_id=room.a.id)
    assert [first.number, second.number, third.number] == [
        f"{room.a.code}-{year}-000001",
        f"{room.a.code}-{year}-000002",
        f"{room.a.code}-{year}-000003",
    ]
    assert other.number == f"{room.b.code}-{year}-000001"
    assert (
        service.next_number(session=session, district=room.a, year=year + 1)
        == f"{room.a.code}-{year + 1}-000001"
    )


def test_two_concurrent_call_takers_never_share_a_number(engine: Engine) -> None:
    """Two real connections take numbers at once; the counter row lock orders them."""
    factory = create_session_factory(engine)
    with factory() as setup:
        province = setup.scalars(select(Province)).first()
        if province is None:
            province = Province(code="KP", name="Khyber Pakhtunkhwa")
            setup.add(province)
            setup.flush()
        code = f"C{uuid.uuid4().hex[:5].upper()}"
        district = District(
            province_id=province.id, code=code, name=f"Concurrent {code}", latitude=34, longitude=71
        )
        setup.add(district)
        setup.commit()
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def take(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(n):
                with factory() as s:
                    numbers.append(
                        service.next_number(session=s, district=s.get(District, district.id), year=2026)
                    )  # type: ignore[arg-type]
                    s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(10,)) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert sorted(numbers) == [f"{code}-2026-{i:06d}" for i in range(1, 21)]
        # A call-taker whose transaction is still open holds the next one back until it commits.
        with factory() as first:
            taken = service.next_number(session=first, district=first.get(District, district.id), year=2026)  # type: ignore[arg-type]
            waiter = threading.Thread(target=take, args=(1,))
            barrier.reset()
            barrier_partner = threading.Thread(target=barrier.wait, kwargs={"timeout": 10})
            barrier_partner.start()
            waiter.start()
            waiter.join(timeout=0.5)
            assert waiter.is_alive(), "the second transaction must wait for the first"
            first.commit()
        waiter.join(timeout=30)
        assert not errors, errors
        assert (taken, numbers[-1]) == (f"{code}-2026-000021", f"{code}-2026-000022")
    finally:
        with factory() as s:
            s.execute(delete(IncidentCounter).where(IncidentCounter.district_id == district.id))
            s.execute(delete(District).where(District.id == district.id))
            s.commit()


def test_status_moves_with_reasons_and_refuses_bad_moves(session: Session, room: Room) -> None:
    incident = _open(session, room.operator_a)
    incident = service.change_status(
        session=session,
        principal=room.dispatcher_a,
        incident_id=incident.id,
        status=Status.DISPATCHED,
        reason="Rescue 1122 and PS Khan Raziq mobile sent",
        version=1,
    )
    assert (incident.status, incident.version) == (Status.DISPATCHED, 2)
    with pytest.raises(Conflict) as stale:
        service.change_status(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            status=Status.ON_SCENE,
            reason="arrived",
            version=1,
        )
    assert stale.value.code == "stale_version"
    with pytest.raises(Conflict) as bad:
        service.change_status(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            status=Status.CLOSED,
            reason="done",
            version=2,
        )
    assert bad.value.code == "invalid_transition"
    with pytest.raises(InvalidInput):
        service.change_status(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            status=Status.ON_SCENE,
            reason="   ",
            version=2,
        )
    for version, status in (
        (2, Status.ON_SCENE),
        (3, Status.RESOLVED),
        (4, Status.ON_SCENE),
        (5, Status.RESOLVED),
        (6, Status.CLOSED),
    ):
        service.change_status(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            status=status,
            reason=f"step to {status.value}",
            version=version,
            open_steps_reason="a drill: no step was needed",
        )
    assert incident.status == Status.CLOSED
    statuses = [e.detail["to"] for e in incident.events if e.kind == "status"]
    assert statuses == ["dispatched", "on_scene", "resolved", "on_scene", "resolved", "closed"]
    assert "reopened" in [e.text for e in incident.events if e.kind == "status"][3]
    assert incident.events[1].detail["reason"] == "Rescue 1122 and PS Khan Raziq mobile sent"
    with pytest.raises(Conflict):
        service.change_status(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            status=Status.ON_SCENE,
            reason="reopen a closed one",
            version=7,
        )


def test_sop_items_per_category_and_ticks_on_the_timeline(session: Session, room: Room) -> None:
    fire = _open(session, room.operator_a, Category.FIRE)
    women = _open(session, room.operator_a, Category.WOMENS_SAFETY)
    assert fire.sop_items[0].text == "Inform Rescue 1122 and the fire brigade"
    assert any("trapped" in i.text for i in fire.sop_items)
    assert women.sop_items[0].text == "Keep the caller on the line and reassure her"
    assert any("female officer" in i.text for i in women.sop_items)
    assert all(service.sop_templates()[c] for c in Category), "every category has a checklist"
    item = fire.sop_items[1]
    service.tick_sop(
        session=session, principal=room.dispatcher_a, incident_id=fire.id, item_id=item.id, done=True
    )
    assert item.done_at is not None and item.done_by == room.dispatcher_a.user_id
    service.tick_sop(
        session=session, principal=room.dispatcher_a, incident_id=fire.id, item_id=item.id, done=True
    )
    service.tick_sop(
        session=session, principal=room.operator_a, incident_id=fire.id, item_id=item.id, done=False
    )
    assert item.done_at is None
    sop_lines = [e for e in fire.events if e.kind == "sop"]
    assert [e.detail["done"] for e in sop_lines] == [True, False]
    assert sop_lines[0].actor_name == room.dispatcher_a.username and item.text in sop_lines[0].text
    with pytest.raises(NotFound):
        service.tick_sop(
            session=session, principal=room.operator_a, incident_id=women.id, item_id=item.id, done=True
        )


def test_escalating_an_alert_links_it_and_acknowledges_it(session: Session, room: Room) -> None:
    camera = _camera(session, room.a)
    alert = alerts.raise_alert(
        session=session,
        kind="analytics.crowd",
        severity=3,
        title="Crowd gathering",
        source="analytics",
        camera_id=camera.id,
    )
    incident = service.escalate_alert(
        session=session,
        principal=room.operator_a,
        alert_id=alert.id,
        category=Category.STREET_CRIME,
        priority=2,
    )
    assert (incident.source, incident.district_id, incident.title) == (
        Source.ALERT,
        room.a.id,
        "Crowd gathering",
    )
    assert (incident.latitude, incident.longitude) == (camera.latitude, camera.longitude)
    assert {(link.kind, link.ref_id) for link in incident.links} == {
        (LinkKind.ALERT, alert.id),
        (LinkKind.CAMERA, camera.id),
    }
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.ack_note == f"escalated to {incident.number}"
    with pytest.raises(Conflict) as again:
        service.escalate_alert(
            session=session, principal=room.operator_a, alert_id=alert.id, category=Category.OTHER, priority=3
        )
    assert incident.number in again.value.message
    # An alert acknowledged already is still linked.
    acked = alerts.raise_alert(
        session=session,
        kind="camera.offline",
        severity=2,
        title="Gate offline",
        source="camera-health",
        district_id=room.a.id,
    )
    alerts.acknowledge(session=session, principal=room.operator_a, alert_id=acked.id, note="seen")
    second = service.escalate_alert(
        session=session,
        principal=room.operator_a,
        alert_id=acked.id,
        category=Category.OTHER,
        priority=4,
        title="Camera vandalised",
    )
    assert [link.ref_id for link in second.links] == [acked.id] and acked.ack_note == "seen"
    # Another district's alert does not exist for district A.
    alert_b = alerts.raise_alert(
        session=session,
        kind="camera.offline",
        severity=2,
        title="B offline",
        source="camera-health",
        district_id=room.b.id,
    )
    with pytest.raises(NotFound):
        service.escalate_alert(
            session=session,
            principal=room.operator_a,
            alert_id=alert_b.id,
            category=Category.OTHER,
            priority=3,
        )


def test_a_district_a_dispatcher_never_sees_district_b(session: Session, room: Room) -> None:
    mine = _open(session, room.operator_a)
    theirs = _open(session, room.operator_b)
    seen = service.list_incidents(session=session, principal=room.dispatcher_a)
    assert [i.id for i in seen] == [mine.id]
    with pytest.raises(NotFound):
        service.get_incident(session=session, principal=room.dispatcher_a, incident_id=theirs.id)
    with pytest.raises(NotFound):
        service.add_note(session=session, principal=room.dispatcher_a, incident_id=theirs.id, text="hello")
    with pytest.raises(PermissionDenied):
        service.list_incidents(session=session, principal=room.dispatcher_a, district_id=room.b.id)
    with pytest.raises(PermissionDenied):
        _open(session, room.operator_a, district_id=room.b.id)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0300 1234567", "+923001234567"),
        ("+92 345-1234567", "+923451234567"),
        ("00923129876543", "+923129876543"),
    ],
)
def test_caller_phones_are_normalised(session: Session, room: Room, given: str, stored: str) -> None:
    assert _open(session, room.operator_a, caller_phone=given).caller_phone == stored


def test_a_bad_phone_is_refused(session: Session, room: Room) -> None:
    with pytest.raises(InvalidInput):
        _open(session, room.operator_a, caller_phone="12345")


def test_attachments_are_stored_with_their_hash_and_downloads_audited(
    session: Session, room: Room, tmp_path: Path
) -> None:
    root = tmp_path / "attachments"
    incident = _open(session, room.operator_a)
    link = service.attach_file(
        session=session,
        principal=room.operator_a,
        incident_id=incident.id,
        file_name="../../etc/photo of scene.jpg",
        content_type="image/jpeg",
        data=b"\xff\xd8 jpeg bytes",
        root=root,
    )
    assert link.file_name == "photo_of_scene.jpg"
    assert (root / str(incident.id)).is_dir()
    got, data = service.read_attachment(
        session=session, principal=room.dispatcher_a, incident_id=incident.id, link_id=link.id, root=root
    )
    assert data == b"\xff\xd8 jpeg bytes" and got.sha256 == link.sha256
    reads = audit.search(
        session=session,
        principal=Principal(uuid.uuid4(), "auditor", frozenset({"audit.read"}), None),
        action="incidents.attachment.read",
    )
    assert reads and reads[0].actor_name == room.dispatcher_a.username
    with pytest.raises(InvalidInput):
        service.attach_file(
            session=session,
            principal=room.operator_a,
            incident_id=incident.id,
            file_name="big.bin",
            content_type="application/octet-stream",
            data=b"x" * (10 * 1024 * 1024 + 1),
            root=root,
        )


# --- the API ------------------------------------------------------------------------------------


def test_api_call_taker_flow(factory: Factory, login_as: Callable[..., TestClient], session: Session) -> None:
    a = factory.district()
    client = login_as(factory.user("operator", districts=[a]))
    created = client.post(
        "/api/v1/incidents",
        json={
            "category": "womens_safety",
            "priority": 1,
            "description": "Caller followed by two men on a motorcycle",
            "caller_name": "Ayesha",
            "caller_phone": "0333 1234567",
            "address": "University Road, near Board Bazaar",
            "latitude": 34.0,
            "longitude": 71.49,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["caller_phone"] == "+923331234567" and body["status"] == "new"
    assert body["title"] == "Women's safety at University Road, near Board Bazaar"
    iid = body["id"]
    item = body["sop_items"][0]["id"]
    assert client.post(f"/api/v1/incidents/{iid}/sop/{item}", json={"done": True}).json()["done_at"]
    moved = client.post(
        f"/api/v1/incidents/{iid}/status",
        json={"status": "dispatched", "reason": "Lady constable sent", "version": 1},
    )
    assert moved.status_code == 200 and moved.json()["version"] == 2
    stale = client.post(
        f"/api/v1/incidents/{iid}/status", json={"status": "on_scene", "reason": "x", "version": 1}
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    assert (
        client.post(
            f"/api/v1/incidents/{iid}/priority", json={"priority": 2, "reason": "Caller safe", "version": 2}
        ).status_code
        == 200
    )
    assert (
        client.post(f"/api/v1/incidents/{iid}/notes", json={"text": "Caller reached a shop"}).status_code
        == 201
    )
    up = client.post(
        f"/api/v1/incidents/{iid}/attachments",
        json={
            "file_name": "note.txt",
            "content_type": "text/plain",
            "data_base64": base64.b64encode(b"hello").decode(),
        },
    )
    assert up.status_code == 201, up.text
    down = client.get(f"/api/v1/incidents/{iid}/attachments/{up.json()['id']}")
    assert base64.b64decode(down.json()["data_base64"]) == b"hello"
    detail = client.get(f"/api/v1/incidents/{iid}").json()
    assert [e["kind"] for e in detail["events"]] == ["created", "sop", "status", "priority", "note", "link"]
    listed = client.get(
        "/api/v1/incidents", params={"status": "dispatched", "category": "womens_safety"}
    ).json()
    assert [i["number"] for i in listed] == [body["number"]] and "caller_phone" not in listed[0]
    assert client.get("/api/v1/incidents", params={"status": "closed"}).json() == []


@pytest.mark.parametrize(
    "bad",
    [
        {"category": "alien_invasion"},
        {"category": "fire", "priority": 0},
        {"category": "fire", "priority": 5},
        {"category": "fire", "latitude": 34.0},
        {"category": "fire", "caller_phone": "042-1234567"},
        {"category": "fire", "unknown": 1},
        {"category": "fire", "source": "alert"},
    ],
)
def test_api_bad_input_is_422(
    bad: dict[str, object], factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a = factory.district()
    client = login_as(factory.user("operator", districts=[a]))
    response = client.post("/api/v1/incidents", json=bad)
    assert response.status_code == 422, response.text


def test_api_escalate_and_scope(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a, b = factory.district(), factory.district()
    camera = _camera(session, a)
    alert = alerts.raise_alert(
        session=session,
        kind="analytics.loitering",
        severity=3,
        title="Loitering at gate",
        source="analytics",
        camera_id=camera.id,
    )
    client_a = login_as(factory.user("supervisor", districts=[a]))
    client_b = login_as(factory.user("supervisor", districts=[b]))
    assert (
        client_b.post(f"/api/v1/alerts/{alert.id}/escalate", json={"category": "street_crime"}).status_code
        == 404
    )
    response = client_a.post(
        f"/api/v1/alerts/{alert.id}/escalate", json={"category": "street_crime", "priority": 1}
    )
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["source"] == "alert" and len(incident["links"]) == 2
    assert client_a.get(f"/api/v1/alerts/{alert.id}").json()["status"] == "acknowledged"
    assert client_b.get(f"/api/v1/incidents/{incident['id']}").status_code == 404
    assert client_b.get("/api/v1/incidents").json() == []


# --- the pages ----------------------------------------------------------------------------------


def test_pages_call_taker_to_closing(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    client = login_as(factory.user("operator", districts=[a]))
    form = client.get("/incidents/new")
    assert form.status_code == 200 and "/static/incidents.js" in form.text and "<script>" not in form.text
    refused = client.post("/incidents/new", data={"category": "fire", "caller_phone": "12345"})
    assert "Pakistani mobile number" in refused.text
    made = client.post(
        "/incidents/new",
        data={
            "category": "fire",
            "priority": "1",
            "caller_name": "Imran",
            "caller_phone": "0301-7654321",
            "address": "Qissa Khwani Bazaar",
            "latitude": "34.0085",
            "longitude": "71.5725",
            "description": "Shop on fire, people on the first floor",
        },
    )
    assert made.status_code == 204, made.text
    url = made.headers["HX-Redirect"]
    page = client.get(url)
    assert "+923017654321" in page.text and "Inform Rescue 1122 and the fire brigade" in page.text
    incident = session.get(Incident, uuid.UUID(url.rsplit("/", 1)[1]))
    assert incident is not None
    item = incident.sop_items[0]
    assert client.post(f"{url}/sop/{item.id}", data={"done": "true"}).status_code == 204
    assert (
        client.post(
            f"{url}/status", data={"status": "dispatched", "reason": "Fire tender sent", "version": "1"}
        ).status_code
        == 204
    )
    stale = client.post(f"{url}/status", data={"status": "on_scene", "reason": "x", "version": "1"})
    assert "changed by someone else" in stale.text
    assert client.post(f"{url}/notes", data={"text": "Two people rescued"}).status_code == 204
    upload = client.post(f"{url}/attachments", files={"file": ("scene.jpg", b"\xff\xd8jpeg", "image/jpeg")})
    assert upload.status_code == 204, upload.text
    page = client.get(url)
    assert "Fire tender sent" in page.text and "Two people rescued" in page.text and "scene.jpg" in page.text
    listing = client.get("/incidents")
    assert incident.number in listing.text and "prio-1" in listing.text
    assert incident.number not in client.get("/incidents", params={"status": "closed"}).text


def test_the_incident_page_pulls_up_the_cameras_near_the_scene(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a, b = factory.district(), factory.district()
    scene = (34.0085, 71.5725)  # Qissa Khwani Bazaar

    def camera(name: str, district: District, north_m: float, **kw: object) -> Camera:
        made = Camera(
            name=name,
            district_id=district.id,
            latitude=scene[0] + north_m / 111_195,  # metres of latitude per degree
            longitude=scene[1],
            stream_url=f"rtsp://10.0.0.9/{name}",
            **kw,
        )
        session.add(made)
        session.flush()
        return made

    near = camera("Bazaar gate", a, 150)
    further = camera("Police post", a, -600)
    camera("Cantonment", a, 3_000)  # out of reach
    camera("Switched off", a, 50, enabled=False)
    camera("Next district", b, 80)  # not the reader's
    operator = factory.user("operator", districts=[a])
    incident = _open(
        session, factory.principal(operator), latitude=scene[0], longitude=scene[1], address="Qissa Khwani"
    )
    service.link(
        session=session,
        principal=factory.principal(operator),
        incident_id=incident.id,
        kind=LinkKind.CAMERA,
        ref_id=near.id,
    )
    session.commit()

    page = login_as(operator).get(f"/incidents/{incident.id}")
    assert page.status_code == 200
    shown = page.text.split('data-testid="nearby-cameras"', 1)[1].split("</ul>", 1)[0]
    assert "Bazaar gate" in shown and "Police post" in shown
    assert shown.index("Bazaar gate") < shown.index("Police post")
    assert "150 m" in shown and "600 m" in shown
    for absent in ("Cantonment", "Switched off", "Next district"):
        assert absent not in shown
    # Each opens the camera's recording from a minute before the call; so does the linked camera.
    at = (incident.created_at - dt.timedelta(minutes=1)).astimezone(dt.UTC).isoformat().replace("+", "%2B")
    assert f'href="/cameras/{near.id}?at={at.replace(":", "%3A")}#playback"' in page.text
    assert f"/cameras/{further.id}?at=" in shown
    links = page.text.split('data-testid="links"', 1)[1].split("</table>", 1)[0]
    assert f"/cameras/{near.id}?at=" in links
