"""Every API route for every role: allowed exactly when the role's permissions say so; no district leaks.

The expectations below are written out by hand (not read from the code under test), and a route that is
added without an entry here fails `test_every_api_route_is_in_the_matrix`.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, object_session

import safecity.auth
from conftest import Factory
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn
from safecity.audit import service as audit
from safecity.events import service as events
from safecity.events.alerts import service as alerts
from safecity.events.schemas import EventIn
from safecity.org.models import District, PoliceStation, Site

# Synopses and exports asked for here run in the request's own thread (conftest.lanes_inline).
pytestmark = pytest.mark.usefixtures("lanes_inline")

ROLES: dict[str, dict[str, Any]] = tomllib.loads(
    (Path(safecity.auth.__file__).parent / "roles.toml").read_text(encoding="utf-8")
)


FACES_ANY = "faces.search|faces.read|faces.confirm|faces.enrol|faces.authorise|faces.oversee"


@dataclass
class World:
    """Two districts with records in each, and a target user in district A."""

    a: District
    b: District
    station_b: PoliceStation
    site_b: Site
    target_id: uuid.UUID
    user_b_id: uuid.UUID


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # FastAPI path template
    permission: str | None  # None: anyone logged in
    request: Callable[[World], tuple[str, dict[str, Any] | None]]


def _place(world: World) -> dict[str, Any]:
    return {
        "district_id": str(world.a.id),
        "name": f"Place {uuid.uuid4().hex[:6]}",
        "latitude": 34.0,
        "longitude": 71.5,
    }


def _matrix_premises(world: World) -> uuid.UUID:
    """Premises of the acting camera owner (the only one in a test), or of a bystander for other roles."""
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from safecity.auth.models import UserRole
    from safecity.cameras.models import Premises

    session = object_session(world.a)
    assert session is not None
    owner_id = session.scalars(select(UserRole.user_id).where(UserRole.role_name == "camera_owner")).first()
    premises = Premises(
        owner_user_id=owner_id or world.target_id,
        district_id=world.a.id,
        name="Matrix shop",
        organisation="Matrix traders",
        contact_phone="+923001234567",
        latitude=34.0,
        longitude=71.5,
    )
    session.add(premises)
    session.flush()
    return premises.id


def _matrix_camera(world: World) -> uuid.UUID:
    """A commercial camera in district A awaiting review; its stream (a missing file) fails checks at once."""
    from sqlalchemy.orm import object_session

    from safecity.cameras.models import Approval, Camera, Owner

    session = object_session(world.a)
    assert session is not None
    camera = Camera(
        name=f"Matrix cam {uuid.uuid4().hex[:6]}",
        district_id=world.a.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="/nonexistent/matrix.mp4",
        owner=Owner.COMMERCIAL,
        approval=Approval.PENDING,
        tags=[],
    )
    session.add(camera)
    session.flush()
    return camera.id


def _matrix_camera_body(world: World) -> dict[str, Any]:
    return {
        "name": f"Cam {uuid.uuid4().hex[:6]}",
        "district_id": str(world.a.id),
        "latitude": 34.0,
        "longitude": 71.5,
        "stream_url": "rtsp://10.0.0.1/stream1",
    }


def _alert(world: World) -> str:
    """A new alert in district A, committed on the world's session so the app sees it."""
    session = object_session(world.a)
    assert session is not None
    alert = alerts.raise_alert(
        session=session,
        kind="camera.offline",
        severity=3,
        title="Gate offline",
        source="camera-health",
        district_id=world.a.id,
    )
    session.commit()
    return str(alert.id)


def _export_request(
    method: str, tail: str, body: dict[str, Any] | None
) -> Callable[[World], tuple[str, dict[str, Any] | None]]:
    """A request to an export route of a case that exists nowhere."""
    path = tail.format(export_id=uuid.uuid4(), media="m1", region="m1", key="m1")
    return lambda w: (f"/api/v1/cases/{uuid.uuid4()}/exports{path}", body)


def _case_request(
    tail: str, body: dict[str, Any] | None
) -> Callable[[World], tuple[str, dict[str, Any] | None]]:
    """A request to a route of a case that exists nowhere (a purpose or reason where one is asked)."""
    path = tail.format(
        item_id=uuid.uuid4(), task_id=uuid.uuid4(), user_id=uuid.uuid4(), district_id=uuid.uuid4()
    )
    query = ""
    if not tail:
        query = "?purpose=matrix+check"
    elif tail.startswith(("/items/", "/members/", "/shares/")):  # removals ask for the reason
        query = "?reason=matrix"
    return lambda w: (f"/api/v1/cases/{uuid.uuid4()}{path}{query}", body)


def _forensic_period() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"plate": "LEA1234", "since": (now - dt.timedelta(hours=2)).isoformat(), "until": now.isoformat()}


def _recorded_camera(world: World) -> tuple[uuid.UUID, dt.datetime]:
    """A camera of district A with one recorded segment (its row: playlists read the index), committed."""
    from safecity.cameras.models import Camera
    from safecity.video.models import Recording

    session = object_session(world.a)
    assert session is not None
    camera = Camera(name="Matrix gate", district_id=world.a.id, latitude=34.0, longitude=71.5, stream_url="")
    session.add(camera)
    session.flush()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    path = f"{camera.id}/matrix.mp4"
    session.add(
        Recording(
            camera_id=camera.id,
            start=start,
            end=start + dt.timedelta(seconds=10),
            path=path,
            bytes=2048,
            init_bytes=512,
            sha256="0" * 64,
        )
    )
    session.commit()
    return camera.id, start


def _forensic_search(world: World) -> dict[str, Any]:
    camera_id, _ = _recorded_camera(world)
    period = _forensic_period()
    return {
        "purpose": "FIR 1/2026 search",
        "since": period["since"],
        "until": period["until"],
        "camera_ids": [str(camera_id)],
    }


def _synopsis(world: World) -> dict[str, Any]:
    camera_id, start = _recorded_camera(world)
    since, until = start.isoformat(), (start + dt.timedelta(seconds=10)).isoformat()
    return {"camera_id": str(camera_id), "since": since, "until": until, "purpose": "FIR 1/2026 synopsis"}


def _route_playlist(world: World) -> str:
    camera_id, start = _recorded_camera(world)
    since, until = start.isoformat(), (start + dt.timedelta(seconds=10)).isoformat()
    return "/api/v1/forensics/route.m3u8?" + urlencode({"span": f"{camera_id},{since},{until}"})


