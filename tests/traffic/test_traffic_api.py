"""The traffic API for other departments: locations, counts and speeds within the reader's districts under
traffic.read; calibrations under traffic.manage, audited; bad input refused with stable codes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_speeds import camera_with_lines, firing

from safecity.analytics import service as analytics
from safecity.analytics.counting import CountBook
from safecity.audit.models import AuditEntry
from safecity.core.db import utcnow
from safecity.traffic import service as traffic
from safecity.traffic.schemas import CalibrationIn
from safecity.traffic.speeds import SpeedBook, buckets

if TYPE_CHECKING:
    from conftest import Factory
    from safecity.cameras.models import Camera
    from safecity.org.models import District


def counted_road(factory: Factory, session: Session) -> tuple[District, Camera, uuid.UUID, uuid.UUID]:
    """A camera whose two lines counted 3 cars and a bus three minutes ago, the cars also timed (20 m)."""
    district = factory.district()
    camera, a, b = camera_with_lines(session, district.id)
    calibration = traffic.calibrate(
        session=session,
        principal=factory.principal(factory.user("traffic_officer")),
        camera_id=camera.id,
        data=CalibrationIn(line_a_id=a, line_b_id=b, distance_m=20.0, speed_limit_kmh=60),
    )
    at = utcnow() - dt.timedelta(minutes=3)
    counts, speeds = CountBook(), SpeedBook()
    speeds.set_calibrations(traffic.calibrations(session=session))
    for line, offset in ((a, 0.0), (b, 1.0)):
        shot = firing(line, (1, "car"), (2, "car"), (3, "car"), (4, "bus"))
        counts.add(camera.id, shot, at + dt.timedelta(seconds=offset))
    # The cars took 1.0 s (72 km/h) to reach B; car 2 took 2.0 s at B's second firing (36 km/h).
    for line, offset, tracks in ((a, 0.0, (1, 2, 3)), (b, 1.0, (1, 3)), (b, 2.0, (2,))):
        speeds.add(camera.id, firing(line, *((t, "car") for t in tracks)), at + dt.timedelta(seconds=offset))
    analytics.add_counts(session=session, rows=counts.drain())
    traffic.add_speeds(session=session, rows=buckets(speeds.measure()))
    session.commit()
    assert calibration.line_a_id == a
    return district, camera, a, b


def window() -> dict[str, str]:
    now = utcnow()
    return {
        "since": (now - dt.timedelta(hours=2)).isoformat(),
        "until": (now + dt.timedelta(hours=1)).isoformat(),
    }


def test_counts_and_speeds_are_read_per_lane_within_the_readers_districts(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district, camera, a, b = counted_road(factory, session)
    elsewhere, _, _ = camera_with_lines(session, factory.district().id)
    officer = login_as(factory.user("traffic_officer", districts=[district]))

    listed = officer.get("/api/v1/traffic/locations")
    assert listed.status_code == 200, listed.text
    assert [loc["camera_id"] for loc in listed.json()] == [str(camera.id)]  # not the other district's camera
    lanes = {lane["name"]: lane["rule_id"] for lane in listed.json()[0]["lanes"]}
    assert lanes == {"Entry": str(a), "Exit": str(b)}

    url = f"/api/v1/traffic/locations/{camera.id}"
    counts = officer.get(f"{url}/counts", params={**window(), "interval": 15})
    assert counts.status_code == 200, counts.text
    got = {(r["rule_id"], r["class"]): r["count"] for r in counts.json()}
    assert got == {(str(a), "car"): 3, (str(a), "bus"): 1, (str(b), "car"): 3, (str(b), "bus"): 1}
    one_lane = officer.get(f"{url}/counts", params={**window(), "interval": 60, "lane": str(b)}).json()
    assert {r["rule_id"] for r in one_lane} == {str(b)} and sum(r["count"] for r in one_lane) == 4

    speeds = officer.get(f"{url}/speeds", params={**window(), "interval": 5})
    assert speeds.status_code == 200, speeds.text
    [row] = speeds.json()
    assert row["class"] == "car" and row["count"] == 3 and row["interval_min"] == 5
    assert row["mean_kmh"] == 60.0 and row["max_kmh"] == 72.0 and row["p85_kmh"] == 72.0  # capped at the top

    # Bad input: stable codes.
    bad = officer.get(f"{url}/counts", params={**window(), "interval": 7})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_interval"
    backwards = {"since": window()["until"], "until": window()["since"]}
    assert officer.get(f"{url}/speeds", params=backwards).json()["error"]["code"] == "bad_period"
    assert officer.get(f"{url}/counts", params={"since": "yesterday", "until": "now"}).status_code == 422

    # Another district's operator does not learn the camera exists; without traffic.read, refused.
    assert officer.get(f"/api/v1/traffic/locations/{elsewhere.id}/counts", params=window()).status_code == 404
    other = login_as(factory.user("operator", districts=[factory.district()]))
    assert other.get(f"{url}/counts", params=window()).status_code == 404
    assert other.get("/api/v1/traffic/locations").json() == []
    investigator = login_as(factory.user("investigator", districts=[district]))
    denied = investigator.get(f"{url}/counts", params=window())
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert investigator.get("/api/v1/traffic/locations").status_code == 403


def test_calibration_needs_traffic_manage_two_lines_of_the_camera_and_is_audited(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera, a, b = camera_with_lines(session, district.id)
    _, c, _ = camera_with_lines(session, district.id)  # a line of another camera
    session.commit()
    url = f"/api/v1/traffic/locations/{camera.id}/calibration"
    body = {"line_a_id": str(a), "line_b_id": str(b), "distance_m": 18.5, "speed_limit_kmh": 50}

    operator = login_as(factory.user("operator", districts=[district]))
    assert operator.put(url, json=body).status_code == 403  # reads traffic, does not calibrate

    officer = login_as(factory.user("traffic_officer", districts=[district]))
    saved = officer.put(url, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["distance_m"] == 18.5
    again = officer.put(url, json={**body, "line_a_id": str(b), "line_b_id": str(a), "distance_m": 19})
    assert again.json()["id"] == saved.json()["id"]  # the same pair of lines: changed, not doubled
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "traffic.calibration.set")).all()
    assert len(entries) == 2 and {e.object_id for e in entries} == {str(camera.id)}

    foreign = officer.put(url, json={**body, "line_b_id": str(c)})
    assert foreign.status_code == 422 and foreign.json()["error"]["code"] == "not_a_counting_line"
    assert officer.put(url, json={**body, "line_b_id": str(a)}).status_code == 422
    assert officer.put(url, json={**body, "distance_m": -3}).status_code == 422

    outsider = login_as(factory.user("traffic_officer", districts=[factory.district()]))
    assert outsider.put(url, json=body).status_code == 404
    location = officer.get(f"/api/v1/traffic/locations/{camera.id}").json()
    assert [c["distance_m"] for c in location["calibrations"]] == [19.0]
    removed = officer.delete(f"{url}/{saved.json()['id']}")
    assert removed.status_code == 204
    assert officer.get(f"/api/v1/traffic/locations/{camera.id}").json()["calibrations"] == []
