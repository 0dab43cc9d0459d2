"""The camera registry: CRUD within district scope, sealed credentials, default passwords, CSV import."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.org.models import District, Site

SECRET = "Zq9-vault-7731!"


def _camera(district: District, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Cam {uuid.uuid4().hex[:6]}",
        "district_id": str(district.id),
        "latitude": 34.0085,
        "longitude": 71.5781,
        "bearing": 90,
        "field_of_view": 60,
        "stream_url": "rtsp://10.20.0.5:554/Streaming/Channels/101",
        "tags": ["Junction", "anpr"],
        "retention_days": 45,
    }
    return body | overrides


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_manager_registers_changes_and_removes_a_camera_in_their_district(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    site = Site(district_id=a.id, name="Khyber Bazaar", latitude=34.0, longitude=71.57)
    session.add(site)
    client = login_as(factory.user("admin", districts=[a]))

    created = client.post(
        "/api/v1/cameras", json=_camera(a, site_id=str(site.id), owner_organisation="KP Police")
    )
    assert created.status_code == 201, created.text
    camera = created.json()
    assert camera["approval"] == "approved" and camera["site_id"] == str(site.id)
    assert camera["tags"] == ["junction", "anpr"] and camera["has_credentials"] is False

    changed = client.patch(
        f"/api/v1/cameras/{camera['id']}", json={"name": "Bazaar north", "bearing": None, "enabled": False}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["bearing"], changed.json()["enabled"]) == (
        "Bazaar north",
        None,
        False,
    )
    assert client.get(f"/api/v1/cameras/{camera['id']}").json()["name"] == "Bazaar north"

    assert client.delete(f"/api/v1/cameras/{camera['id']}").status_code == 204
    assert client.get(f"/api/v1/cameras/{camera['id']}").status_code == 404
    for action in ("camera.create", "camera.update", "camera.delete"):
        entries = [e for e in _audit(session, action) if e.object_id == camera["id"]]
        assert entries and entries[0].district_id == a.id, action
    update = next(e for e in _audit(session, "camera.update") if e.object_id == camera["id"])
    assert update.detail["changed"] == ["bearing", "enabled", "name"]


def test_a_user_of_district_a_never_sees_or_touches_district_b_cameras(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    admin_b = login_as(factory.user("admin", districts=[b]))
    in_b = admin_b.post("/api/v1/cameras", json=_camera(b, name="Cam of B")).json()
    admin_a = login_as(factory.user("admin", districts=[a]))
    in_a = admin_a.post("/api/v1/cameras", json=_camera(a, name="Cam of A")).json()

    listed = admin_a.get("/api/v1/cameras").json()
    assert [c["id"] for c in listed] == [in_a["id"]]
    assert admin_a.get("/api/v1/cameras", params={"district_id": str(b.id)}).json() == []
    assert admin_a.get(f"/api/v1/cameras/{in_b['id']}").status_code == 404
    assert admin_a.patch(f"/api/v1/cameras/{in_b['id']}", json={"name": "taken"}).status_code == 404
    assert admin_a.delete(f"/api/v1/cameras/{in_b['id']}").status_code == 404
    assert admin_a.post("/api/v1/cameras", json=_camera(b)).status_code == 404
    assert admin_a.patch(f"/api/v1/cameras/{in_a['id']}", json={"district_id": str(b.id)}).status_code == 404
    operator_a = login_as(factory.user("operator", districts=[a]))
    assert [c["name"] for c in operator_a.get("/api/v1/cameras").json()] == ["Cam of A"]
    assert operator_a.post("/api/v1/cameras", json=_camera(a)).status_code == 403
    assert admin_b.get(f"/api/v1/cameras/{in_b['id']}").json()["name"] == "Cam of B"


def test_filters_by_owner_tag_and_approval(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    client.post("/api/v1/cameras", json=_camera(a, name="Police junction", tags=["junction"]))
    client.post("/api/v1/cameras", json=_camera(a, name="Bank door", owner="commercial", tags=["bank"]))
    client.post("/api/v1/cameras", json=_camera(a, name="Junction 2", tags=["junction-2"]))

    def names(**params: str) -> list[str]:
        return [c["name"] for c in client.get("/api/v1/cameras", params=params).json()]

    assert names(tag="junction") == ["Police junction"]  # a whole tag, not a part of another
    assert names(tag="JUNCTION-2") == ["Junction 2"]
    assert names(owner="commercial") == ["Bank door"]
    assert names(approval="pending") == []
    assert names(q="junction") == ["Junction 2", "Police junction"]
    assert client.get("/api/v1/cameras", params={"owner": "martian"}).status_code == 422


def test_credentials_are_split_out_sealed_and_never_shown(
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    url = f"rtsp://ops%40gate:{SECRET.replace('!', '%21')}@10.20.0.7:554/live?channel=1"
    created = client.post("/api/v1/cameras", json=_camera(a, stream_url=url, substream_url=url + "&sub=1"))
    assert created.status_code == 201, created.text
    camera_id = created.json()["id"]
    body = created.json()
    assert body["stream_url"] == "rtsp://10.20.0.7:554/live?channel=1"
    assert body["substream_url"] == "rtsp://10.20.0.7:554/live?channel=1&sub=1"
    assert (body["username"], body["has_credentials"]) == ("ops@gate", True)

    responses = [
        created,
        client.get(f"/api/v1/cameras/{camera_id}"),
        client.get("/api/v1/cameras"),
        client.patch(f"/api/v1/cameras/{camera_id}", json={"name": "Gate"}),
        client.get(f"/cameras/{camera_id}"),
        client.get("/cameras"),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert SECRET not in response.text and "vault" not in response.text

    table = Camera.__table__.c  # the row as stored, not through the model
    row = session.execute(
        select(table.stream_url, table.substream_url, table.username, table.password_encrypted).where(
            table.id == uuid.UUID(camera_id)
        )
    ).one()
    assert all("vault" not in str(value) for value in row)
    assert row.password_encrypted.startswith("v1.")

    stored = session.get(Camera, uuid.UUID(camera_id))
    assert stored is not None
    session.refresh(stored)
    box = cameras.credentials_box(settings)
    assert cameras.connect_url(stored, box) == url
    assert cameras.connect_url(stored, box, substream=True) == url + "&sub=1"
    assert SECRET not in caplog.text and "vault" not in caplog.text
    assert all("vault" not in str(e.detail) for e in _audit(session, "camera.create"))

    # New credentials replace the old; clearing removes them.
    client.patch(f"/api/v1/cameras/{camera_id}", json={"username": "viewer", "password": "An0ther-long-one"})
    session.refresh(stored)
    assert cameras.connect_url(stored, box) == "rtsp://viewer:An0ther-long-one@10.20.0.7:554/live?channel=1"
    cleared = client.patch(f"/api/v1/cameras/{camera_id}", json={"clear_credentials": True}).json()
    assert (cleared["username"], cleared["has_credentials"]) == (None, False)


@pytest.mark.parametrize(
    "credentials",
    [
        {"stream_url": "rtsp://admin:12345@10.1.1.1/Streaming/Channels/101"},  # Hikvision's old default
        {"stream_url": "rtsp://10.1.1.1/cam/realmonitor", "username": "ADMIN", "password": "admin"},
        {"stream_url": "rtsp://root:pass@10.1.1.1/axis-media/media.amp"},
        {"stream_url": "rtsp://admin@10.1.1.1/live"},  # admin with an empty password
    ],
)
def test_a_factory_default_password_is_refused(
    credentials: dict[str, str], factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    response = client.post("/api/v1/cameras", json=_camera(a, **credentials))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "default_password"
    assert "factory-default" in response.json()["error"]["message"]
    assert session.scalars(select(Camera).where(Camera.district_id == a.id)).first() is None
    # An update cannot slip one in either.
    camera = client.post("/api/v1/cameras", json=_camera(a)).json()
    patched = client.patch(f"/api/v1/cameras/{camera['id']}", json={"username": "admin", "password": "12345"})
    assert patched.json()["error"]["code"] == "default_password"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"stream_url": "ftp://10.1.1.1/video"}, "starts with rtsp://"),
        ({"stream_url": "http://10.1.1.1/video.cgi?user=ops&pwd=Secret-1"}, "password field"),
        ({"stream_url": "rtsp://a:Long-pass-1@10.1.1.1/x", "password": "Other-pass-2"}, "disagree"),
        ({"stream_url": "rtsp://10.1.1.1:99999/x"}, "not a valid URL"),
        ({"stream_url": "rtsp:///nohost"}, "names no host"),
    ],
)
def test_bad_stream_urls_are_refused_clearly(
    fields: dict[str, str], problem: str, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    response = client.post("/api/v1/cameras", json=_camera(a, **fields))
    assert response.status_code == 422
    assert problem in response.json()["error"]["message"]


def test_a_demo_file_path_is_a_stream(factory: Factory, login_as: Callable[..., TestClient]) -> None:
    a = factory.district()
    client = login_as(factory.user("admin"))  # province-wide, in development mode (see test_stream_urls.py)
    response = client.post("/api/v1/cameras", json=_camera(a, stream_url="/srv/demo/junction.mp4"))
    assert response.status_code == 201 and response.json()["stream_url"] == "/srv/demo/junction.mp4"


# --- CSV import ------------------------------------------------------------------------------------

HEADER = ",".join(cameras.CSV_HEADER)


def _row(district: District, n: int, **cells: str) -> str:
    values = {
        "name": f"Ring Road {n}",
        "district_code": district.code,
        "site": "",
        "latitude": f"{34.0 + n / 1000:.4f}",
        "longitude": f"{71.5 + n / 1000:.4f}",
        "bearing": str(n * 7 % 360),
        "field_of_view": "70",
        "stream_url": f"rtsp://ops:Str0ng-{n}-pw@10.30.{n // 200}.{n % 200 + 1}/stream1",
        "substream_url": "",
        "owner": "police",
        "owner_organisation": "Peshawar Safe City",
        "sharing": "continuous",
        "tags": "ring road;anpr",
        "retention_days": "30",
    }
    values.update(cells)
    return ",".join(values[c] for c in cameras.CSV_HEADER)


def test_fifty_good_rows_import_in_one_go(
    factory: Factory, login_as: Callable[..., TestClient], session: Session, settings: Settings
) -> None:
    a = factory.district()
    session.add(Site(district_id=a.id, name="Ring Road", latitude=34.0, longitude=71.5))
    client = login_as(factory.user("admin", districts=[a]))
    rows = [_row(a, n, site="ring road" if n % 2 else "") for n in range(50)]
    csv_text = "\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n"

    dry = client.post("/api/v1/cameras/import", params={"dry_run": "true"}, json={"csv": csv_text})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"dry_run": True, "rows": 50, "imported": 0, "problems": []}
    assert client.get("/api/v1/cameras").json() == []

    real = client.post("/api/v1/cameras/import", params={"dry_run": "false"}, json={"csv": csv_text})
    assert real.status_code == 200, real.text
    assert real.json()["imported"] == 50
    listed = client.get("/api/v1/cameras").json()
    assert len(listed) == 50
    assert all(c["has_credentials"] and "Str0ng" not in c["stream_url"] for c in listed)
    assert sum(1 for c in listed if c["site_id"]) == 25
    assert {tuple(c["tags"]) for c in listed} == {("ring road", "anpr")}
    one = session.scalars(select(Camera).where(Camera.name == "Ring Road 7")).one()
    assert cameras.connect_url(one, cameras.credentials_box(settings)).startswith("rtsp://ops:Str0ng-7-pw@")
    assert len(_audit(session, "camera.import")) == 1

    again = client.post("/api/v1/cameras/import", params={"dry_run": "true"}, json={"csv": csv_text})
    assert len(again.json()["problems"]) == 50  # every name is taken now: a second run would duplicate


def test_a_dry_run_reports_every_bad_row_and_nothing_is_stored(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    rows = [
        _row(a, 1),
        _row(a, 2, district_code=b.code),  # line 3: another district
        _row(a, 3, latitude="134.5"),  # line 4
        _row(a, 4, name='=HYPERLINK("http://evil")'),  # line 5: formula
        _row(a, 5, stream_url="rtsp://admin:12345@10.0.0.9/ch1"),  # line 6: default password
        _row(a, 6, owner="alien", sharing="always"),  # line 7: two problems
        _row(a, 1),  # line 8: duplicate name of line 2
        "too,few,cells",  # line 9
        _row(a, 9, site="No Such Site"),  # line 10
        _row(a, 10, tags="@cmd;ok"),  # line 11
        _row(a, 11, latitude=""),  # line 12: missing
    ]
    csv_text = "\n".join([HEADER, *rows])
    report = client.post("/api/v1/cameras/import", params={"dry_run": "true"}, json={"csv": csv_text}).json()
    found = {(p["row"], p["field"]) for p in report["problems"]}
    assert found == {
        (3, "district_code"),
        (4, "latitude"),
        (5, "name"),
        (6, "stream_url"),
        (7, "owner"),
        (7, "sharing"),
        (8, "name"),
        (9, "row"),
        (10, "site"),
        (11, "tags"),
        (12, "latitude"),
    }
    by_row = {p["row"]: p["problem"] for p in report["problems"]}
    assert "formula" in by_row[5] and "factory-default" in by_row[6] and "row 2" in by_row[8]
    assert "expected 14" in by_row[9] and "empty" in by_row[12]
    assert report["rows"] == 11 and report["imported"] == 0

    real = client.post("/api/v1/cameras/import", params={"dry_run": "false"}, json={"csv": csv_text})
    assert real.status_code == 422 and real.json()["imported"] == 0
    assert client.get("/api/v1/cameras").json() == []


def test_a_file_that_is_not_a_camera_csv_is_refused(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))

    def problems(csv_text: str) -> Any:
        response = client.post("/api/v1/cameras/import", json={"csv": csv_text})
        return response.json()

    header_report = problems("name,district,lat\nx,y,z")
    assert header_report["problems"][0]["field"] == "header"
    assert "missing district_code" in header_report["problems"][0]["problem"]
    assert problems(HEADER + "\n")["problems"][0]["problem"] == "the file has no cameras"
    assert problems(HEADER + "\n\x00\x00")["error"]["code"] == "invalid_input"  # NUL: refused in any body
    too_big = HEADER + "\n" + "x" * cameras.MAX_IMPORT_CHARS
    assert client.post("/api/v1/cameras/import", json={"csv": too_big}).status_code in (413, 422)
    with pytest.raises(Exception, match="not UTF-8"):
        cameras.decode_csv(("name\nCaf\u00e9").encode("latin-1"))
    assert cameras.decode_csv("\ufeffname".encode()) == "name"


# --- pages -----------------------------------------------------------------------------------------


def test_registry_pages_list_add_edit_and_import(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a = factory.district()
    client = login_as(factory.user("admin", districts=[a]))
    form = {
        "name": "Saddar Chowk",
        "district_id": str(a.id),
        "site_id": "",
        "latitude": "34.0",
        "longitude": "71.55",
        "bearing": "45",
        "field_of_view": "90",
        "stream_url": f"rtsp://ops:{SECRET}@10.9.9.9/main",
        "owner": "police",
        "sharing": "continuous",
        "tags": "chowk, traffic",
        "retention_days": "30",
        "enabled": "on",
        "recording": "on",
    }
    added = client.post("/cameras/new", data=form)
    assert added.status_code == 204 and added.headers["HX-Redirect"] == "/cameras"
    camera = session.scalars(select(Camera).where(Camera.name == "Saddar Chowk")).one()
    assert camera.tags == ["chowk", "traffic"] and camera.username == "ops"

    page = client.get("/cameras")
    assert page.status_code == 200 and "Saddar Chowk" in page.text and SECRET not in page.text
    assert '"bearing": 45.0' in page.text and "data-camera-map" in page.text

    # The password box left empty keeps the credentials; the name changes.
    edit = client.post(
        f"/cameras/{camera.id}",
        data=form | {"name": "Saddar Chowk east", "stream_url": "rtsp://10.9.9.9/main"},
    )
    assert edit.status_code == 204, edit.text
    session.refresh(camera)
    assert (camera.name, camera.username) == ("Saddar Chowk east", "ops")
    refused = client.post(f"/cameras/{camera.id}", data=form | {"latitude": "95"})
    assert "latitude" in refused.text and refused.headers["HX-Retarget"] == "#flash"

    assert "name,district_code,site" in client.get("/cameras/import").text
    check = client.post("/cameras/import/check", data={"csv": HEADER + "\n" + _row(a, 1, latitude="x")})
    assert "latitude" in check.text and "Nothing will be imported" in check.text
    good = HEADER + "\n" + _row(a, 2)
    check = client.post("/cameras/import/check", files={"file": ("cams.csv", good.encode(), "text/csv")})
    assert "Import 1 cameras" in check.text
    done = client.post("/cameras/import", data={"csv": good})
    assert done.status_code == 204
    assert session.scalars(select(Camera).where(Camera.name == "Ring Road 2")).one()

    operator = login_as(factory.user("operator", districts=[a]))
    view = operator.get(f"/cameras/{camera.id}")
    assert view.status_code == 200 and "fieldset disabled" in view.text
    assert operator.get("/cameras/new").status_code == 403
