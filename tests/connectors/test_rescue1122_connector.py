"""Rescue 1122 both ways against a real HTTP service on 127.0.0.1: our fire, medical and road-accident
incidents reach them when opened and when their status changes (once per status; a failure waits and is
tried again, never on the incident's own request), and their incidents reach us through the signed webhook,
once each, with a timeline note; a forged, unsigned or stale call gets 401 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.connectors.rescue1122 import service as rescue
from safecity.connectors.rescue1122.links import RestRescue, RestRescueConfig
from safecity.connectors.rescue1122.models import Delivery
from safecity.core.crypto import sign_body
from safecity.core.db import utcnow
from safecity.incidents import service as incidents
from safecity.incidents.models import Category, Incident, Source, Status
from safecity.incidents.schemas import IncidentIn
from safecity.org.models import District

HMAC_KEY = "rescue-shared-key-5b1e"


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service("/rescue/v1") as found:
        yield found


def link(service: Service, **changes: object) -> RestRescue:
    config = {
        "url": service.url,
        "token": TOKEN,
        "timeout_s": 0.4,
        "retries": 0,
        "push_every_s": 5,
        **changes,
    }
    return RestRescue(RestRescueConfig.model_validate(config))


@pytest.fixture
def district(factory: Factory) -> District:
    return factory.district()


@pytest.fixture
def operator(factory: Factory, district: District) -> Principal:
    return factory.principal(factory.user("operator", districts=[district]))


def _open(session: Session, operator: Principal, district: District, category: Category) -> Incident:
    return incidents.create_incident(
        session=session,
        principal=operator,
        data=IncidentIn(district_id=district.id, category=category, priority=2, address="GT Road, Peshawar"),
    )


def test_our_incidents_they_serve_reach_them_once_per_status(
    service: Service, session: Session, operator: Principal, district: District
) -> None:
    service.answer("incidents", {"received": True}, method="POST", status=201)
    fire = _open(session, operator, district, Category.FIRE)
    _open(session, operator, district, Category.STREET_CRIME)  # not theirs
    crash = _open(session, operator, district, Category.TRAFFIC_ACCIDENT)
    to_them = link(service)
    assert rescue.deliver_pending(session=session, link=to_them) == (2, 0)
    sent = [json.loads(r.body) for r in service.requests]
    assert sorted(m["id"] for m in sent) == sorted([str(fire.id), str(crash.id)])
    assert {m["status"] for m in sent} == {"new"} and "caller_phone" not in sent[0]
    assert all(r.authorisation == f"Bearer {TOKEN}" for r in service.requests)
    assert rescue.deliver_pending(session=session, link=to_them) == (0, 0)  # nothing new to tell
    incidents.change_status(
        session=session,
        principal=operator,
        incident_id=fire.id,
        status=Status.ON_SCENE,
        reason="fire tender on scene",
        version=fire.version,
    )
    assert rescue.deliver_pending(session=session, link=to_them) == (1, 0)
    last = json.loads(service.requests[-1].body)
    assert (last["id"], last["status"]) == (str(fire.id), "on_scene")
    deliveries = session.scalars(select(AuditEntry).where(AuditEntry.action == "rescue1122.deliver")).all()
    assert len(deliveries) == 3


@pytest.mark.parametrize(
    ("answer", "status", "delay"),
    [
        ({"error": "down"}, 503, 0.0),
        ({}, 201, 2.0),  # hangs past the timeout
        ({"error": "who are you"}, 401, 0.0),
        ("<html>Service Unavailable</html>", 200, 0.0),
    ],
)
def test_a_failed_delivery_waits_and_is_tried_again(
    service: Service,
    session: Session,
    operator: Principal,
    district: District,
    answer: Any,
    status: int,
    delay: float,
) -> None:
    service.answer("incidents", answer, method="POST", status=status, delay_s=delay)
    fire = _open(session, operator, district, Category.MEDICAL)
    to_them = link(service)
    now = utcnow()
    assert rescue.deliver_pending(session=session, link=to_them, now=now) == (0, 1)
    row = session.scalars(select(Delivery).where(Delivery.incident_id == fire.id)).one()
    assert row.attempts == 1 and row.delivered_status is None and row.last_error
    assert row.next_try_at is not None and row.next_try_at > now
    asked = len(service.requests)
    assert rescue.deliver_pending(session=session, link=to_them, now=now) == (
        0,
        0,
    )  # waiting out its back-off
    assert len(service.requests) == asked
    service.answer("incidents", None, method="POST", status=204)
    later = now + dt.timedelta(seconds=11)
    assert rescue.deliver_pending(session=session, link=to_them, now=later) == (1, 0)
    assert (row.attempts, row.delivered_status, row.last_error) == (0, "new", None)


def test_an_incident_is_logged_without_calling_their_hanging_service(
    service: Service,
    factory: Factory,
    district: District,
    login_as: Callable[..., TestClient],
) -> None:
    service.answer("incidents", {}, method="POST", delay_s=5)
    admin = login_as(factory.user("admin"))
    saved = admin.put(
        "/api/v1/connectors/Rescue 1122",
        json={"type": "rescue1122.rest", "config": {"url": service.url, "timeout_s": 3}},
    )
    assert saved.status_code == 200, saved.text
    operator = login_as(factory.user("operator", districts=[district]))
    logged = operator.post("/api/v1/incidents", json={"district_id": str(district.id), "category": "fire"})
    assert logged.status_code == 201, logged.text
    assert service.requests == []  # the request did not call them: the background loop delivers


def _signed(body: bytes, *, key: str = HMAC_KEY, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {
        "X-Timestamp": stamp,
        "X-Signature": sign_body(key, stamp, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def webhook(
    service: Service, factory: Factory, login_as: Callable[..., TestClient], district: District
) -> str:
    admin = login_as(factory.user("admin"))
    saved = admin.put(
        "/api/v1/connectors/Rescue 1122",
        json={
            "type": "rescue1122.rest",
            "config": {"url": service.url, "default_district": district.code, "max_skew_s": 60},
            "secrets": {"hmac_key": HMAC_KEY},
        },
    )
    assert saved.status_code == 200 and saved.json()["secrets"] == {"token": "not set", "hmac_key": "set"}
    return "/api/v1/connectors/rescue1122/incidents"


def their(remote_id: str = "R-2026-0042", **overrides: Any) -> bytes:
    data = {
        "id": remote_id,
        "category": "road_accident",
        "title": "Bus overturned near Chamkani",
        "description": "Two injured; ambulance 14 on its way",
        "priority": 1,
        "latitude": 34.01,
        "longitude": 71.62,
        "address": "GT Road, Chamkani",
        **overrides,
    }
    return json.dumps(data).encode()


def test_their_incident_becomes_ours_once_with_a_timeline_note(
    webhook: str, client: TestClient, session: Session, district: District
) -> None:
    body = their()
    first = client.post(webhook, content=body, headers=_signed(body))
    assert first.status_code == 200, first.text
    made = first.json()
    assert made["status"] == "created" and made["replayed"] is False
    again = client.post(webhook, content=body, headers=_signed(body))
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["incident_id"] == made["incident_id"]
    session.expire_all()
    (incident,) = session.scalars(select(Incident).where(Incident.source == Source.RESCUE1122)).all()
    assert (incident.category, incident.priority, incident.district_id) == (
        Category.TRAFFIC_ACCIDENT,
        1,
        district.id,
    )
    assert any(e.kind == "note" and "R-2026-0042" in e.text for e in incident.events)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (lambda body: {"Content-Type": "application/json"}, "unsigned"),
        (lambda body: _signed(body, key="not-the-key"), "bad_signature"),
        (lambda body: _signed(body + b" "), "bad_signature"),
        (lambda body: _signed(body, at=time.time() - 3600), "stale_timestamp"),
    ],
)
def test_a_forged_unsigned_or_stale_call_gets_401_and_changes_nothing(
    webhook: str, client: TestClient, session: Session, headers: Callable[[bytes], dict[str, str]], code: str
) -> None:
    body = their()
    refused = client.post(webhook, content=body, headers=headers(body))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == code, refused.text
    session.expire_all()
    assert session.scalars(select(Incident).where(Incident.source == Source.RESCUE1122)).all() == []
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "rescue1122.receive", AuditEntry.outcome == "denied")
    ).all()
    assert [e.detail["reason"] for e in denied] == [code]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (their(category="flood"), "bad_rescue_incident"),
        (their(district="NOWHERE"), "unknown_district"),
        (b"<html>not json</html>", "bad_rescue_incident"),
    ],
)
def test_a_signed_body_that_does_not_fit_is_refused(
    webhook: str, client: TestClient, body: bytes, code: str
) -> None:
    answer = client.post(webhook, content=body, headers=_signed(body))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == code, answer.text