CASES = [
    Case("GET", "/api/v1/auth/me", None, lambda w: ("/api/v1/auth/me", None)),
    Case("GET", "/api/v1/users", "users.read", lambda w: ("/api/v1/users", None)),
    Case(
        "POST",
        "/api/v1/users",
        "users.manage",
        lambda w: (
            "/api/v1/users",
            {
                "username": f"new{uuid.uuid4().hex[:8]}",
                "password": "a long enough password",
                "roles": ["admin"],  # only the admin role holds users.manage, and grants only its own
                "district_ids": [str(w.a.id)],
            },
        ),
    ),
    Case("GET", "/api/v1/users/{user_id}", "users.read", lambda w: (f"/api/v1/users/{w.target_id}", None)),
    Case(
        "PUT",
        "/api/v1/users/{user_id}/access",
        "users.manage",
        lambda w: (
            f"/api/v1/users/{w.target_id}/access",
            {"roles": ["operator", "admin"], "district_ids": [str(w.a.id)]},  # keeps what the target had
        ),
    ),
    Case(
        "POST",
        "/api/v1/users/{user_id}/disable",
        "users.manage",
        lambda w: (f"/api/v1/users/{w.target_id}/disable", {}),
    ),
    Case(
        "POST",
        "/api/v1/users/{user_id}/enable",
        "users.manage",
        lambda w: (f"/api/v1/users/{w.target_id}/enable", {}),
    ),
    Case(
        "POST",
        "/api/v1/users/{user_id}/end-sessions",
        "users.manage",
        lambda w: (f"/api/v1/users/{w.target_id}/end-sessions", {}),
    ),
    Case(
        "POST",
        "/api/v1/users/{user_id}/reset-mfa",
        "users.manage",
        lambda w: (f"/api/v1/users/{w.target_id}/reset-mfa", {}),
    ),
    Case(
        "POST",
        "/api/v1/users/{user_id}/reset-password",
        "users.manage",
        lambda w: (f"/api/v1/users/{w.target_id}/reset-password", {}),
    ),
    Case("GET", "/api/v1/roles", "users.read", lambda w: ("/api/v1/roles", None)),
    Case(
        "PUT",
        "/api/v1/roles/{name}/permissions",
        "roles.manage",
        lambda w: ("/api/v1/roles/auditor/permissions", {"permissions": ROLES["auditor"]["permissions"]}),
    ),
    Case("GET", "/api/v1/permissions", "users.read", lambda w: ("/api/v1/permissions", None)),
    Case("GET", "/api/v1/tokens", "tokens.manage", lambda w: ("/api/v1/tokens", None)),
    Case(
        "POST",
        "/api/v1/tokens",
        "tokens.manage",
        lambda w: ("/api/v1/tokens", {"name": "gw", "permissions": ["tokens.manage"]}),
    ),
    Case(
        "DELETE",
        "/api/v1/tokens/{token_id}",
        "tokens.manage",
        lambda w: (f"/api/v1/tokens/{uuid.uuid4()}", None),
    ),
    Case("GET", "/api/v1/districts", "org.read", lambda w: ("/api/v1/districts", None)),
    Case(
        "GET", "/api/v1/districts/{district_id}", "org.read", lambda w: (f"/api/v1/districts/{w.a.id}", None)
    ),
    Case("GET", "/api/v1/stations", "org.read", lambda w: ("/api/v1/stations", None)),
    Case("POST", "/api/v1/stations", "org.manage", lambda w: ("/api/v1/stations", _place(w))),
    Case("GET", "/api/v1/sites", "org.read", lambda w: ("/api/v1/sites", None)),
    Case("POST", "/api/v1/sites", "org.manage", lambda w: ("/api/v1/sites", _place(w))),
    Case("GET", "/api/v1/audit", "audit.read", lambda w: ("/api/v1/audit", None)),
    Case("POST", "/api/v1/audit/verify", "audit.read", lambda w: ("/api/v1/audit/verify", {})),
    Case("GET", "/api/v1/workers", "cluster.read", lambda w: ("/api/v1/workers", None)),
    # the province over its district centres: hits and plate reads state a purpose
    Case("GET", "/api/v1/federation/centres", "org.read", lambda w: ("/api/v1/federation/centres", None)),
    Case("GET", "/api/v1/federation/alerts", "alerts.read", lambda w: ("/api/v1/federation/alerts", None)),
    Case(
        "GET",
        "/api/v1/federation/incidents",
        "incidents.read",
        lambda w: ("/api/v1/federation/incidents", None),
    ),
    Case(
        "GET",
        "/api/v1/federation/hits",
        "plates.read",
        lambda w: ("/api/v1/federation/hits?purpose=matrix", None),
    ),
    Case(
        "GET",
        "/api/v1/federation/centres/{centre}/cameras/{camera_id}/snapshot.jpg",
        "video.live",
        lambda w: (
            f"/api/v1/federation/centres/lhr/cameras/{uuid.uuid4()}/snapshot.jpg?purpose=matrix",
            None,
        ),
    ),
    Case(
        "GET",
        "/api/v1/federation/centres/{centre}/cameras/{camera_id}/live.mjpeg",
        "video.live",
        lambda w: (f"/api/v1/federation/centres/lhr/cameras/{uuid.uuid4()}/live.mjpeg?purpose=matrix", None),
    ),
    Case(
        "GET",
        "/api/v1/federation/centres/{centre}/cameras/{camera_id}/playback.m3u8",
        "video.playback",
        lambda w: (
            f"/api/v1/federation/centres/lhr/cameras/{uuid.uuid4()}/playback.m3u8?{_DAY}&purpose=matrix",
            None,
        ),
    ),
    Case(
        "GET",
        "/api/v1/federation/centres/{centre}/recordings/{recording_id}/segment.mp4",
        "video.playback",
        lambda w: (f"/api/v1/federation/centres/lhr/recordings/{uuid.uuid4()}/segment.mp4", None),
    ),
    Case(
        "GET",
        "/api/v1/federation/plates",
        "plates.read",
        lambda w: ("/api/v1/federation/plates?q=LEA1234&purpose=matrix", None),
    ),
    Case("GET", "/api/v1/events", "alerts.read", lambda w: ("/api/v1/events", None)),
    Case(
        "POST",
        "/api/v1/cameras/discover",
        "cameras.manage",
        # The loopback and the discard port: nothing answers, so the scan ends at once and finds nothing.
        lambda w: ("/api/v1/cameras/discover", {"network": "127.0.0.1/32", "ports": [9]}),
    ),
    Case("GET", "/api/v1/cameras/status", "cameras.read", lambda w: ("/api/v1/cameras/status", None)),
    # No camera exists in this world: a role allowed to watch gets 404, one that is not gets 403 first.
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/snapshot.jpg",
        "video.live",
        lambda w: (f"/api/v1/cameras/{uuid.uuid4()}/snapshot.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/live.mjpeg",
        "video.live",
        lambda w: (f"/api/v1/cameras/{uuid.uuid4()}/live.mjpeg", None),
    ),
    Case("GET", "/api/v1/wall", "video.live", lambda w: ("/api/v1/wall", None)),
    Case("PUT", "/api/v1/wall", "video.live", lambda w: ("/api/v1/wall", {"layout": 4, "camera_ids": []})),
    # Recorded video. No camera, recording or clip exists in this world: a role allowed to play back or
    # export gets 404, one that is not gets 403 first.
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/timeline",
        "video.playback",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/timeline?since=2026-11-22T00:00:00Z&until=2026-11-22T01:00:00Z",
            None,
        ),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/playback.m3u8",
        "video.playback",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/playback.m3u8?since=2026-11-22T00:00:00Z&until=2026-11-22T01:00:00Z",
            None,
        ),
    ),
    Case(
        "GET",
        "/api/v1/recordings/{recording_id}/segment.mp4",
        "video.playback",
        lambda w: (f"/api/v1/recordings/{uuid.uuid4()}/segment.mp4", None),
    ),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/clips",
        "video.export",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/clips",
            {"t0": "2026-11-22T00:00:00Z", "t1": "2026-11-22T00:01:00Z"},
        ),
    ),
    Case("GET", "/api/v1/clips/{clip_id}", "video.export", lambda w: (f"/api/v1/clips/{uuid.uuid4()}", None)),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/recordings/lock",
        "video.export",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/recordings/lock",
            {"since": "2026-11-22T00:00:00Z", "until": "2026-11-22T00:01:00Z", "reason": "FIR 1/2026"},
        ),
    ),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/recordings/unlock",
        "video.export",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/recordings/unlock",
            {"since": "2026-11-22T00:00:00Z", "until": "2026-11-22T00:01:00Z", "reason": "FIR 1/2026"},
        ),
    ),
    Case("GET", "/api/v1/cameras", "cameras.read", lambda w: ("/api/v1/cameras", None)),
    Case("POST", "/api/v1/cameras", "cameras.manage", lambda w: ("/api/v1/cameras", _matrix_camera_body(w))),
    Case(
        "POST",
        "/api/v1/cameras/import",
        "cameras.manage",
        lambda w: (
            "/api/v1/cameras/import?dry_run=true",
            {
                "csv": "name,district_code,site,latitude,longitude,bearing,field_of_view,stream_url,"
                "substream_url,owner,owner_organisation,sharing,tags,retention_days\n"
                f"Imported,{w.a.code},,34.0,71.5,,,rtsp://10.0.0.2/s,,police,,continuous,,30\n"
            },
        ),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}",
        "cameras.read",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}", None),
    ),
    Case(
        "PATCH",
        "/api/v1/cameras/{camera_id}",
        "cameras.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}", {"name": "Renamed"}),
    ),
    Case(
        "DELETE",
        "/api/v1/cameras/{camera_id}",
        "cameras.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}", None),
    ),
    # Also allowed to the camera's owner (tested in tests/cameras); other owners are refused.
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/compliance",
        "cameras.manage|cameras.review",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/compliance", {}),
    ),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/review",
        "cameras.manage|cameras.review",
        lambda w: (
            f"/api/v1/cameras/{_matrix_camera(w)}/review",
            {"decision": "reject", "reason": "Blurred"},
        ),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/viewers",
        "cameras.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/viewers", None),
    ),
    # privacy masks (cameras/privacy)
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/privacy-masks",
        "cameras.read",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/privacy-masks", None),
    ),
    Case(
        "PUT",
        "/api/v1/cameras/{camera_id}/privacy-masks",
        "cameras.manage",
        lambda w: (
            f"/api/v1/cameras/{_matrix_camera(w)}/privacy-masks",
            {"masks": [{"name": "Window", "polygon": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]]}]},
        ),
    ),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/privacy-masks/unmask",
        "video.unmask",
        lambda w: (
            f"/api/v1/cameras/{_matrix_camera(w)}/privacy-masks/unmask",
            {"purpose": "FIR 12/2026", "minutes": 5},
        ),
    ),
    Case("GET", "/api/v1/privacy-unmasks", "audit.read", lambda w: ("/api/v1/privacy-unmasks", None)),
    Case("GET", "/api/v1/premises", "cameras.own", lambda w: ("/api/v1/premises", None)),
    Case(
        "POST",
        "/api/v1/premises",
        "cameras.own",
        lambda w: (
            "/api/v1/premises",
            {
                "name": "Shop",
                "organisation": "Traders",
                "contact_phone": "0300 1234567",
                "district_id": str(w.a.id),
                "latitude": 34.0,
                "longitude": 71.5,
            },
        ),
    ),
    Case(
        "GET",
        "/api/v1/premises/{premises_id}/cameras",
        "cameras.own",
        lambda w: (f"/api/v1/premises/{_matrix_premises(w)}/cameras", None),
    ),
    Case(
        "POST",
        "/api/v1/premises/{premises_id}/cameras",
        "cameras.own",
        lambda w: (
            f"/api/v1/premises/{_matrix_premises(w)}/cameras",
            {
                "name": "Door",
                "stream_url": "rtsp://203.0.113.1/live",
                "username": "shop",
                "password": "Str0ng-1",
            },
        ),
    ),
    Case("GET", "/api/v1/alerts", "alerts.read", lambda w: ("/api/v1/alerts", None)),
    Case(
        "GET",
        "/api/v1/alerts/stream",
        "alerts.read",
        lambda w: ("/api/v1/alerts/stream?max_seconds=0.05", None),  # ends soon, so the test reads it all
    ),
    Case("GET", "/api/v1/alerts/{alert_id}", "alerts.read", lambda w: (f"/api/v1/alerts/{_alert(w)}", None)),
    Case(
        "POST",
        "/api/v1/alerts",
        "alerts.raise",
        lambda w: (
            "/api/v1/alerts",
            {"kind": "vms.motion", "severity": 2, "title": "Motion", "district_id": str(w.a.id)},
        ),
    ),
    Case(
        "POST",
        "/api/v1/alerts/{alert_id}/ack",
        "alerts.handle",
        lambda w: (f"/api/v1/alerts/{_alert(w)}/ack", {}),
    ),
    Case(
        "POST",
        "/api/v1/alerts/{alert_id}/dismiss",
        "alerts.handle",
        lambda w: (f"/api/v1/alerts/{_alert(w)}/dismiss", {"reason": "camera cleaned, false alarm"}),
    ),
    # dispatch (agencies, units, recommendation, assignment, ack); helpers at the end of this file
    Case("GET", "/api/v1/agencies", "incidents.read", lambda w: ("/api/v1/agencies", None)),
    Case("GET", "/api/v1/units", "incidents.read", lambda w: ("/api/v1/units", None)),
    Case("POST", "/api/v1/units", "dispatch.manage", lambda w: ("/api/v1/units", _dispatch_unit_body(w))),
    Case(
        "GET",
        "/api/v1/units/{unit_id}",
        "incidents.read",
        lambda w: (f"/api/v1/units/{_dispatch_unit(w)}", None),
    ),
    Case(
        "POST",
        "/api/v1/units/{unit_id}/status",
        "dispatch.manage",
        lambda w: (f"/api/v1/units/{_dispatch_unit(w)}/status", {"status": "off_duty"}),
    ),
    Case(
        "POST",
        "/api/v1/units/{unit_id}/position",
        "dispatch.manage",
        lambda w: (
            f"/api/v1/units/{_dispatch_unit(w)}/position",
            {"lat": 34.0, "lon": 71.5, "at": "2026-11-22T10:00:00Z"},
        ),
    ),
    Case(
        "GET",
        "/api/v1/incidents/{incident_id}/recommendations",
        "dispatch.manage",
        lambda w: (f"/api/v1/incidents/{_dispatch_incident(w)}/recommendations", None),
    ),
    Case(
        "GET",
        "/api/v1/incidents/{incident_id}/assignments",
        "incidents.read",
        lambda w: (f"/api/v1/incidents/{_dispatch_incident(w)}/assignments", None),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/assignments",
        "dispatch.manage",
        lambda w: (f"/api/v1/incidents/{_dispatch_incident(w)}/assignments", {"unit_id": _dispatch_unit(w)}),
    ),
    Case(
        "POST",
        "/api/v1/assignments/{assignment_id}/ack",
        "dispatch.manage",
        lambda w: (f"/api/v1/assignments/{_dispatch_assignment(w)}/ack", None),
    ),
    # incidents (log, read, lifecycle, SOPs, links, attachments, escalation); helper at the end of this file
    Case("GET", "/api/v1/incidents", "incidents.read", lambda w: ("/api/v1/incidents", None)),
    Case(
        "POST",
        "/api/v1/incidents",
        "incidents.manage",
        lambda w: ("/api/v1/incidents", {"category": "fire", "district_id": str(w.a.id)}),
    ),
    Case(
        "GET",
        "/api/v1/incidents/{incident_id}",
        "incidents.read",
        lambda w: (f"/api/v1/incidents/{_incident(w).id}", None),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/status",
        "incidents.manage",
        lambda w: (
            f"/api/v1/incidents/{_incident(w).id}/status",
            {"status": "dispatched", "reason": "Unit sent", "version": 1},
        ),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/priority",
        "incidents.manage",
        lambda w: (
            f"/api/v1/incidents/{_incident(w).id}/priority",
            {"priority": 1, "reason": "Weapons seen", "version": 1},
        ),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/notes",
        "incidents.manage",
        lambda w: (f"/api/v1/incidents/{_incident(w).id}/notes", {"text": "Caller called again"}),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/sop/{item_id}",
        "incidents.manage",
        lambda w: ("/api/v1/incidents/{0.id}/sop/{0.sop_items[0].id}".format(_incident(w)), {"done": True}),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/links",
        "incidents.manage",
        lambda w: (f"/api/v1/incidents/{_incident(w).id}/links", {"kind": "alert", "ref_id": _alert(w)}),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/attachments",
        "incidents.manage",
        lambda w: (
            f"/api/v1/incidents/{_incident(w).id}/attachments",
            {"file_name": "statement.txt", "content_type": "text/plain", "data_base64": "aGVsbG8="},
        ),
    ),
    Case(
        "GET",
        "/api/v1/incidents/{incident_id}/attachments/{link_id}",
        "incidents.read",
        lambda w: (f"/api/v1/incidents/{_incident(w).id}/attachments/{uuid.uuid4()}", None),
    ),
    Case(
        "POST",
        "/api/v1/alerts/{alert_id}/escalate",
        "incidents.manage",
        lambda w: (f"/api/v1/alerts/{_alert(w)}/escalate", {"category": "other"}),
    ),
    Case(
        "GET",
        "/api/v1/kpis",
        "kpis.read",
        lambda w: ("/api/v1/kpis?dispatch_target_s=30&arrival_target_s=300", None),
    ),
    Case("GET", "/api/v1/kpis/daily", "kpis.read", lambda w: ("/api/v1/kpis/daily", None)),
    # panic button and sharing with other agencies; helpers at the end of this file
    Case(
        "POST",
        "/api/v1/panic/registrations",
        "incidents.manage",
        lambda w: ("/api/v1/panic/registrations", {"phone": _random_phone(), "name": "Matrix citizen"}),
    ),
    Case(
        "POST",
        "/api/v1/panic",
        "panic.report",
        lambda w: ("/api/v1/panic", {"phone": _panic_phone(w), "lat": 34.0, "lon": 71.5}),
    ),
    Case(
        "POST",
        "/api/v1/panic/{incident_id}/position",
        "panic.report",
        lambda w: (
            f"/api/v1/panic/{_panic_incident(w)}/position",
            {"lat": 34.001, "lon": 71.5, "at": dt.datetime.now(dt.UTC).isoformat()},
        ),
    ),
    Case(
        "POST",
        "/api/v1/incidents/{incident_id}/shares",
        "dispatch.manage",
        lambda w: (f"/api/v1/incidents/{_shareable_incident(w)}/shares", {"agency_code": "rescue1122"}),
    ),
    Case("GET", "/api/v1/shared-incidents", "incidents.read", lambda w: ("/api/v1/shared-incidents", None)),
    # analytics rules, the analytics status and analytics events; helpers at the end of this file
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/rules",
        "cameras.read",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/rules", None),
    ),
    Case(
        "POST",
        "/api/v1/cameras/{camera_id}/rules",
        "analytics.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/rules", _matrix_rule_body()),
    ),
    Case(
        "PUT",
        "/api/v1/cameras/{camera_id}/rules/{rule_id}",
        "analytics.manage",
        lambda w: (_matrix_rule_url(w), _matrix_rule_body()),
    ),
    Case(
        "DELETE",
        "/api/v1/cameras/{camera_id}/rules/{rule_id}",
        "analytics.manage",
        lambda w: (_matrix_rule_url(w), None),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/detection",
        "cameras.read",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/detection", None),
    ),
    Case(
        "PUT",
        "/api/v1/cameras/{camera_id}/detection",
        "analytics.manage",
        lambda w: (
            f"/api/v1/cameras/{_matrix_camera(w)}/detection",
            {"tiling": False, "whole_frame": False, "classes": ["car", "person"], "min_score": 0.4},
        ),
    ),
    Case(
        "DELETE",
        "/api/v1/cameras/{camera_id}/detection",
        "analytics.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/detection", None),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/plates",
        "cameras.read",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/plates", None),
    ),
    Case(
        "PUT",
        "/api/v1/cameras/{camera_id}/plates",
        "analytics.manage",
        lambda w: (f"/api/v1/cameras/{_matrix_camera(w)}/plates", {"mode": "vehicles"}),
    ),
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/counts",
        "alerts.read",
        lambda w: (
            f"/api/v1/cameras/{_matrix_camera(w)}/counts?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z",
            None,
        ),
    ),
    Case("GET", "/api/v1/analytics/status", "cameras.read", lambda w: ("/api/v1/analytics/status", None)),
    # traffic: locations, counts and speeds, calibrations, sections, segments; helpers at the end of this file
    Case("GET", "/api/v1/traffic/locations", "traffic.read", lambda w: ("/api/v1/traffic/locations", None)),
    Case(
        "GET",
        "/api/v1/traffic/locations/{camera_id}",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/locations/{_matrix_camera(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/locations/{camera_id}/counts",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/locations/{_matrix_camera(w)}/counts?{_DAY}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/locations/{camera_id}/speeds",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/locations/{_matrix_camera(w)}/speeds?{_DAY}", None),
    ),
    Case(
        "PUT",
        "/api/v1/traffic/locations/{camera_id}/calibration",
        "traffic.manage",
        lambda w: _matrix_calibration(w),
    ),
    Case(
        "DELETE",
        "/api/v1/traffic/locations/{camera_id}/calibration/{calibration_id}",
        "traffic.manage",
        lambda w: (f"{_matrix_calibration(w)[0]}/{uuid.uuid4()}", None),
    ),
    Case("GET", "/api/v1/traffic/sections", "traffic.read", lambda w: ("/api/v1/traffic/sections", None)),
    Case(
        "POST",
        "/api/v1/traffic/sections",
        "traffic.manage",
        lambda w: ("/api/v1/traffic/sections", _matrix_section_body(w)),
    ),
    Case(
        "DELETE",
        "/api/v1/traffic/sections/{section_id}",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/sections/{uuid.uuid4()}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/sections/{section_id}/stats",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/sections/{uuid.uuid4()}/stats?{_DAY}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/sections/{section_id}/passages",
        "plates.read",
        lambda w: (f"/api/v1/traffic/sections/{uuid.uuid4()}/passages?{_DAY}&purpose=matrix", None),
    ),
    Case("GET", "/api/v1/traffic/segments", "traffic.read", lambda w: ("/api/v1/traffic/segments", None)),
    Case(
        "POST",
        "/api/v1/traffic/segments",
        "traffic.manage",
        lambda w: ("/api/v1/traffic/segments", _matrix_segment_body(w)),
    ),
    Case(
        "DELETE",
        "/api/v1/traffic/segments/{segment_id}",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/segments/{uuid.uuid4()}", None),
    ),
    Case(
        "GET",
        "/api/v1/events/stream",
        "alerts.read",
        lambda w: ("/api/v1/events/stream?max_seconds=0.05", None),  # ends soon, so the test reads it all
    ),
    Case(
        "GET",
        "/api/v1/events/{event_id}",
        "alerts.read",
        lambda w: (f"/api/v1/events/{_matrix_event(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/events/{event_id}/snapshot.jpg",
        "alerts.read",
        # The event has no snapshot: a 404 for those allowed, a 403 for the rest.
        lambda w: (f"/api/v1/events/{_matrix_event(w)}/snapshot.jpg", None),
    ),
    # face-match leads: read (faces.read), decided (faces.confirm), opened as an incident once confirmed
    # (incidents.manage); the ids are of no lead (a 404 for those allowed, a 403 for the rest)
    Case("GET", "/api/v1/faces/matches", "faces.read", lambda w: ("/api/v1/faces/matches", None)),
    Case(
        "GET",
        "/api/v1/faces/matches/reasons",
        "faces.read",
        lambda w: ("/api/v1/faces/matches/reasons", None),
    ),
    Case(
        "GET",
        "/api/v1/faces/matches/{match_id}",
        "faces.read",
        lambda w: (f"/api/v1/faces/matches/{uuid.uuid4()}", None),
    ),
    Case(
        "GET",
        "/api/v1/faces/matches/{match_id}/face.jpg",
        "faces.read",
        lambda w: (f"/api/v1/faces/matches/{uuid.uuid4()}/face.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/faces/matches/{match_id}/enrolled/{enrolment_id}.jpg",
        "faces.read",
        lambda w: (f"/api/v1/faces/matches/{uuid.uuid4()}/enrolled/{uuid.uuid4()}.jpg", None),
    ),
    Case(
        "POST",
        "/api/v1/faces/matches/{match_id}/decisions",
        "faces.confirm",
        lambda w: (f"/api/v1/faces/matches/{uuid.uuid4()}/decisions", {"decision": "confirm"}),
    ),
    Case(
        "POST",
        "/api/v1/faces/matches/{match_id}/incident",
        "incidents.manage",
        lambda w: (f"/api/v1/faces/matches/{uuid.uuid4()}/incident", {"priority": 2}),
    ),
    # hotlists: lists and their plates (plates.read, hotlists.manage), hits (alerts.*); helpers at the end
    Case("GET", "/api/v1/hotlists", "plates.read", lambda w: ("/api/v1/hotlists", None)),
    Case(
        "POST",
        "/api/v1/hotlists",
        "hotlists.manage",
        lambda w: ("/api/v1/hotlists", {"kind": "watch", "name": "Matrix list", "agency": "Matrix unit"}),
    ),
    Case("GET", "/api/v1/hotlists/precision", "plates.read", lambda w: ("/api/v1/hotlists/precision", None)),
    Case("GET", "/api/v1/hotlists/hits", "alerts.read", lambda w: ("/api/v1/hotlists/hits", None)),
    Case(
        "GET",
        "/api/v1/hotlists/hits/{hit_id}",
        "alerts.read",
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/hotlists/hits/{hit_id}/crop.jpg",
        "alerts.read",
        # The sighting has no pictures: a 404 for those allowed, a 403 for the rest.
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w)}/crop.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/hotlists/hits/{hit_id}/vehicle.jpg",
        "alerts.read",
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w)}/vehicle.jpg", None),
    ),
    Case(
        "POST",
        "/api/v1/hotlists/hits/{hit_id}/confirm",
        "alerts.handle",
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w)}/confirm", {}),
    ),
    Case(
        "POST",
        "/api/v1/hotlists/hits/{hit_id}/dismiss",
        "alerts.handle",
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w)}/dismiss", {"reason": "misread"}),
    ),
    Case(
        "POST",
        "/api/v1/hotlists/hits/{hit_id}/incident",
        "incidents.manage",
        lambda w: (f"/api/v1/hotlists/hits/{_matrix_hit(w, confirmed=True)}/incident", {"priority": 2}),
    ),
    Case(
        "GET",
        "/api/v1/hotlists/{hotlist_id}",
        "plates.read",
        lambda w: (f"/api/v1/hotlists/{_matrix_hotlist(w)}", None),
    ),
    Case(
        "PATCH",
        "/api/v1/hotlists/{hotlist_id}",
        "hotlists.manage",
        lambda w: (f"/api/v1/hotlists/{_matrix_hotlist(w)}", {"enabled": False}),
    ),
    Case(
        "DELETE",
        "/api/v1/hotlists/{hotlist_id}",
        "hotlists.manage",
        lambda w: (f"/api/v1/hotlists/{_matrix_hotlist(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/hotlists/{hotlist_id}/entries",
        "plates.read",
        lambda w: (f"/api/v1/hotlists/{_matrix_hotlist(w)}/entries", None),
    ),
    Case(
        "POST",
        "/api/v1/hotlists/{hotlist_id}/entries",
        "hotlists.manage",
        lambda w: (f"/api/v1/hotlists/{_matrix_hotlist(w)}/entries", {"plate": "MTX-123"}),
    ),
    Case(
        "DELETE",
        "/api/v1/hotlists/{hotlist_id}/entries/{entry_id}",
        "hotlists.manage",
        lambda w: (_matrix_entry_url(w), None),
    ),
    Case(
        "POST",
        "/api/v1/hotlists/{hotlist_id}/entries/import",
        "hotlists.manage",
        lambda w: (
            f"/api/v1/hotlists/{_matrix_hotlist(w)}/entries/import",
            {"csv": "plate,reason,reference,description,expires_at\nMTX1,stolen,,,\n"},
        ),
    ),
    # plate sightings: every read states a purpose; the ids are of no sighting (a 404 for those allowed)
    Case(
        "GET",
        "/api/v1/plates/sightings",
        "plates.read",
        lambda w: ("/api/v1/plates/sightings?q=LEA1234&purpose=matrix", None),
    ),
    Case(
        "GET",
        "/api/v1/plates/sightings.csv",
        "plates.read",
        lambda w: ("/api/v1/plates/sightings.csv?q=LEA1234&purpose=matrix", None),
    ),
    Case(
        "GET",
        "/api/v1/plates/sightings/{sighting_id}",
        "plates.read",
        lambda w: (f"/api/v1/plates/sightings/{uuid.uuid4()}?purpose=matrix", None),
    ),
    Case(
        "GET",
        "/api/v1/plates/sightings/{sighting_id}/crop.jpg",
        "plates.read",
        lambda w: (f"/api/v1/plates/sightings/{uuid.uuid4()}/crop.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/plates/sightings/{sighting_id}/vehicle.jpg",
        "plates.read",
        lambda w: (f"/api/v1/plates/sightings/{uuid.uuid4()}/vehicle.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/plates/journeys/{plate}",
        "plates.read",
        lambda w: (
            "/api/v1/plates/journeys/LEA1234?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z"
            "&purpose=matrix",
            None,
        ),
    ),
    # --- reviews and registry (review of violations, precision, the vehicle registry); helpers at the end ---
    Case(
        "GET",
        "/api/v1/registry/vehicles/{plate}",
        "registry.lookup",
        lambda w: ("/api/v1/registry/vehicles/MTX123?purpose=matrix", None),
    ),
    Case(
        "POST",
        "/api/v1/registry/imports",
        "registry.import",
        lambda w: (
            "/api/v1/registry/imports?dry_run=true",
            {
                "csv": "plate,province,owner_name,owner_cnic,owner_phone,owner_email,owner_address,make,"
                "model,colour,class,status,registered_on\n"
                "MTX123,KP,Matrix Owner,17301-1234567-1,,,,Honda,CD70,red,motorcycle,,\n"
            },
        ),
    ),
    # --- records search (one search box, an officer's quick check) ---
    Case(
        "GET", "/api/v1/records/search", "records.read", lambda w: ("/api/v1/records/search?q=Matrix", None)
    ),
    Case(
        "GET",
        "/api/v1/records/check",
        "records.read",
        lambda w: ("/api/v1/records/check?cnic=35202-1234567-1&purpose=matrix", None),
    ),
    Case(
        "GET", "/api/v1/traffic/violations", "challans.read", lambda w: ("/api/v1/traffic/violations", None)
    ),
    Case(
        "GET",
        "/api/v1/traffic/review-reasons",
        "challans.review",
        lambda w: ("/api/v1/traffic/review-reasons", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/violations/{violation_id}",
        "challans.read",
        lambda w: (f"/api/v1/traffic/violations/{_matrix_violation(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/violations/{violation_id}/evidence/{role}",
        "challans.read",
        lambda w: (f"/api/v1/traffic/violations/{_matrix_violation(w)}/evidence/at", None),  # no file: 404
    ),
    Case(
        "POST",
        "/api/v1/traffic/violations/{violation_id}/decisions",
        "challans.review",
        lambda w: (
            f"/api/v1/traffic/violations/{_matrix_violation(w)}/decisions",
            {"version": 0, "decision": "reject", "reason_code": "duplicate"},
        ),
    ),
    Case("GET", "/api/v1/traffic/precision", "traffic.read", lambda w: ("/api/v1/traffic/precision", None)),
    Case(
        "POST",
        "/api/v1/traffic/suspensions/{suspension_id}/lift",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/suspensions/{_matrix_suspension(w)}/lift", None),
    ),
    # --- payments and appeals (portal work); the bank's callback is public: PUBLIC_ROUTES ---
    Case(
        "GET",
        "/api/v1/traffic/payments/reconciliation",
        "payments.reconcile",
        lambda w: ("/api/v1/traffic/payments/reconciliation?date=2026-01-01", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/payments/reconciliation.csv",
        "payments.reconcile",
        lambda w: ("/api/v1/traffic/payments/reconciliation.csv?date=2026-01-01", None),
    ),
    Case("GET", "/api/v1/traffic/appeals", "appeals.decide", lambda w: ("/api/v1/traffic/appeals", None)),
    Case(
        "GET",
        "/api/v1/traffic/appeals/{appeal_id}",
        "appeals.decide",
        lambda w: (f"/api/v1/traffic/appeals/{_matrix_appeal(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/appeals/{appeal_id}/attachment",
        "appeals.decide",
        lambda w: (f"/api/v1/traffic/appeals/{_matrix_appeal(w)}/attachment", None),
    ),
    Case(
        "POST",
        "/api/v1/traffic/appeals/{appeal_id}/decision",
        "appeals.decide",
        lambda w: (
            f"/api/v1/traffic/appeals/{_matrix_appeal(w)}/decision",
            {"outcome": "uphold", "reason": "The evidence shows the red light clearly; the challan stands."},
        ),
    ),
    # --- e-challans: the fine schedule and challans (helpers at the end of the file) ---
    Case(
        "GET",
        "/api/v1/traffic/fines",
        "challans.read|fines.manage",
        lambda w: ("/api/v1/traffic/fines", None),
    ),
    Case(
        "POST", "/api/v1/traffic/fines", "fines.manage", lambda w: ("/api/v1/traffic/fines", _matrix_fine())
    ),
    Case("GET", "/api/v1/traffic/challans", "challans.read", lambda w: ("/api/v1/traffic/challans", None)),
    Case(
        "GET",
        "/api/v1/traffic/challans/print",
        "challans.read|challans.review",
        lambda w: (f"/api/v1/traffic/challans/print?{_matrix_print(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/challans/{challan_id}",
        "challans.read",
        lambda w: (f"/api/v1/traffic/challans/{_matrix_challan(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/challans/{challan_id}/pdf",
        "challans.read",
        lambda w: (f"/api/v1/traffic/challans/{_matrix_challan(w)}/pdf", None),  # not made: 404 no_pdf
    ),
    Case(
        "POST",
        "/api/v1/traffic/challans/{challan_id}/resend",
        "challans.review",
        lambda w: (f"/api/v1/traffic/challans/{uuid.uuid4()}/resend", {}),
    ),
    # --- traffic enforcement: rules and signals (helpers at the end of this file) ---
    Case(
        "GET",
        "/api/v1/traffic/enforcement-rules",
        "traffic.read",  # or challans.review, which every role holding it pairs with traffic.read
        lambda w: ("/api/v1/traffic/enforcement-rules", None),
    ),
    Case(
        "POST",
        "/api/v1/traffic/enforcement-rules",
        "traffic.manage",
        lambda w: ("/api/v1/traffic/enforcement-rules", _matrix_enforcement_body(w)),
    ),
    Case(
        "GET",
        "/api/v1/traffic/enforcement-rules/{rule_id}",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/enforcement-rules/{_matrix_enforcement_rule(w)}", None),
    ),
    Case(
        "PATCH",
        "/api/v1/traffic/enforcement-rules/{rule_id}",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/enforcement-rules/{_matrix_enforcement_rule(w)}", {"enabled": False}),
    ),
    Case(
        "DELETE",
        "/api/v1/traffic/enforcement-rules/{rule_id}",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/enforcement-rules/{_matrix_enforcement_rule(w)}", None),
    ),
    Case("GET", "/api/v1/traffic/signals", "traffic.read", lambda w: ("/api/v1/traffic/signals", None)),
    Case(
        "POST",
        "/api/v1/traffic/signals",
        "traffic.manage",
        lambda w: (
            "/api/v1/traffic/signals",
            {"name": f"Signal {uuid.uuid4().hex[:6]}", "source": "controller", "district_id": str(w.a.id)},
        ),
    ),
    Case(
        "GET",
        "/api/v1/traffic/signals/{signal_id}",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/signals/{_matrix_signal(w)}", None),
    ),
    Case(
        "PATCH",
        "/api/v1/traffic/signals/{signal_id}",
        "traffic.manage",
        lambda w: (
            f"/api/v1/traffic/signals/{_matrix_signal(w)}",
            {"name": f"Renamed {uuid.uuid4().hex[:6]}"},
        ),
    ),
    Case(
        "DELETE",
        "/api/v1/traffic/signals/{signal_id}",
        "traffic.manage",
        lambda w: (f"/api/v1/traffic/signals/{_matrix_signal(w)}", None),
    ),
    Case(
        "GET",
        "/api/v1/traffic/signals/{signal_id}/states",
        "traffic.read",
        lambda w: (f"/api/v1/traffic/signals/{_matrix_signal(w)}/states?{_DAY}", None),
    ),
    Case(
        "POST",
        "/api/v1/traffic/signals/{signal_id}/state",
        "signals.report",
        lambda w: (f"/api/v1/traffic/signals/{_matrix_signal(w)}/state", {"light": "red"}),
    ),
    # a unit's own terminal (units.self): its own unit only; the live incident feed
    Case("GET", "/api/v1/units/me", "units.self", lambda w: (f"/api/v1/units/me?u={_own_unit(w)}", None)),
    Case(
        "POST",
        "/api/v1/units/me/status",
        "units.self",
        lambda w: (f"/api/v1/units/me/status?u={_own_unit(w)}", {"status": "busy"}),
    ),
    Case(
        "POST",
        "/api/v1/units/me/position",
        "units.self",
        lambda w: (
            f"/api/v1/units/me/position?u={_own_unit(w)}",
            {"lat": 34.0, "lon": 71.5, "at": dt.datetime.now(dt.UTC).isoformat()},
        ),
    ),
    Case(
        "GET",
        "/api/v1/incidents/stream",
        "incidents.read",
        lambda w: ("/api/v1/incidents/stream?max_seconds=0.05", None),  # ends soon, so the test reads it all
    ),
    Case("GET", "/api/v1/places", "org.read", lambda w: ("/api/v1/places?q=B", None)),
    # the console's per-user attention preferences (sound, notifications, mute)
    Case("GET", "/api/v1/alerts/preferences", "alerts.read", lambda w: ("/api/v1/alerts/preferences", None)),
    Case(
        "PUT",
        "/api/v1/alerts/preferences",
        "alerts.read",
        lambda w: ("/api/v1/alerts/preferences", {"severities": [4], "muted": True}),
    ),
    # The camera page's timeline markers, and named video-wall layouts (video helper).
    Case(
        "GET",
        "/api/v1/cameras/{camera_id}/markers",
        "video.playback",
        lambda w: (
            f"/api/v1/cameras/{uuid.uuid4()}/markers?since=2026-11-22T00:00:00Z&until=2026-11-22T01:00:00Z",
            None,
        ),
    ),
    Case("GET", "/api/v1/wall/layouts", "video.live", lambda w: ("/api/v1/wall/layouts", None)),
    Case(
        "POST",
        "/api/v1/wall/layouts",
        "video.live",
        lambda w: ("/api/v1/wall/layouts", {"name": f"Shift {uuid.uuid4().hex[:6]}", "layout": 4}),
    ),
    Case(
        "DELETE",
        "/api/v1/wall/layouts/{preset_id}",
        "video.live",
        lambda w: (f"/api/v1/wall/layouts/{uuid.uuid4()}", None),
    ),
    # The records' data quality: bulk imports, duplicates and merges, conflicting values (helpers at the end).
    Case(
        "POST",
        "/api/v1/records/quality/imports",
        "records.import",
        lambda w: (
            "/api/v1/records/quality/imports?dry_run=true",
            {
                "kind": "persons",
                "district_id": str(w.a.id),
                "csv": "cnic,name\n17301-1234567-1,Matrix Person\n",
            },
        ),
    ),
    Case(
        "GET",
        "/api/v1/records/quality/sources",
        "records.import",
        lambda w: ("/api/v1/records/quality/sources", None),
    ),
    Case(
        "POST",
        "/api/v1/records/quality/sources",
        "records.import",
        lambda w: (
            "/api/v1/records/quality/sources",
            {
                "name": f"matrix-{uuid.uuid4().hex[:8]}",
                "kind": "persons",
                "district_id": str(w.a.id),
                "url": "sqlite:////nonexistent/matrix.db",
                "query": "SELECT cnic, name FROM people",
            },
        ),
    ),
    Case(
        "POST",
        "/api/v1/records/quality/sources/{source_id}/run",
        "records.import",
        lambda w: (f"/api/v1/records/quality/sources/{uuid.uuid4()}/run?dry_run=true", None),
    ),
    Case(
        "GET",
        "/api/v1/records/quality/duplicates",
        "records.merge",
        lambda w: ("/api/v1/records/quality/duplicates", None),
    ),
    Case(
        "GET",
        "/api/v1/records/quality/merges",
        "records.merge",
        lambda w: ("/api/v1/records/quality/merges", None),
    ),
    Case(
        "POST",
        "/api/v1/records/quality/merges",
        "records.merge",
        lambda w: ("/api/v1/records/quality/merges", _matrix_merge(w)),
    ),
    Case(
        "POST",
        "/api/v1/records/quality/merges/{merge_id}/undo",
        "records.merge",
        lambda w: (f"/api/v1/records/quality/merges/{uuid.uuid4()}/undo", {"reason": "matrix check"}),
    ),
    Case(
        "GET",
        "/api/v1/records/quality/persons/{person_id}/conflicts",
        "records.read",
        lambda w: (f"/api/v1/records/quality/persons/{uuid.uuid4()}/conflicts?purpose=matrix+check", None),
    ),
    Case(
        "POST",
        "/api/v1/records/quality/persons/{person_id}/conflicts",
        "records.manage",
        lambda w: (
            f"/api/v1/records/quality/persons/{uuid.uuid4()}/conflicts",
            {"field": "name", "fact_id": str(uuid.uuid4())},
        ),
    ),
    # Connectors to other departments (connectors helper): admin configuration, identity, the CT schedule.
    Case("GET", "/api/v1/connectors", "connectors.manage", lambda w: ("/api/v1/connectors", None)),
    Case(
        "PUT",
        "/api/v1/connectors/{name}",
        "connectors.manage",
        lambda w: (
            "/api/v1/connectors/matrix-ct",
            {"type": "ctlist.rest", "config": {"url": "http://127.0.0.1:9/ctd"}},
        ),
    ),
    Case(
        "POST",
        "/api/v1/connectors/{name}/test",
        "connectors.manage",
        lambda w: ("/api/v1/connectors/vehicle%20registry/test", None),
    ),
    Case(
        "GET",
        "/api/v1/connectors/identity/{cnic}",
        "records.read",
        lambda w: ("/api/v1/connectors/identity/17301-1234567-2?purpose=matrix", None),
    ),
    Case(
        "POST",
        "/api/v1/connectors/ctlist/imports",
        "records.manage",
        lambda w: (
            "/api/v1/connectors/ctlist/imports?dry_run=true",
            {
                "csv": "cnic,name,father_name,district,listed_on,delisted_on\n"
                "17301-1234567-2,Matrix,,,2020-01-01,\n"
            },
        ),
    ),
    # --- criminal records (persons, vehicles, FIRs, warrants, break-glass reviews) ---
    Case("GET", "/api/v1/records/sections", "records.read", lambda w: ("/api/v1/records/sections", None)),
    Case("GET", "/api/v1/records/persons", "records.read", lambda w: ("/api/v1/records/persons?q=M", None)),
    Case(
        "POST",
        "/api/v1/records/persons",
        "records.manage",
        lambda w: ("/api/v1/records/persons", {"name": "Matrix Person", "district_id": str(w.a.id)}),
    ),
    Case(
        "GET",
        "/api/v1/records/persons/{person_id}",
        "records.read",
        lambda w: (f"/api/v1/records/persons/{uuid.uuid4()}?purpose=matrix", None),
    ),
    Case(
        "PUT",
        "/api/v1/records/persons/{person_id}",
        "records.manage",
        lambda w: (f"/api/v1/records/persons/{uuid.uuid4()}", {"name": "Matrix Person"}),
    ),
    Case(
        "GET",
        "/api/v1/records/persons/{person_id}/reads",
        "audit.read",
        lambda w: (f"/api/v1/records/persons/{uuid.uuid4()}/reads", None),
    ),
    Case(
        "POST",
        "/api/v1/records/persons/{person_id}/photos",
        "records.manage",
        lambda w: (f"/api/v1/records/persons/{uuid.uuid4()}/photos", {"data_base64": "aGk="}),
    ),
    Case(
        "POST",
        "/api/v1/records/persons/{person_id}/identity",
        "records.manage",
        lambda w: (f"/api/v1/records/persons/{uuid.uuid4()}/identity?purpose=matrix+check", None),
    ),
    Case(
        "GET",
        "/api/v1/records/photos/{photo_id}",
        "records.read",
        lambda w: (f"/api/v1/records/photos/{uuid.uuid4()}", None),
    ),
    Case(
        "POST",
        "/api/v1/records/persons/{person_id}/warrants",
        "records.manage",
        lambda w: (
            f"/api/v1/records/persons/{uuid.uuid4()}/warrants",
            {"court": "Matrix Court", "issued_on": "2026-01-01"},
        ),
    ),
    Case(
        "POST",
        "/api/v1/records/warrants/{warrant_id}/execute",
        "records.manage",
        lambda w: (f"/api/v1/records/warrants/{uuid.uuid4()}/execute", None),
    ),
    Case(
        "POST",
        "/api/v1/records/persons/{person_id}/missing",
        "records.manage",
        lambda w: (
            f"/api/v1/records/persons/{uuid.uuid4()}/missing",
            {"last_seen_at": "2026-01-01T10:00:00Z"},
        ),
    ),
    Case(
        "POST",
        "/api/v1/records/missing/{report_id}/found",
        "records.manage",
        lambda w: (f"/api/v1/records/missing/{uuid.uuid4()}/found", None),
    ),
    Case(
        "POST",
        "/api/v1/records/persons/{person_id}/links",
        "records.manage",
        lambda w: (
            f"/api/v1/records/persons/{uuid.uuid4()}/links",
            {"other_id": str(uuid.uuid4()), "kind": "associate"},
        ),
    ),
    Case("GET", "/api/v1/records/vehicles", "records.read", lambda w: ("/api/v1/records/vehicles", None)),
    Case(
        "POST",
        "/api/v1/records/vehicles",
        "records.manage",
        lambda w: ("/api/v1/records/vehicles", {"registration": "MTX-123", "district_id": str(w.a.id)}),
    ),
    Case(
        "GET",
        "/api/v1/records/vehicles/{vehicle_id}",
        "records.read",
        lambda w: (f"/api/v1/records/vehicles/{uuid.uuid4()}", None),
    ),
    Case(
        "PUT",
        "/api/v1/records/vehicles/{vehicle_id}",
        "records.manage",
        lambda w: (f"/api/v1/records/vehicles/{uuid.uuid4()}", {"registration": "MTX-123"}),
    ),
    Case(
        "POST",
        "/api/v1/records/vehicles/{vehicle_id}/stolen",
        "records.manage",
        lambda w: (f"/api/v1/records/vehicles/{uuid.uuid4()}/stolen", {"stolen_at": "2026-01-01T10:00:00Z"}),
    ),
    Case(
        "POST",
        "/api/v1/records/stolen/{report_id}/recover",
        "records.manage",
        lambda w: (f"/api/v1/records/stolen/{uuid.uuid4()}/recover", None),
    ),
    Case("GET", "/api/v1/records/firs", "records.read", lambda w: ("/api/v1/records/firs", None)),
    Case(
        "POST",
        "/api/v1/records/firs",
        "records.manage",
        lambda w: (
            "/api/v1/records/firs",
            {
                "police_station_id": str(w.station_b.id),
                "registered_on": "2026-01-01",
                "sections": ["PPC 379"],
            },
        ),
    ),
    Case(
        "GET",
        "/api/v1/records/firs/{fir_id}",
        "records.read",
        lambda w: (f"/api/v1/records/firs/{uuid.uuid4()}", None),
    ),
    Case(
        "POST",
        "/api/v1/records/firs/{fir_id}/status",
        "records.manage",
        lambda w: (f"/api/v1/records/firs/{uuid.uuid4()}/status", {"status": "under_investigation"}),
    ),
    Case(
        "POST",
        "/api/v1/records/firs/{fir_id}/parties",
        "records.manage",
        lambda w: (
            f"/api/v1/records/firs/{uuid.uuid4()}/parties",
            {"person_id": str(uuid.uuid4()), "role": "accused"},
        ),
    ),
    Case(
        "GET",
        "/api/v1/records/linked",
        "records.read",
        lambda w: ("/api/v1/records/linked?plate=MTX123", None),
    ),
    Case(
        "GET",
        "/api/v1/records/break-glass",
        "records.review",
        lambda w: ("/api/v1/records/break-glass", None),
    ),
    Case(
        "POST",
        "/api/v1/records/break-glass/{glass_id}/review",
        "records.review",
        lambda w: (f"/api/v1/records/break-glass/{uuid.uuid4()}/review", {"verdict": "justified"}),
    ),
    # --- face recognition: watchlists, enrolment, authorisations, error rates, oversight (helpers at the end)
    Case("GET", "/api/v1/faces/watchlists", FACES_ANY, lambda w: ("/api/v1/faces/watchlists", None)),
    Case(
        "POST",
        "/api/v1/faces/watchlists",
        "faces.enrol",
        lambda w: ("/api/v1/faces/watchlists", _faces_list(w)),
    ),
    Case(
        "GET",
        "/api/v1/faces/watchlists/{watchlist_id}",
        FACES_ANY,
        lambda w: (f"/api/v1/faces/watchlists/{_matrix_watchlist(w)}", None),
    ),
    Case(
        "PATCH",
        "/api/v1/faces/watchlists/{watchlist_id}",
        "faces.enrol",
        lambda w: (f"/api/v1/faces/watchlists/{_matrix_watchlist(w)}", {"name": "Matrix renamed"}),
    ),
    Case(
        "GET",
        "/api/v1/faces/watchlists/{watchlist_id}/entries",
        FACES_ANY,
        lambda w: (f"/api/v1/faces/watchlists/{_matrix_watchlist(w)}/entries", None),
    ),
    Case(
        "POST",
        "/api/v1/faces/watchlists/{watchlist_id}/entries",
        "faces.enrol",
        lambda w: (f"/api/v1/faces/watchlists/{_matrix_watchlist(w)}/entries", _faces_entry(w)),
    ),
    Case(
        "POST",
        "/api/v1/faces/entries/{entry_id}/remove",
        "faces.enrol",
        lambda w: (f"/api/v1/faces/entries/{uuid.uuid4()}/remove", {"reason": "matrix check, removed"}),
    ),
    Case(
        "GET",
        "/api/v1/faces/entries/{entry_id}/enrolments",
        FACES_ANY,
        lambda w: (f"/api/v1/faces/entries/{uuid.uuid4()}/enrolments", None),
    ),
    Case(
        "POST",
        "/api/v1/faces/entries/{entry_id}/enrolments",
        "faces.enrol",
        lambda w: (
            f"/api/v1/faces/entries/{uuid.uuid4()}/enrolments",
            {"photos": [{"name": "x.jpg", "data_base64": "eA=="}]},
        ),
    ),
    Case(
        "GET",
        "/api/v1/faces/enrolments/{enrolment_id}/chip.jpg",
        "faces.read|faces.enrol|faces.confirm",
        lambda w: (f"/api/v1/faces/enrolments/{uuid.uuid4()}/chip.jpg", None),
    ),
    Case(
        "DELETE",
        "/api/v1/faces/enrolments/{enrolment_id}",
        "faces.enrol",
        lambda w: (f"/api/v1/faces/enrolments/{uuid.uuid4()}", None),
    ),
    Case("GET", "/api/v1/faces/authorisations", FACES_ANY, lambda w: ("/api/v1/faces/authorisations", None)),
    Case(
        "POST",
        "/api/v1/faces/authorisations",
        "faces.search|faces.enrol|faces.authorise",
        lambda w: ("/api/v1/faces/authorisations", _faces_authorisation(w)),
    ),
    Case(
        "GET",
        "/api/v1/faces/authorisations/{authorisation_id}",
        FACES_ANY,
        lambda w: (f"/api/v1/faces/authorisations/{uuid.uuid4()}", None),
    ),
    Case(
        "POST",
        "/api/v1/faces/authorisations/{authorisation_id}/approve",
        "faces.authorise",
        lambda w: (f"/api/v1/faces/authorisations/{_matrix_request(w)}/approve", None),
    ),
    Case(
        "POST",
        "/api/v1/faces/authorisations/{authorisation_id}/revoke",
        "faces.authorise|faces.search|faces.enrol",
        lambda w: (
            f"/api/v1/faces/authorisations/{uuid.uuid4()}/revoke",
            {"reason": "matrix check, revoked"},
        ),
    ),
    Case("GET", "/api/v1/faces/rates", None, lambda w: ("/api/v1/faces/rates", None)),
    Case("GET", "/api/v1/faces/oversight", "faces.oversee", lambda w: ("/api/v1/faces/oversight", None)),
    # No authorisation exists in this world: a role allowed to search gets 404, one that is not 403 first.
    Case(
        "POST",
        "/api/v1/faces/search/{authorisation_id}",
        "faces.search",
        lambda w: (f"/api/v1/faces/search/{uuid.uuid4()}", _face_search()),
    ),
    # Cases: a case that does not exist is a 404 for everyone (a team member of any role may work one);
    # opening one needs forensics.investigate, sharing cases.share.
    Case("GET", "/api/v1/cases", None, lambda w: ("/api/v1/cases", None)),
    Case(
        "POST",
        "/api/v1/cases",
        "forensics.investigate",
        lambda w: ("/api/v1/cases", {"title": "Matrix case", "district_id": str(w.a.id)}),
    ),
    *[
        Case(method, "/api/v1/cases/{case_id}" + tail, permission, _case_request(tail, body))
        for method, tail, permission, body in (
            ("GET", "", None, None),
            ("PATCH", "", None, {"title": "Matrix title"}),
            ("POST", "/items", None, {"kind": "event", "ref_id": str(uuid.UUID(int=1)), "reason": "matrix"}),
            ("DELETE", "/items/{item_id}", None, None),
            ("POST", "/notes", None, {"text": "matrix note"}),
            ("POST", "/tasks", None, {"title": "matrix task"}),
            ("POST", "/tasks/{task_id}/done", None, None),
            ("POST", "/members", None, {"user_id": str(uuid.UUID(int=1))}),
            ("DELETE", "/members/{user_id}", None, None),
            ("POST", "/shares", "cases.share", {"district_id": str(uuid.UUID(int=1)), "reason": "matrix"}),
            ("DELETE", "/shares/{district_id}", "cases.share", None),
            ("POST", "/close", None, {"reason": "matrix close"}),
        )
    ],
    # Forensics: search across cameras, objects, routes (a camera with one recorded segment in district A).
    Case(
        "POST",
        "/api/v1/forensics/search",
        "forensics.investigate",
        lambda w: ("/api/v1/forensics/search", _forensic_search(w)),
    ),
    Case(
        "GET",
        "/api/v1/forensics/objects/{object_id}/snapshot.jpg",
        "forensics.investigate",
        lambda w: (f"/api/v1/forensics/objects/{uuid.uuid4()}/snapshot.jpg", None),
    ),
    Case(
        "GET",
        "/api/v1/forensics/objects/{object_id}/similar",
        "forensics.investigate",
        lambda w: (f"/api/v1/forensics/objects/{uuid.uuid4()}/similar", None),
    ),
    Case(
        "POST",
        "/api/v1/forensics/routes",
        "forensics.investigate",
        lambda w: ("/api/v1/forensics/routes", {"purpose": "FIR 1/2026 route", **_forensic_period()}),
    ),
    Case("GET", "/api/v1/forensics/route.m3u8", "video.playback", lambda w: (_route_playlist(w), None)),
    # Video synopses: one of a recorded camera is started (its render fails on the stand-in segment).
    Case(
        "GET",
        "/api/v1/forensics/synopses",
        "forensics.investigate",
        lambda w: ("/api/v1/forensics/synopses", None),
    ),
    Case(
        "POST",
        "/api/v1/forensics/synopses",
        "forensics.investigate",
        lambda w: ("/api/v1/forensics/synopses", _synopsis(w)),
    ),
    *[
        Case(
            "GET",
            "/api/v1/forensics/synopses/{synopsis_id}" + tail,
            "forensics.investigate",
            lambda w, tail=tail: (f"/api/v1/forensics/synopses/{uuid.uuid4()}{tail}", None),
        )
        for tail in ("", "/heatmap.png", "/index.json", "/synopsis.mp4")
    ],
    # Cancelled by who asked (an investigator) or a supervisor of the district (cases.share).
    Case(
        "POST",
        "/api/v1/forensics/synopses/{synopsis_id}/cancel",
        "forensics.investigate|cases.share",
        lambda w: (f"/api/v1/forensics/synopses/{uuid.uuid4()}/cancel", None),
    ),
    # Evidence exports of a case (a case that does not exist: 404 for whoever may ask, 403 for the rest).
    *[
        Case(
            method, "/api/v1/cases/{case_id}/exports" + tail, permission, _export_request(method, tail, body)
        )
        for method, tail, permission, body in (
            ("GET", "", "video.export|evidence.unredacted", None),
            ("POST", "", "video.export", {"item_ids": [str(uuid.UUID(int=1))], "purpose": "court file"}),
            ("GET", "/{export_id}", "video.export|evidence.unredacted", None),
            ("POST", "/{export_id}/blur", "video.export", {"media": "m1", "region": "f1", "blur": False}),
            ("POST", "/{export_id}/manual", "video.export", {"media": "m1", "x": 1, "y": 1, "w": 5, "h": 5}),
            ("DELETE", "/{export_id}/manual/{media}/{region}", "video.export", None),
            ("POST", "/{export_id}/approve", "evidence.unredacted", {"reason": "court order 45/2026"}),
            ("POST", "/{export_id}/sign", "video.export", None),
            ("POST", "/{export_id}/retry", "video.export", None),
            ("GET", "/{export_id}/package", "video.export", None),
            ("GET", "/{export_id}/media/{key}/preview.jpg", "video.export|evidence.unredacted", None),
        )
    ],
]


def _face_search() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "purpose": "Trace the accused of FIR 12/2026",
        "since": (now - dt.timedelta(hours=2)).isoformat(),
        "until": now.isoformat(),
        "camera_ids": [str(uuid.uuid4())],
        "photo": "aGVsbG8=",
    }


# Routes that belong to logging in itself, not to a role.
LOGIN_ROUTES = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/mfa/enrol"),
    ("POST", "/api/v1/auth/mfa/confirm"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
}
# Public routes: no login, their own proof (a bank's callback is signed with the shared payment secret).
PUBLIC_ROUTES = {
    ("POST", "/api/v1/traffic/payments/callback"),
    ("POST", "/api/v1/connectors/rescue1122/incidents"),  # Rescue 1122's webhook, signed with the link's key
}


def test_every_api_route_is_in_the_matrix(web_app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in web_app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    covered = {(c.method, c.path) for c in CASES} | LOGIN_ROUTES | PUBLIC_ROUTES
    assert routes - covered == set(), "add the new routes to CASES with the permission they need"
    assert covered - routes == set()


@pytest.mark.parametrize("role", [None, "admin", "finance"])
def test_public_routes_answer_anyone_with_their_own_check(
    role: str | None, factory: Factory, client: TestClient, login_as: Callable[..., TestClient]
) -> None:
    """Logged in or not, the bank's callback is judged by its signature alone (401 `unsigned`)."""
    caller = client if role is None else login_as(factory.user(role))
    for method, path in PUBLIC_ROUTES:
        answer = caller.request(method, path, json={"transaction_id": "T1"})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unsigned", answer.text


@pytest.fixture
def world(factory: Factory) -> World:
    a, b = factory.district(), factory.district()
    station_b = PoliceStation(district_id=b.id, name="PS B", latitude=32.0, longitude=70.0)
    site_b = Site(district_id=b.id, name="Site B", latitude=32.0, longitude=70.0)
    factory.session.add_all([station_b, site_b])
    target = factory.user("operator", districts=[a])
    user_b = factory.user("operator", districts=[b])
    return World(a, b, station_b, site_b, target.id, user_b.id)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_route_allows_exactly_the_roles_that_hold_its_permission(
    role: str, factory: Factory, world: World, login_as: Callable[..., TestClient]
) -> None:
    granted = set(ROLES[role]["permissions"])
    client = login_as(factory.user(role))  # province-wide, so only permissions decide
    for case in CASES:
        url, body = case.request(world)
        response = client.request(case.method, url, json=body)
        # "a|b": either permission lets the role in.
        allowed = case.permission is None or any(p in granted for p in case.permission.split("|"))
        if allowed:
            assert response.status_code not in (401, 403), (
                f"{role} refused {case.method} {url}: {response.text}"
            )
            # An id that exists nowhere in the world (a token, a recording, a clip) is the one expected miss.
            assert response.status_code < 400 or (
                response.status_code == 404 and re.search(r"\{\w+_id(:\w+)?\}", case.path)
            ), f"{role} {case.method} {url}: {response.status_code} {response.text}"
        else:
            assert response.status_code == 403, (
                f"{role} was let through {case.method} {url}: {response.status_code}"
            )
            assert response.json()["error"]["code"] == "permission_denied"


def test_a_refused_access_is_audited(
    factory: Factory, world: World, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = factory.user("operator")
    response = login_as(operator).get("/api/v1/audit")
    assert response.status_code == 403
    admin = factory.principal(factory.user("auditor"))
    denied = audit.search(session=session, principal=admin, actor=operator.username, outcome="denied")
    assert denied and denied[0].detail["path"] == "/api/v1/audit"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_role_reads_another_districts_records(
    role: str, factory: Factory, world: World, login_as: Callable[..., TestClient], session: Session
) -> None:
    events.record_many(
        session=session,
        events=[
            EventIn(
                id=uuid.uuid4(),
                occurred_at="2026-11-22T10:00:00Z",
                kind="camera.offline",
                source="cam-b",
                district_id=world.b.id,
                severity=2,
                payload={},
            ),
            EventIn(
                id=uuid.uuid4(),
                occurred_at="2026-11-22T10:00:00Z",
                kind="camera.offline",
                source="cam-a",
                district_id=world.a.id,
                severity=2,
                payload={},
            ),
        ],
    )
    audit.record(session=session, action="test.b", outcome="success", district_id=world.b.id)
    plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=None,
            district_id=world.b.id,
            seen_at=dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC),
            first_seen=dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC),
            last_seen=dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC),
            plate="LEA1234",
            confidence=0.9,
            layout="punjab",
            jurisdiction="Punjab",
        ),
    )
    watchlist_b = _faces_watchlist_of(world.b)
    client = login_as(factory.user(role, districts=[world.a]))
    b_ids = {
        str(world.b.id),
        str(world.station_b.id),
        str(world.site_b.id),
        str(world.user_b_id),
        watchlist_b,
    }

    for path in (
        "/api/v1/users",
        "/api/v1/districts",
        "/api/v1/stations",
        "/api/v1/sites",
        "/api/v1/audit",
        "/api/v1/events",
        "/api/v1/plates/sightings?purpose=matrix",
        "/api/v1/plates/sightings.csv?purpose=matrix",
        "/api/v1/places?q=B&limit=50",
        "/api/v1/faces/watchlists",
        "/api/v1/faces/authorisations",
    ):
        response = client.get(path)
        if response.status_code == 403:
            continue
        assert response.status_code == 200, response.text
        body = response.text
        assert not any(i in body for i in b_ids), f"{role} saw district B's records at {path}"
    for path in (
        f"/api/v1/districts/{world.b.id}",
        f"/api/v1/users/{world.user_b_id}",
        f"/api/v1/faces/watchlists/{watchlist_b}",
    ):
        assert client.get(path).status_code in (403, 404)
    stations_of_b = client.get("/api/v1/stations", params={"district_id": str(world.b.id)})
    assert stations_of_b.status_code == 403 or stations_of_b.json() == []


# --- dispatch helpers (the cases above call them when they run) -----------------------------------


def _dispatch_boss() -> Any:
    from safecity.auth.principal import Principal

    perms = frozenset({"incidents.read", "incidents.manage", "dispatch.manage"})
    return Principal(user_id=None, username="matrix-dispatcher", permissions=perms, district_ids=None)


def _dispatch_unit_body(world: World) -> dict[str, Any]:
    from safecity.dispatch import service as dispatch

    session = object_session(world.a)
    assert session is not None
    dispatch.ensure_agencies(session=session)
    session.commit()
    return {
        "agency": "police",
        "call_sign": f"M-{uuid.uuid4().hex[:8]}",
        "vehicle_registration": "PSW-1",
        "vehicle_type": "Hilux",
        "district_id": str(world.a.id),
        "status": "available",
    }


def _dispatch_unit(world: World) -> str:
    """An available unit with a position in district A, committed so the app sees it."""
    from safecity.dispatch import positions
    from safecity.dispatch import service as dispatch
    from safecity.dispatch.schemas import UnitIn

    data = UnitIn.model_validate(_dispatch_unit_body(world))
    session = object_session(world.a)
    assert session is not None
    unit = dispatch.create_unit(session=session, principal=_dispatch_boss(), data=data)
    positions.report_position(
        session=session, unit_id=unit.id, lat=34.01, lon=71.54, at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    )
    session.commit()
    return str(unit.id)


def _dispatch_incident(world: World) -> str:
    """A new street-crime incident in district A at Saddar, Peshawar."""
    from safecity.incidents import service as incidents
    from safecity.incidents.models import Category
    from safecity.incidents.schemas import IncidentIn

    session = object_session(world.a)
    assert session is not None
    data = IncidentIn(
        district_id=world.a.id, category=Category.STREET_CRIME, latitude=34.004, longitude=71.542
    )
    incident = incidents.create_incident(session=session, principal=_dispatch_boss(), data=data)
    session.commit()
    return str(incident.id)


def _dispatch_assignment(world: World) -> str:
    """A unit assigned to an incident in district A, not yet acknowledged."""
    from safecity.dispatch import service as dispatch

    incident_id, unit_id = uuid.UUID(_dispatch_incident(world)), uuid.UUID(_dispatch_unit(world))
    session = object_session(world.a)
    assert session is not None
    assignment = dispatch.assign(
        session=session, principal=_dispatch_boss(), incident_id=incident_id, unit_id=unit_id
    )
    session.commit()
    return str(assignment.id)


# --- incidents helper (the cases above call it when they run) -------------------------------------


def _incident(world: World) -> Any:
    """A new fire incident in district A (with its SOP checklist), committed so the app sees it."""
    from safecity.auth.principal import Principal
    from safecity.incidents import service as incidents
    from safecity.incidents.models import Category
    from safecity.incidents.schemas import IncidentIn

    session = object_session(world.a)
    assert session is not None
    opener = Principal(None, "matrix-call-taker", frozenset({"incidents.manage"}), None, via="system")
    data = IncidentIn(category=Category.FIRE, district_id=world.a.id)
    incident = incidents.create_incident(session=session, principal=opener, data=data)
    session.commit()
    return incident


# --- panic button and sharing helpers (the cases above call them when they run) -------------------

MATRIX_PANIC_PHONE = "+923001112233"


def _random_phone() -> str:
    return "0300" + str(uuid.uuid4().int)[:7]


def _panic_phone(world: World) -> str:
    """A phone registered for the panic button (once per test), committed so the app sees it."""
    from sqlalchemy import select

    from safecity.auth.principal import Principal
    from safecity.incidents.panic import service as panic
    from safecity.incidents.panic.models import PanicRegistration

    session = object_session(world.a)
    assert session is not None
    known = select(PanicRegistration.id).where(PanicRegistration.phone == MATRIX_PANIC_PHONE)
    if session.scalar(known) is None:
        registrar = Principal(None, "matrix-registrar", frozenset({"incidents.manage"}), None, via="system")
        panic.register(session=session, principal=registrar, phone=MATRIX_PANIC_PHONE, name="Matrix citizen")
        session.commit()
    return MATRIX_PANIC_PHONE


def _panic_incident(world: World) -> str:
    """The open panic incident of the matrix phone, committed so the app sees it."""
    from safecity.auth.principal import Principal
    from safecity.incidents.panic import service as panic

    session = object_session(world.a)
    assert session is not None
    app = Principal(None, "matrix-panic-app", frozenset({"panic.report"}), None, via="system")
    incident, _ = panic.press(
        session=session, principal=app, phone=_panic_phone(world), latitude=34.0, longitude=71.5
    )
    session.commit()
    return str(incident.id)


def _shareable_incident(world: World) -> str:
    """An incident in district A with the agencies seeded, committed so the app sees it."""
    from safecity.dispatch import service as dispatch

    session = object_session(world.a)
    assert session is not None
    dispatch.ensure_agencies(session=session)
    return str(_incident(world).id)


# --- analytics helpers (the cases above call them when they run) ---------------------------------


def _matrix_rule_body() -> dict[str, Any]:
    return {"kind": "line_crossing", "name": f"Line {uuid.uuid4().hex[:6]}", "line": [[0.1, 0.5], [0.9, 0.5]]}


def _matrix_rule_url(world: World) -> str:
    """A rule on a camera in district A, committed so the app sees it."""
    from safecity.analytics import service as analytics
    from safecity.analytics.schemas import rule_adapter
    from safecity.auth.principal import Principal

    session = object_session(world.a)
    assert session is not None
    camera_id = _matrix_camera(world)
    drawer = Principal(
        None, "matrix-drawer", frozenset({"analytics.manage", "cameras.read"}), None, via="system"
    )
    config = rule_adapter.validate_python(_matrix_rule_body())
    rule = analytics.create_rule(session=session, principal=drawer, camera_id=camera_id, config=config)
    session.commit()
    return f"/api/v1/cameras/{camera_id}/rules/{rule.id}"


def _matrix_event(world: World) -> str:
    """An analytics event in district A, committed so the app sees it."""
    session = object_session(world.a)
    assert session is not None
    event = EventIn(
        id=uuid.uuid4(),
        occurred_at=dt.datetime.now(dt.UTC),
        kind="analytics.line_crossing",
        source="analytics",
        district_id=world.a.id,
        payload={"rule_name": "Matrix line"},
    )
    events.record_many(session=session, events=[event])
    session.commit()
    return str(event.id)


_DAY = "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z"


def _matrix_lines(world: World) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A camera in district A with two counting lines, committed so the app sees it."""
    from safecity.analytics import service as analytics
    from safecity.analytics.schemas import rule_adapter
    from safecity.auth.principal import Principal

    session = object_session(world.a)
    assert session is not None
    camera_id = _matrix_camera(world)
    drawer = Principal(
        None, "matrix-drawer", frozenset({"analytics.manage", "cameras.read"}), None, via="system"
    )
    a, b = (
        analytics.create_rule(
            session=session,
            principal=drawer,
            camera_id=camera_id,
            config=rule_adapter.validate_python(
                {"kind": "counting_line", "name": name, "line": [[x, 0], [x, 1]]}
            ),
        )
        for name, x in (("Lane in", 0.3), ("Lane out", 0.7))
    )
    session.commit()
    return camera_id, a.id, b.id


def _matrix_calibration(world: World) -> tuple[str, dict[str, Any]]:
    camera_id, a, b = _matrix_lines(world)
    body = {"line_a_id": str(a), "line_b_id": str(b), "distance_m": 20}
    return f"/api/v1/traffic/locations/{camera_id}/calibration", body


def _matrix_section_body(world: World) -> dict[str, Any]:
    return {
        "name": f"Section {uuid.uuid4().hex[:6]}",
        "camera_a_id": str(_matrix_camera(world)),
        "camera_b_id": str(_matrix_camera(world)),
        "distance_m": 1000,
        "speed_limit_kmh": 60,
    }


def _matrix_segment_body(world: World) -> dict[str, Any]:
    camera_id, a, b = _matrix_lines(world)
    return {
        "name": f"Segment {uuid.uuid4().hex[:6]}",
        "camera_id": str(camera_id),
        "line_ids": [str(a), str(b)],
        "path": [[34.0, 71.5], [34.001, 71.501]],
        "free_flow_kmh": 50,
    }


# --- hotlist helpers (the cases above call them when they run) -----------------------------------


def _matrix_keeper() -> Any:
    from safecity.auth.principal import Principal

    return Principal(None, "matrix-keeper", frozenset({"hotlists.manage", "plates.read"}), None, via="system")


def _matrix_hotlist(world: World) -> str:
    """A stolen-vehicle list covering district A, committed so the app sees it."""
    from safecity.analytics.plates.hotlists import service as hotlists
    from safecity.analytics.plates.hotlists.schemas import HotlistIn

    session = object_session(world.a)
    assert session is not None
    data = HotlistIn.model_validate(
        {
            "kind": "stolen",
            "name": "Matrix stolen",
            "agency": "Matrix unit",
            "district_ids": [str(world.a.id)],
        }
    )
    hotlist = hotlists.create_hotlist(session=session, principal=_matrix_keeper(), data=data)
    session.commit()
    return str(hotlist.id)


def _matrix_entry_url(world: World) -> str:
    """A plate on a list covering district A, committed so the app sees it."""
    from safecity.analytics.plates.hotlists import service as hotlists
    from safecity.analytics.plates.hotlists.schemas import EntryIn

    session = object_session(world.a)
    assert session is not None
    list_id = uuid.UUID(_matrix_hotlist(world))
    entry = hotlists.add_entry(
        session=session, principal=_matrix_keeper(), hotlist_id=list_id, data=EntryIn(plate="MTX777")
    )
    session.commit()
    return f"/api/v1/hotlists/{list_id}/entries/{entry.id}"


def _matrix_hit(world: World, *, confirmed: bool = False) -> str:
    """A pending (or confirmed) hit, with its alert, on a sighting in district A; committed."""
    from safecity.analytics.plates import service as plates
    from safecity.analytics.plates.hotlists import service as hotlists
    from safecity.analytics.plates.hotlists.models import HitStatus
    from safecity.analytics.plates.hotlists.schemas import EntryIn
    from safecity.analytics.plates.schemas import SightingIn

    session = object_session(world.a)
    assert session is not None
    list_id = uuid.UUID(_matrix_hotlist(world))
    hotlists.add_entry(
        session=session,
        principal=_matrix_keeper(),
        hotlist_id=list_id,
        data=EntryIn.model_validate({"plate": "MTX555"}),
    )
    now = dt.datetime.now(dt.UTC)
    sighting = plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=None,
            district_id=world.a.id,
            seen_at=now,
            first_seen=now,
            last_seen=now,
            plate="MTX555",
            confidence=0.9,
            layout="pk-punjab",
            jurisdiction="PK-PB",
        ),
    )
    index = hotlists.load_index(session=session)
    matches = [
        m for m in index.match("MTX555", district_id=world.a.id, at=now) if m.listed.rule.id == list_id
    ]
    (hit,) = hotlists.record_hits(session=session, sighting_id=sighting.id, matches=matches)
    hit.alert_id = alerts.raise_alert(
        session=session,
        kind="hotlist.stolen",
        severity=3,
        title="Stolen vehicle MTX555",
        source="hotlists",
        district_id=world.a.id,
    ).id
    if confirmed:
        hit.status, hit.handled_by_name = HitStatus.CONFIRMED, "matrix"
    session.commit()
    return str(hit.id)


# --- reviews and registry helpers (the cases above call them when they run) -----------------------


def _matrix_violation(world: World) -> str:
    """A pending violation on a camera in district A (its packet not assembled), committed."""
    from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

    session = object_session(world.a)
    assert session is not None
    violation = Violation(
        source_key=f"matrix:{uuid.uuid4()}",
        offence=Offence.RED_LIGHT,
        camera_id=_matrix_camera(world),
        district_id=world.a.id,
        occurred_at=dt.datetime.now(dt.UTC),
        status=ViolationStatus.PENDING,
        plate_read="MTX123",
        plate_confidence=0.95,
        evidence={"version": 1, "complete": False, "missing": ["clip"], "files": []},
        version=0,
    )
    session.add(violation)
    session.commit()
    return str(violation.id)


def _matrix_suspension(world: World) -> str:
    """A camera in district A suspended for its precision, committed."""
    from safecity.traffic.reviews.models import Suspension

    session = object_session(world.a)
    assert session is not None
    suspension = Suspension(camera_id=_matrix_camera(world), precision=0.5, decided=20)
    session.add(suspension)
    session.commit()
    return str(suspension.id)


# --- payments and appeals helpers (portal work; the cases above call them when they run) -----------


def _matrix_appeal(world: World) -> str:
    """A pending appeal (no attachment: that route answers 404 once allowed) against a challan in district A;
    committed so the app sees it."""
    import secrets

    from sqlalchemy import select

    from safecity.cameras.models import Camera
    from safecity.traffic.appeals.models import Appeal, AppealStatus
    from safecity.traffic.challans.models import Challan, ChallanStatus, Fine
    from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

    session = object_session(world.a)
    assert session is not None
    now = dt.datetime.now(dt.UTC)
    camera = Camera(
        name=f"Matrix junction {uuid.uuid4().hex[:6]}",
        district_id=world.a.id,
        latitude=34.0,
        longitude=71.5,
        stream_url="rtsp://10.0.0.1/1",
    )
    # The oldest line of the schedule (made once): later lines are the fine cases' to add.
    fine = session.scalars(
        select(Fine)
        .where(Fine.province_code == "KP", Fine.vehicle_class == "car", Fine.offence == Offence.RED_LIGHT)
        .order_by(Fine.effective_from)
    ).first() or Fine(
        province_code="KP",
        vehicle_class="car",
        offence=Offence.RED_LIGHT,
        amount_pkr=500,
        effective_from=dt.date(2000, 1, 1),
    )
    session.add_all([camera, fine])
    session.flush()
    violation = Violation(
        source_key=f"matrix:{uuid.uuid4()}",
        offence=Offence.RED_LIGHT,
        camera_id=camera.id,
        district_id=world.a.id,
        occurred_at=now,
        status=ViolationStatus.CONFIRMED,
        plate="MTX123",
        evidence={},
    )
    session.add(violation)
    session.flush()
    challan = Challan(
        number=f"{world.a.code}-2026-{secrets.randbelow(10**6):06d}{uuid.uuid4().hex[:4]}",
        violation_id=violation.id,
        district_id=world.a.id,
        plate="MTX123",
        offence=Offence.RED_LIGHT,
        vehicle_class="car",
        fine_id=fine.id,
        amount_pkr=500,
        status=ChallanStatus.IN_APPEAL,
        issued_at=now,
        due_at=now + dt.timedelta(days=10),
        payment_ref=uuid.uuid4().hex[:20].upper(),
        verify_code=secrets.token_urlsafe(18),
    )
    session.add(challan)
    session.flush()
    appeal = Appeal(
        challan_id=challan.id,
        district_id=world.a.id,
        status=AppealStatus.PENDING,
        statement="Matrix statement: not my car.",
        contact_email="matrix@example.com",
        language="en",
        filed_at=now,
        deadline_at=now + dt.timedelta(days=30),
    )
    session.add(appeal)
    session.flush()
    session.commit()
    return str(appeal.id)


# --- e-challan helpers (the cases above call them when they run) -----------------------------------


def _matrix_fine() -> dict[str, Any]:
    """A new line of KP's schedule from today (Peshawar's date, as the server counts it)."""
    from zoneinfo import ZoneInfo

    today = dt.datetime.now(ZoneInfo("Asia/Karachi")).date()
    return {
        "province_code": "KP",
        "vehicle_class": "car",
        "offence": "red_light",
        "amount_pkr": 1000,
        "effective_from": today.isoformat(),
        "legal_reference": "Matrix notification",
    }


def _matrix_challan(world: World) -> str:
    """A challan issued now in district A for a confirmed violation (no pictures in its packet); committed."""
    from safecity.traffic.challans.models import Challan, ChallanStatus, Fine
    from safecity.traffic.violations.models import Offence, Violation, ViolationStatus

    session = object_session(world.a)
    assert session is not None
    now = dt.datetime.now(dt.UTC)
    fine = Fine(
        province_code=f"M{uuid.uuid4().hex[:6].upper()}",  # a schedule of its own for each call
        vehicle_class="car",
        offence=Offence.RED_LIGHT,
        amount_pkr=1000,
        effective_from=dt.date(2021, 7, 1),
        legal_reference="Matrix schedule",
    )
    violation = Violation(
        source_key=f"matrix:{uuid.uuid4()}",
        offence=Offence.RED_LIGHT,
        camera_id=_matrix_camera(world),
        district_id=world.a.id,
        occurred_at=now,
        status=ViolationStatus.CONFIRMED,
        plate="MTX123",
        evidence={"version": 1, "complete": True, "missing": [], "files": []},
        evidence_sha256="0" * 64,
    )
    session.add_all([fine, violation])
    session.flush()
    challan = Challan(
        number=f"MTX-{now.year}-{uuid.uuid4().int % 10**6:06d}",
        violation_id=violation.id,
        district_id=world.a.id,
        plate="MTX123",
        offence=Offence.RED_LIGHT,
        vehicle_class="car",
        fine_id=fine.id,
        amount_pkr=1000,
        status=ChallanStatus.ISSUED,
        issued_at=now,
        due_at=now + dt.timedelta(days=10),
        payment_ref=str(uuid.uuid4().int)[:18],
        verify_code="matrix",
        owner_address="Matrix house, Peshawar",
    )
    session.add(challan)
    session.commit()
    return str(challan.id)


def _matrix_print(world: World) -> str:
    """The query of today's batch for the post of district A, which holds a challan issued now."""
    from zoneinfo import ZoneInfo

    _matrix_challan(world)
    return f"district_id={world.a.id}&date={dt.datetime.now(ZoneInfo('Asia/Karachi')).date().isoformat()}"


# --- traffic enforcement helpers (the cases above call them when they run) ------------------------


def _matrix_enforcer() -> Any:
    from safecity.auth.principal import Principal

    perms = frozenset({"traffic.read", "traffic.manage", "analytics.manage", "cameras.read"})
    return Principal(None, "matrix-enforcer", perms, None, via="system")


def _matrix_enforcement_body(world: World) -> dict[str, Any]:
    """A camera in district A with a wrong-way zone drawn, committed; the rule that enforces it."""
    from safecity.analytics import service as analytics
    from safecity.analytics.schemas import rule_adapter

    session = object_session(world.a)
    assert session is not None
    camera_id = _matrix_camera(world)
    zone = analytics.create_rule(
        session=session,
        principal=_matrix_enforcer(),
        camera_id=camera_id,
        config=rule_adapter.validate_python(
            {
                "kind": "wrong_way",
                "name": "One way",
                "zone": [[0, 0], [1, 0], [1, 1], [0, 1]],
                "direction": [[0.5, 0.9], [0.5, 0.1]],
            }
        ),
    )
    session.commit()
    return {
        "name": "Matrix wrong way",
        "camera_id": str(camera_id),
        "offence": "wrong_way",
        "analytics_rule_id": str(zone.id),
    }


def _matrix_enforcement_rule(world: World) -> str:
    """A wrong-way enforcement rule on a camera in district A, committed."""
    from safecity.traffic.violations import service as violations
    from safecity.traffic.violations.schemas import EnforcementRuleIn

    data = EnforcementRuleIn.model_validate(_matrix_enforcement_body(world))
    session = object_session(world.a)
    assert session is not None
    rule = violations.create_rule(session=session, principal=_matrix_enforcer(), data=data)
    session.commit()
    return str(rule.id)


def _matrix_signal(world: World) -> str:
    """A controller-fed signal in district A, committed."""
    from safecity.traffic.violations import service as violations
    from safecity.traffic.violations.models import SignalSource
    from safecity.traffic.violations.schemas import SignalIn

    session = object_session(world.a)
    assert session is not None
    data = SignalIn(
        name=f"Matrix signal {uuid.uuid4().hex[:6]}", source=SignalSource.CONTROLLER, district_id=world.a.id
    )
    signal = violations.create_signal(session=session, principal=_matrix_enforcer(), data=data)
    session.commit()
    return str(signal.id)


def _own_unit(world: World) -> str:
    """A unit in district A whose terminal is the acting "unit" account, if one is acting (else no unit)."""
    from sqlalchemy import select

    from safecity.auth.models import UserRole
    from safecity.dispatch.models import Unit

    session = object_session(world.a)
    assert session is not None
    account = session.scalars(select(UserRole.user_id).where(UserRole.role_name == "unit")).first()
    if account is None:
        return "none"
    unit = session.scalars(select(Unit).where(Unit.account_id == account)).first()
    if unit is None:
        unit = session.get_one(Unit, uuid.UUID(_dispatch_unit(world)))
        unit.account_id = account
        session.commit()
    return str(unit.id)


# --- records' data quality helpers -------------------------------------------------------------------


def _matrix_merge(world: World) -> dict[str, str]:
    """Two persons of district A to merge (a fresh pair for each role)."""
    from safecity.records import service as records
    from safecity.records.schemas import PersonIn

    session = object_session(world.a)
    assert session is not None
    kept, merged = (
        records.add_person(
            session=session, data=PersonIn(name=f"Matrix {n}"), district_id=world.a.id, source="own:matrix"
        )
        for n in ("Kept", "Merged")
    )
    session.flush()
    return {"kept_id": str(kept.id), "merged_id": str(merged.id), "reason": "matrix check"}


# --- face recognition helpers ------------------------------------------------------------------------


def _faces_list(world: World) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "name": "Matrix watchlist",
        "kind": "missing",
        "legal_basis": "Matrix legal basis",
        "district_id": str(world.a.id),
        "review_at": (now + dt.timedelta(days=30)).isoformat(),
    }


def _matrix_watchlist(world: World) -> str:
    """A watchlist of district A, committed."""
    return _faces_watchlist_of(world.a)


def _faces_watchlist_of(district: District) -> str:
    """A watchlist of `district`, committed."""
    from safecity.auth.principal import Principal
    from safecity.faces import service as faces
    from safecity.faces.schemas import WatchlistIn

    session = object_session(district)
    assert session is not None
    keeper = Principal(None, "matrix-keeper", frozenset({"faces.enrol"}), None, via="system")
    body = {
        "name": "Matrix watchlist",
        "kind": "missing",
        "legal_basis": "Matrix legal basis",
        "district_id": str(district.id),
        "review_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
    }
    watchlist = faces.create_watchlist(
        session=session, principal=keeper, data=WatchlistIn.model_validate(body)
    )
    session.commit()
    return str(watchlist.id)


def _faces_entry(world: World) -> dict[str, Any]:
    """A person of district A's records to put on a watchlist."""
    from safecity.records import service as records
    from safecity.records.schemas import PersonIn

    session = object_session(world.a)
    assert session is not None
    person = records.add_person(
        session=session, data=PersonIn(name="Matrix Listed"), district_id=world.a.id, source="own:matrix"
    )
    session.commit()
    return {"person_id": str(person.id), "reason": "Matrix reason for listing"}


def _faces_authorisation(world: World) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "kind": "retrospective",
        "legal_basis": "Matrix legal basis",
        "purpose": "Matrix purpose of the search",
        "district_id": str(world.a.id),
        "watchlist_ids": [_matrix_watchlist(world)],
        "starts_at": now.isoformat(),
        "ends_at": (now + dt.timedelta(days=1)).isoformat(),
    }


def _matrix_request(world: World) -> str:
    """A pending authorisation of district A asked for by someone else, committed."""
    from safecity.auth.principal import Principal
    from safecity.faces import service as faces
    from safecity.faces.schemas import AuthorisationIn

    session = object_session(world.a)
    assert session is not None
    asker = Principal(None, "matrix-asker", frozenset({"faces.search"}), None, via="system")
    data = AuthorisationIn.model_validate(_faces_authorisation(world))
    authorisation = faces.request_authorisation(session=session, principal=asker, data=data)
    session.commit()
    return str(authorisation.id)
