"""How each camera reads plates: through the API and the rule editor's panel, scoped, checked and audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import CameraPlates
from safecity.audit.models import AuditEntry
from safecity.cameras.models import Camera
from safecity.org.models import District

if TYPE_CHECKING:
    from conftest import Factory

LANE = {"mode": "dedicated", "region": "PK", "min_plate_px": 80, "min_vehicle_px": 150}


def add_camera(session: Session, district: District, name: str) -> Camera:
    camera = Camera(name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="")
    session.add(camera)
    session.flush()
    return camera


def url(camera: Camera) -> str:
    return f"/api/v1/cameras/{camera.id}/plates"


def audit_entries(session: Session, camera: Camera) -> list[AuditEntry]:
    query = select(AuditEntry).where(
        AuditEntry.object_type == "camera_plates", AuditEntry.object_id == str(camera.id)
    )
    return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_a_supervisor_turns_plate_reading_on_and_changes_it(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Toll plaza")
    supervisor = factory.user("supervisor", districts=[district])
    client = login_as(supervisor)

    first = client.get(url(camera))
    assert first.status_code == 200, first.text
    assert first.json()["settings"]["mode"] == "off" and first.json()["updated_at"] is None
    assert plates.reading_cameras(session=session) == {}

    saved = client.put(url(camera), json=LANE)
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"] == LANE and saved.json()["updated_by"] == str(supervisor.id)
    assert client.get(url(camera)).json() == saved.json()
    # The analytics runtime now analyses this camera (it has no rules).
    assert {k: v.mode for k, v in plates.reading_cameras(session=session).items()} == {camera.id: "dedicated"}

    changed = client.put(url(camera), json={"mode": "vehicles", "region": "ANY"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"] == {
        "mode": "vehicles",
        "region": "ANY",
        "min_plate_px": 60,
        "min_vehicle_px": 120,
    }
    off = client.put(url(camera), json={"mode": "off"})
    assert off.status_code == 200
    assert plates.reading_cameras(session=session) == {}

    entries = audit_entries(session, camera)
    assert [e.action for e in entries] == ["plates.settings.update"] * 3
    assert all(e.actor_id == supervisor.id and e.district_id == district.id for e in entries)
    assert entries[0].detail["before"]["mode"] == "off" and entries[0].detail["after"] == LANE
    assert entries[1].detail["before"] == LANE and entries[1].detail["after"]["region"] == "ANY"
    assert entries[2].detail["after"]["mode"] == "off"


def test_plate_settings_stay_within_scope_and_permission(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    mine, theirs = add_camera(session, a, "Mine"), add_camera(session, b, "Theirs")
    supervisor = login_as(factory.user("supervisor", districts=[a]))
    assert supervisor.get(url(theirs)).status_code == 404
    assert supervisor.put(url(theirs), json=LANE).status_code == 404
    assert session.get(CameraPlates, theirs.id) is None

    # An operator sees the settings but may not change them (and the refusal is audited).
    operator = login_as(factory.user("operator", districts=[a]))
    assert operator.get(url(mine)).status_code == 200
    refused = operator.put(url(mine), json=LANE)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert session.get(CameraPlates, mine.id) is None
    assert not [e for e in audit_entries(session, mine) if e.outcome == "success"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"mode": "always"}, "mode"),
        ({"region": "FR"}, "region"),
        ({"min_plate_px": 5}, "min_plate_px"),
        ({"min_plate_px": 5000}, "min_plate_px"),
        ({"min_vehicle_px": 0}, "min_vehicle_px"),
        ({"speed_limit": 80}, "speed_limit"),  # not a plate setting
    ],
)
def test_bad_plate_settings_are_refused_with_the_reason(
    factory: Factory,
    session: Session,
    login_as: Callable[..., TestClient],
    change: dict[str, Any],
    problem: str,
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    client = login_as(factory.user("supervisor", districts=[district]))
    refused = client.put(url(camera), json={**LANE, **change})
    assert refused.status_code == 422, refused.text
    assert problem in refused.text
    assert session.get(CameraPlates, camera.id) is None


def test_the_rule_editor_shows_and_saves_the_plates_panel(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    camera = add_camera(session, district, "Chowk")
    page_url = f"/cameras/{camera.id}/analytics"
    client = login_as(factory.user("supervisor", districts=[district]))
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    assert 'data-testid="plates" data-mode="off"' in page.text and 'data-testid="save-plates"' in page.text

    form = {"mode": "vehicles", "region": "PK", "min_plate_px": "70", "min_vehicle_px": "140"}
    saved = client.post(f"{page_url}/plates", data=form)
    assert saved.status_code == 200, saved.text
    assert 'data-mode="vehicles"' in saved.text and 'data-testid="plates-saved"' in saved.text
    session.expire_all()
    row = session.get(CameraPlates, camera.id)
    assert row is not None and (row.mode, row.min_plate_px, row.min_vehicle_px) == ("vehicles", 70, 140)
    assert (
        'name="min_plate_px" type="number" min="20" max="1000" step="1" value="70"'
        in client.get(page_url).text
    )

    bad = client.post(f"{page_url}/plates", data={**form, "min_plate_px": "seven"})
    assert bad.headers["HX-Retarget"] == "#flash" and "min_plate_px" in bad.text
    session.expire_all()
    assert session.get(CameraPlates, camera.id).min_plate_px == 70  # type: ignore[union-attr]

    # Without analytics.manage the panel is read-only, and posting it anyway is refused.
    operator = login_as(factory.user("operator", districts=[district]))
    shown = operator.get(page_url).text
    assert 'data-testid="plates" data-mode="vehicles"' in shown and 'data-testid="save-plates"' not in shown
    refused = operator.post(f"{page_url}/plates", data={**form, "mode": "off"})
    assert refused.headers["HX-Retarget"] == "#flash"
    session.expire_all()
    assert session.get(CameraPlates, camera.id).mode == "vehicles"  # type: ignore[union-attr]
