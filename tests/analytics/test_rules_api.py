"""Analytics rules through the API (validated, scoped, audited), the events API, and migration 0011."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.models import AnalyticsRule
from safecity.analytics.schemas import LineCrossing, ZoneIntrusion
from safecity.analytics.stats import AnalyticsStats, CameraAnalyticsStats
from safecity.audit.models import AuditEntry
from safecity.cameras.models import Camera, Owner
from safecity.config import Settings
from safecity.events import service as events
from safecity.events.schemas import EventIn
from safecity.org.models import District
from safecity.runtime import Services

if TYPE_CHECKING:  # tests/analytics/conftest.py takes the name `conftest` in this directory
    from conftest import Factory

LINE = {
    "kind": "line_crossing",
    "name": "Gate line",
    "line": [[0.1, 0.6], [0.9, 0.55]],
    "direction": "left_to_right",
}
ZONE = {
    "kind": "zone_intrusion",
    "name": "Roof",
    "zone": [[0.2, 0.1], [0.5, 0.1], [0.5, 0.4], [0.2, 0.4]],
    "classes": ["person", "car"],
    "severity": 3,
    "schedule": [{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}],
}


def add_camera(session: Session, district: District, name: str, **fields: Any) -> Camera:
    camera = Camera(
        name=name,
        district_id=district.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://10.0.0.9/1",
        **fields,
    )
    session.add(camera)
    session.flush()
    return camera


@dataclass
class Place:
    a: District
    b: District
    cam_a: Camera
    cam_b: Camera


@pytest.fixture
def place(factory: Factory) -> Place:
    a, b = factory.district(), factory.district()
    return Place(a, b, add_camera(factory.session, a, "Chowk A"), add_camera(factory.session, b, "Chowk B"))


def rules_url(camera: Camera) -> str:
    return f"/api/v1/cameras/{camera.id}/rules"


def audit_actions(session: Session, object_id: str) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.object_id == object_id).order_by(AuditEntry.seq)
    return list(session.scalars(query))


# --- rules: CRUD, validation, scope, audit ----------------------------------------------------------


def test_a_supervisor_draws_changes_and_removes_rules(
    factory: Factory, place: Place, session: Session, login_as: Callable[..., TestClient]
) -> None:
    supervisor = factory.user("supervisor", districts=[place.a])
    client = login_as(supervisor)
    line = client.post(rules_url(place.cam_a), json=LINE)
    assert line.status_code == 201, line.text
    zone = client.post(rules_url(place.cam_a), json=ZONE)
    assert zone.status_code == 201, zone.text
    body = zone.json()
    assert body["kind"] == "zone_intrusion" and body["enabled"] is True
    assert body["updated_by"] == str(supervisor.id)
    assert body["config"]["zone"] == ZONE["zone"]
    assert body["config"]["schedule"] == [{"days": ["sat", "sun"], "start": "22:00:00", "end": "06:00:00"}]

    listed = client.get(rules_url(place.cam_a)).json()
    assert [r["name"] for r in listed] == ["Gate line", "Roof"]  # by name
    assert listed[0]["config"]["line"] == LINE["line"] and listed[0]["config"]["direction"] == "left_to_right"

    rule_url = f"{rules_url(place.cam_a)}/{body['id']}"
    disabled = client.put(
        rule_url, params={"expected_updated_at": body["updated_at"]}, json={**ZONE, "enabled": False}
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False and disabled.json()["updated_at"] > body["updated_at"]
    # A second screen still holding the first version must not overwrite the change.
    stale = client.put(
        rule_url, params={"expected_updated_at": body["updated_at"]}, json={**ZONE, "severity": 4}
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_rule"

    assert client.delete(rule_url).status_code == 204
    assert client.delete(rule_url).status_code == 404
    assert [r["name"] for r in client.get(rules_url(place.cam_a)).json()] == ["Gate line"]
    assert audit_actions(session, body["id"]) == [
        "analytics.rule.create",
        "analytics.rule.update",
        "analytics.rule.delete",
    ]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({**ZONE, "zone": [[0.1, 0.1], [0.2, 0.2]]}, "zone_intrusion.zone", "at least 3 points"),
        ({**ZONE, "zone": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}, "zone_intrusion.zone", "no area"),
        (
            {**ZONE, "zone": [[0.1, 0.1], [1.5, 0.2], [0.3, 0.9]]},
            "zone_intrusion.zone.1.0",
            "less than or equal to 1",
        ),
        ({**LINE, "line": [[0.5, 0.5], [0.5, 0.5]]}, "line_crossing.line", "the same"),
        (
            {**LINE, "kind": "counting_line", "line": [[0.1, 0.5], [1.2, 0.5]]},
            "counting_line.line.1.0",
            "less than or equal to 1",
        ),
        ({**LINE, "classes": ["dragon"]}, "line_crossing.classes", "unknown classes"),
        ({**LINE, "kind": "teleport"}, "", "does not match any of the expected tags"),
        ({**LINE, "name": ""}, "line_crossing.name", "at least 1 character"),
        ({**ZONE, "kind": "crowd", "max_count": 0}, "crowd.max_count", "greater than or equal to 1"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_422(
    factory: Factory,
    place: Place,
    login_as: Callable[..., TestClient],
    body: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    client = login_as(factory.user("supervisor", districts=[place.a]))
    response = client.post(rules_url(place.cam_a), json=body)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and problem in d["problem"] for d in details), details
    assert client.get(rules_url(place.cam_a)).json() == []


def test_names_are_unique_per_camera(
    factory: Factory, place: Place, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("supervisor"))
    assert client.post(rules_url(place.cam_a), json=LINE).status_code == 201
    again = client.post(rules_url(place.cam_a), json={**ZONE, "name": LINE["name"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_rule_name"
    assert client.post(rules_url(place.cam_b), json=LINE).status_code == 201  # another camera: fine
    other = client.post(rules_url(place.cam_a), json=ZONE).json()
    renamed = client.put(f"{rules_url(place.cam_a)}/{other['id']}", json={**ZONE, "name": LINE["name"]})
    assert renamed.status_code == 409


def test_rules_stay_within_the_cameras_scope(
    factory: Factory, place: Place, session: Session, login_as: Callable[..., TestClient]
) -> None:
    rule = analytics.create_rule(
        session=session,
        principal=factory.principal(factory.user("supervisor")),
        camera_id=place.cam_b.id,
        config=LineCrossing.model_validate(LINE),
    )
    in_a = login_as(factory.user("supervisor", districts=[place.a]))
    assert in_a.get(rules_url(place.cam_b)).status_code == 404
    assert in_a.post(rules_url(place.cam_b), json=ZONE).status_code == 404
    assert in_a.put(f"{rules_url(place.cam_b)}/{rule.id}", json=LINE).status_code == 404
    assert in_a.delete(f"{rules_url(place.cam_b)}/{rule.id}").status_code == 404
    # A rule id of camera B reached through camera A is no rule of camera A.
    assert in_a.delete(f"{rules_url(place.cam_a)}/{rule.id}").status_code == 404

    operator = login_as(factory.user("operator", districts=[place.b]))
    assert [r["id"] for r in operator.get(rules_url(place.cam_b)).json()] == [str(rule.id)]
    refused = operator.post(rules_url(place.cam_b), json=ZONE)
    assert refused.status_code == 403 and "analytics.manage" in refused.json()["error"]["message"]

    # A shop owner sees their own camera, but only the police draw analytics on it.
    owner = factory.user("camera_owner")
    own_camera = add_camera(session, place.a, "Shop front", owner=Owner.COMMERCIAL)
    assert login_as(owner).post(rules_url(own_camera), json=ZONE).status_code == 403


def test_the_runtime_reads_enabled_rules_of_a_camera(
    factory: Factory, place: Place, session: Session
) -> None:
    supervisor = factory.principal(factory.user("supervisor"))
    line = analytics.create_rule(
        session=session,
        principal=supervisor,
        camera_id=place.cam_a.id,
        config=LineCrossing.model_validate(LINE),
    )
    analytics.create_rule(
        session=session,
        principal=supervisor,
        camera_id=place.cam_a.id,
        config=ZoneIntrusion.model_validate({**ZONE, "enabled": False}),
    )
    found = analytics.rules_for_camera(session=session, camera_id=place.cam_a.id)
    assert [(rule_id, type(config)) for rule_id, config in found] == [(line.id, LineCrossing)]
    assert found[0][1].line == ((0.1, 0.6), (0.9, 0.55))
    with_rules = analytics.cameras_with_rules(session=session)
    assert place.cam_a.id in with_rules and place.cam_b.id not in with_rules


def test_removing_a_camera_removes_its_rules(factory: Factory, place: Place, session: Session) -> None:
    rule = analytics.create_rule(
        session=session,
        principal=factory.principal(factory.user("supervisor")),
        camera_id=place.cam_a.id,
        config=LineCrossing.model_validate(LINE),
    )
    rule_id = rule.id
    session.delete(place.cam_a)
    session.flush()
    session.expire_all()
    assert session.get(AnalyticsRule, rule_id) is None


# --- the analytics status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedStats:
    """A StatsSource reporting fixed figures, standing in for the runtime of another process."""

    figures: AnalyticsStats

    def stats(self) -> AnalyticsStats:
        return self.figures


def camera_stats(camera: Camera, fps: float) -> CameraAnalyticsStats:
    return CameraAnalyticsStats(
        camera_id=camera.id,
        name=camera.name,
        fps=fps,
        detect_fps=fps / 2,
        motion=True,
        tracks=3,
        events=7,
        rejected_frames=1,
        last_event_at=dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC),
        last_error=None,
    )


def test_the_status_shows_only_the_callers_cameras(
    factory: Factory, place: Place, services: Services, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("operator", districts=[place.a]))
    assert client.get("/api/v1/analytics/status").json() == {
        "running": False,
        "detector": None,
        "cameras": [],
        "total_fps": 0.0,
        "detect_fps": 0.0,
        "detector_ms_p50": None,
        "detector_ms_p95": None,
        "queue_drops": 0,
    }
    figures = AnalyticsStats(
        detector="ssd_mobilenet_v2",
        cameras=[camera_stats(place.cam_a, 5.0), camera_stats(place.cam_b, 4.0)],
        total_fps=9.0,
        detect_fps=4.5,
        detector_ms_p50=21.0,
        detector_ms_p95=40.5,
        queue_drops=2,
    )
    services.analytics = FixedStats(figures)
    status = client.get("/api/v1/analytics/status").json()
    assert status["running"] is True and status["detector"] == "ssd_mobilenet_v2"
    assert [c["name"] for c in status["cameras"]] == ["Chowk A"]
    assert status["cameras"][0]["fps"] == 5.0 and status["cameras"][0]["tracks"] == 3
    assert (status["detector_ms_p95"], status["queue_drops"]) == (40.5, 2)
    assert login_as(factory.user("camera_owner")).get("/api/v1/analytics/status").status_code == 403


# --- the events API: camera and kind filters, one event, its snapshot -------------------------------

T0 = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


def analytics_event(camera: Camera, kind: str, minutes: int, **payload: Any) -> EventIn:
    return EventIn(
        id=uuid.uuid4(),
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        kind=kind,
        source="analytics",
        district_id=camera.district_id,
        camera_id=camera.id,
        severity=2,
        payload={"camera_name": camera.name, "rule_name": "Gate line", **payload},
    )


def test_search_by_camera_and_kind_prefix(factory: Factory, place: Place, session: Session) -> None:
    sent = [
        analytics_event(place.cam_a, "analytics.line_crossing", 0),
        analytics_event(place.cam_a, "analytics.loitering", 1),
        analytics_event(place.cam_a, "camera.offline", 2),
        analytics_event(place.cam_b, "analytics.line_crossing", 3),
        # "_" and "%" are LIKE wildcards: a prefix holding them must match only itself.
        analytics_event(place.cam_a, "analyticsx.other", 4),
    ]
    events.record_many(session=session, events=sent)
    everyone = factory.principal(factory.user("supervisor"))

    def ids(**filters: Any) -> list[uuid.UUID]:
        window = {"since": T0, "until": T0 + dt.timedelta(hours=1)}
        return [e.id for e in events.search(session=session, principal=everyone, **window, **filters)]

    assert ids(camera_id=place.cam_a.id, kind_prefix="analytics.") == [sent[1].id, sent[0].id]
    assert ids(kind_prefix="analytics.") == [sent[3].id, sent[1].id, sent[0].id]
    assert ids(kind_prefix="analytics_") == []
    assert ids(camera_id=place.cam_b.id) == [sent[3].id]
    assert ids(kind="analytics.loitering") == [sent[1].id]
    stored = events.get_event(session=session, principal=everyone, event_id=sent[0].id)
    assert stored.camera_id == place.cam_a.id


def test_the_api_filters_events_and_reads_one(
    factory: Factory, place: Place, session: Session, login_as: Callable[..., TestClient]
) -> None:
    in_a, in_b = (
        analytics_event(place.cam_a, "analytics.crowd", 0),
        analytics_event(place.cam_b, "analytics.crowd", 1),
    )
    events.record_many(session=session, events=[in_a, in_b])
    client = login_as(factory.user("operator", districts=[place.a]))
    window = {"since": T0.isoformat(), "until": (T0 + dt.timedelta(hours=1)).isoformat()}
    found = client.get(
        "/api/v1/events", params={**window, "kind_prefix": "analytics.", "camera_id": str(place.cam_a.id)}
    )
    assert [e["id"] for e in found.json()] == [str(in_a.id)]
    assert found.json()[0]["camera_id"] == str(place.cam_a.id)
    assert client.get("/api/v1/events", params={**window, "camera_id": str(place.cam_b.id)}).json() == []
    assert client.get("/api/v1/events", params={"kind_prefix": "Analytics%"}).status_code == 422
    assert client.get(f"/api/v1/events/{in_a.id}").json()["payload"]["camera_name"] == "Chowk A"
    assert client.get(f"/api/v1/events/{in_b.id}").status_code == 404  # another district's: not there


@pytest.fixture
def jpeg() -> bytes:
    """A real photograph as JPEG (scikit-image's motorcycle), as the pipeline would write a snapshot."""
    from skimage import data

    left, _right, _disparity = data.stereo_motorcycle()
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(left, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def test_the_snapshot_is_served_from_the_snapshots_dir_only(
    factory: Factory,
    place: Place,
    session: Session,
    settings: Settings,
    jpeg: bytes,
    login_as: Callable[..., TestClient],
) -> None:
    relative = f"{place.cam_a.id}/2026-11-22/{uuid.uuid4()}.jpg"
    (settings.snapshots_dir / relative).parent.mkdir(parents=True)
    (settings.snapshots_dir / relative).write_bytes(jpeg)
    secret = settings.data_dir / "secret.jpg"  # beside the snapshots, not among them
    secret.write_bytes(jpeg)
    good = analytics_event(place.cam_a, "analytics.line_crossing", 0, snapshot=relative)
    tricks = [
        analytics_event(place.cam_a, "analytics.line_crossing", 1, snapshot="../secret.jpg"),
        analytics_event(place.cam_a, "analytics.line_crossing", 2, snapshot=str(secret)),
        analytics_event(place.cam_a, "analytics.line_crossing", 3, snapshot=f"{place.cam_a.id}/missing.jpg"),
        analytics_event(place.cam_a, "analytics.line_crossing", 4),
    ]
    elsewhere = analytics_event(place.cam_b, "analytics.line_crossing", 5, snapshot=relative)
    events.record_many(session=session, events=[good, *tricks, elsewhere])
    client = login_as(factory.user("operator", districts=[place.a]))

    served = client.get(f"/api/v1/events/{good.id}/snapshot.jpg")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.content == jpeg
    for event in tricks:
        refused = client.get(f"/api/v1/events/{event.id}/snapshot.jpg")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "no_snapshot"
    assert client.get(f"/api/v1/events/{elsewhere.id}/snapshot.jpg").status_code == 404
    admin = login_as(factory.user("admin"))  # no alerts.read
    assert admin.get(f"/api/v1/events/{good.id}/snapshot.jpg").status_code == 403


# --- the pages --------------------------------------------------------------------------------------


def test_the_pages_show_rules_read_only_and_filter_events(
    factory: Factory, place: Place, session: Session, login_as: Callable[..., TestClient]
) -> None:
    analytics.create_rule(
        session=session,
        principal=factory.principal(factory.user("supervisor")),
        camera_id=place.cam_a.id,
        config=LineCrossing.model_validate(LINE),
    )
    crossing = analytics_event(place.cam_a, "analytics.line_crossing", 0, rule_name="North gate")
    crowd = analytics_event(place.cam_a, "analytics.crowd", 1, rule_name="Square")
    events.record_many(session=session, events=[crossing, crowd])
    operator = login_as(factory.user("operator", districts=[place.a]))

    editor = operator.get(f"/cameras/{place.cam_a.id}/analytics")
    assert editor.status_code == 200
    assert "Gate line" in editor.text and 'data-can-manage="no"' in editor.text
    assert 'data-testid="rule-form"' not in editor.text  # cameras.read sees the rules, cannot change them
    assert operator.get(f"/cameras/{place.cam_b.id}/analytics").status_code == 404

    # 10:00 Karachi time is 05:00 UTC (T0): the window holds the crossing, not the crowd a minute later.
    page = operator.get(
        "/analytics/events",
        params={"camera_id": str(place.cam_a.id), "since": "2026-11-22T10:00", "until": "2026-11-22T10:01"},
    )
    assert page.status_code == 200
    assert f'id="event-{crossing.id}"' in page.text and f'id="event-{crowd.id}"' not in page.text
    assert f"/cameras/{place.cam_a.id}?at=2026-11-22T10%3A00%3A00%2B05%3A00#playback" in page.text
    by_kind = operator.get("/analytics/events", params={"kind": "crowd", "since": "2026-11-22T09:00"})
    assert f'id="event-{crowd.id}"' in by_kind.text and f'id="event-{crossing.id}"' not in by_kind.text
    assert "not a date" in operator.get("/analytics/events", params={"since": "yesterday"}).text
