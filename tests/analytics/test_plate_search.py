"""Plate sightings: search in every mode, scope, permission, purpose and audit, CSV, pictures, journeys with
their companions, and retention. Sightings are stored as the pipeline stores them (plates.service.record).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, union_all
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import ClauseElement
from typer.testing import CliRunner

from conftest import Factory
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.schemas import SearchMode, SightingIn, SightingSearch
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.errors import InvalidInput, PermissionDenied
from safecity.org.models import District

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
PURPOSE = "FIR 123/2026 Gulberg"


@dataclass
class Town:
    a: District
    b: District
    gate: Camera  # district a
    bridge: Camera  # district a
    market: Camera  # district a
    chowk: Camera  # district a
    far: Camera  # district b


def add_camera(session: Session, district: District, name: str, lat: float, lon: float) -> Camera:
    camera = Camera(
        name=name, district_id=district.id, latitude=lat, longitude=lon, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(camera)
    session.flush()
    return camera


@pytest.fixture
def town(factory: Factory) -> Town:
    a, b = factory.district(), factory.district()
    s = factory.session
    return Town(
        a,
        b,
        add_camera(s, a, "Gate", 31.50, 74.30),
        add_camera(s, a, "Bridge", 31.52, 74.33),
        add_camera(s, a, "Market", 31.55, 74.35),
        add_camera(s, a, "Chowk", 31.57, 74.38),
        add_camera(s, b, "Far", 34.00, 71.50),
    )


def sight(
    session: Session,
    camera: Camera,
    plate: str | None,
    at: dt.datetime,
    *,
    crop: str | None = None,
    snapshot: str | None = None,
) -> Sighting:
    return plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=camera.id,
            district_id=camera.district_id,
            seen_at=at,
            first_seen=at - dt.timedelta(seconds=1),
            last_seen=at + dt.timedelta(seconds=1),
            plate=plate,
            confidence=0.9,
            layout="punjab_private",
            jurisdiction="Punjab",
            crop=crop,
            snapshot=snapshot,
        ),
    )


def province(factory: Factory, *roles: str) -> Principal:
    return factory.principal(factory.user(*roles))


PLATES = ("LEA1234", "LEA1Z34", "LE41234", "LEA12345", "LEB1234", "LEA124", "ABC123", "LEA9999", "XYZ1234")


@pytest.fixture
def many(town: Town, factory: Factory) -> dict[str, Sighting]:
    return {
        p: sight(factory.session, town.gate, p, T0 + dt.timedelta(minutes=i)) for i, p in enumerate(PLATES)
    }


def found(session: Session, principal: Principal, q: str, mode: SearchMode, **filters: object) -> set[str]:
    page = plates.search(
        session=session,
        principal=principal,
        search=SightingSearch(q=q, mode=mode, **filters),
        purpose=PURPOSE,
    )
    return {hit.plate or "" for hit in page.items}


@pytest.mark.parametrize(
    ("q", "mode", "expected"),
    [
        ("lea-1234", "exact", {"LEA1234"}),
        ("LEA 1", "prefix", {"LEA1234", "LEA1Z34", "LEA12345", "LEA124"}),
        ("LE?-12*", "wildcard", {"LEA1234", "LEA12345", "LEB1234", "LE41234", "LEA124"}),
        ("*234", "wildcard", {"LEA1234", "LEB1234", "LE41234", "XYZ1234"}),  # not LEA1Z34: folded only
        ("LEA1?34", "wildcard", {"LEA1234", "LEA1Z34"}),
        # One edit or look-alikes: Z/2 folded, A->4 and A->B substituted, 5 inserted, 3 deleted.
        ("LEA1234", "fuzzy", {"LEA1234", "LEA1Z34", "LE41234", "LEB1234", "LEA12345", "LEA124"}),
        ("XYZ-1234", "fuzzy", {"XYZ1234"}),
    ],
)
def test_each_mode_finds_its_plates_and_no_others(
    session: Session,
    factory: Factory,
    many: dict[str, Sighting],
    q: str,
    mode: SearchMode,
    expected: set[str],
) -> None:
    assert found(session, province(factory, "investigator"), q, mode) == expected


def test_one_edit_away_holds_exactly_the_plates_one_edit_away() -> None:
    near = plates.one_edit_away("AB1")
    assert {"AB1", "AB", "A1", "B1", "XAB1", "AB1X", "AX1", "AB7"} <= near
    assert "AB12X" not in near and "BA1" not in near  # two edits; a swap is two as well


def test_filters_by_camera_district_box_and_period(session: Session, factory: Factory, town: Town) -> None:
    for i, camera in enumerate((town.gate, town.bridge, town.far)):
        sight(session, camera, "LEA1234", T0 + dt.timedelta(hours=i))
    who = province(factory, "investigator")

    def cameras_of(**filters: object) -> list[uuid.UUID | None]:
        page = plates.search(
            session=session,
            principal=who,
            search=SightingSearch(q="LEA1234", mode="exact", **filters),
            purpose=PURPOSE,
        )
        return [hit.camera_id for hit in page.items]

    assert cameras_of() == [town.far.id, town.bridge.id, town.gate.id]  # newest first
    assert cameras_of(camera_ids=(town.gate.id, town.far.id)) == [town.far.id, town.gate.id]
    assert cameras_of(district_id=town.b.id) == [town.far.id]
    assert cameras_of(bbox=(74.32, 31.51, 74.40, 31.60)) == [town.bridge.id]
    assert cameras_of(since=T0 + dt.timedelta(minutes=30), until=T0 + dt.timedelta(hours=2)) == [
        town.bridge.id
    ]


@pytest.mark.parametrize(
    ("q", "mode", "plates_seen"),
    [
        ("ABC123", "exact", ["ABC123"]),
        # A spelt-out `?`: each narrow range (ABC12…, ABD12…, AB912…) is searched alone, then merged.
        ("AB?12*", "wildcard", ["ABC123", "ABD12", "AB9123", "ABC129"]),
    ],
)
def test_pages_follow_one_another_newest_first(
    session: Session, factory: Factory, town: Town, q: str, mode: SearchMode, plates_seen: list[str]
) -> None:
    rows = [
        sight(session, town.gate, plates_seen[i % len(plates_seen)], T0 + dt.timedelta(seconds=i // 2))
        for i in range(7)
    ]
    sight(session, town.gate, "ABC223", T0)  # matches neither
    who = province(factory, "investigator")
    seen: list[uuid.UUID] = []
    before = None
    while True:
        page = plates.search(
            session=session,
            principal=who,
            search=SightingSearch(q=q, mode=mode),
            purpose=PURPOSE,
            limit=3,
            before=before,
        )
        seen += [hit.id for hit in page.items]
        before = page.next_before
        if before is None:
            break
    expected = sorted(rows, key=lambda r: (r.seen_at, r.id), reverse=True)
    assert seen == [r.id for r in expected]


@pytest.mark.parametrize(
    ("q", "mode", "message"),
    [
        ("LEA;1234", "exact", "only letters and digits"),
        ("LEA*", "exact", "only letters and digits"),
        ("A" * 17, "exact", "at most 16"),
        (" - ", "exact", "give the plate"),
        ("LE", "prefix", "at least 3"),
        ("*1*", "wildcard", "at least 2 fixed characters"),
        ("LE%", "wildcard", "letters, digits, ? and *"),
    ],
)
def test_a_bad_query_is_refused_with_a_clear_message(
    session: Session, factory: Factory, q: str, mode: SearchMode, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)) as refused:
        found(session, province(factory, "investigator"), q, mode)
    assert refused.value.code == "bad_plate_query"


def test_search_needs_the_permission_and_a_purpose(session: Session, factory: Factory, many: object) -> None:
    with pytest.raises(PermissionDenied):
        found(session, province(factory, "operator"), "LEA1234", "exact")
    with pytest.raises(InvalidInput, match="purpose") as refused:
        plates.search(
            session=session,
            principal=province(factory, "investigator"),
            search=SightingSearch(q="X1"),
            purpose=" ",
        )
    assert refused.value.code == "purpose_required"


# --- the API -------------------------------------------------------------------------------------


def last_audit(session: Session, action: str) -> AuditEntry:
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None, f"no {action} entry"
    return entry


def test_api_search_is_scoped_audited_and_needs_purpose_and_permission(
    session: Session, factory: Factory, town: Town, login_as: Callable[[User], TestClient]
) -> None:
    sight(session, town.gate, "LEA1234", T0)
    sight(session, town.far, "LEA1234", T0 + dt.timedelta(minutes=5))
    officer_a = login_as(factory.user("investigator", districts=[town.a]))
    officer_b = login_as(factory.user("investigator", districts=[town.b]))
    operator = login_as(factory.user("operator"))
    params = {"q": "LEA-1234", "mode": "exact", "purpose": PURPOSE}

    response = officer_a.get("/api/v1/plates/sightings", params=params)
    assert response.status_code == 200, response.text
    [hit] = response.json()["items"]
    assert (hit["plate"], hit["camera_name"], hit["latitude"]) == ("LEA1234", "Gate", 31.50)
    entry = last_audit(session, "plates.search")
    assert entry.purpose == PURPOSE
    assert entry.detail["q"] == "LEA-1234" and entry.detail["results"] == 1

    b_only = officer_b.get("/api/v1/plates/sightings", params={**params, "camera_id": str(town.gate.id)})
    assert b_only.status_code == 200 and b_only.json()["items"] == []  # a's sightings are out of b's scope
    assert officer_b.get(f"/api/v1/plates/sightings/{hit['id']}", params=params).status_code == 404
    assert officer_b.get(f"/api/v1/plates/sightings/{hit['id']}/crop.jpg").status_code == 404

    assert operator.get("/api/v1/plates/sightings", params=params).status_code == 403
    no_purpose = officer_a.get("/api/v1/plates/sightings", params={"q": "LEA1234"})
    assert no_purpose.status_code == 422
    assert no_purpose.json()["error"]["code"] == "purpose_required"
    bad = officer_a.get("/api/v1/plates/sightings", params={**params, "q": "LEA'--"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_plate_query"

    one = officer_a.get(f"/api/v1/plates/sightings/{hit['id']}", params={"purpose": "case 7"})
    assert one.status_code == 200 and one.json()["plate"] == "LEA1234"
    assert last_audit(session, "plates.view").object_id == hit["id"]


def test_csv_export_holds_the_search_and_is_audited_as_an_export(
    session: Session, factory: Factory, town: Town, login_as: Callable[[User], TestClient]
) -> None:
    town.gate.name = "=HYPERLINK(1)"  # typed by a person: a spreadsheet must show it, not run it
    first = sight(session, town.gate, "LEA1234", T0)
    second = sight(session, town.bridge, "LEA1Z34", T0 + dt.timedelta(minutes=1))
    sight(session, town.bridge, "ABC123", T0 + dt.timedelta(minutes=2))
    client = login_as(factory.user("investigator", districts=[town.a]))
    response = client.get(
        "/api/v1/plates/sightings.csv", params={"q": "LEA1234", "mode": "fuzzy", "purpose": PURPOSE}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["id"], r["plate"], r["camera_name"]) for r in rows] == [
        (str(second.id), "LEA1Z34", "Bridge"),
        (str(first.id), "LEA1234", "'=HYPERLINK(1)"),
    ]
    assert rows[1]["seen_at"].startswith("2026-11-20T09:00:00")
    entry = last_audit(session, "plates.export")
    assert (entry.purpose, entry.detail["mode"], entry.detail["results"]) == (PURPOSE, "fuzzy", 2)


def write_jpeg(root: Path, relative: str, picture: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", picture)
    assert ok
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return data.tobytes()


def test_pictures_are_served_from_inside_the_snapshots_folder_only(
    session: Session,
    factory: Factory,
    town: Town,
    settings: Settings,
    pickup: np.ndarray,
    login_as: Callable[[User], TestClient],
) -> None:
    sighting_id = uuid.uuid4()
    crop = plates.crop_path(town.gate.id, sighting_id, T0, part="crop")
    vehicle = plates.crop_path(town.gate.id, sighting_id, T0, part="vehicle")
    crop_bytes = write_jpeg(settings.snapshots_dir, crop, pickup[20:60, 40:180])
    vehicle_bytes = write_jpeg(settings.snapshots_dir, vehicle, pickup)
    row = sight(session, town.gate, "LEA1234", T0, crop=crop, snapshot=vehicle)
    outside = sight(session, town.gate, "LEA1234", T0, crop="../../etc/passwd", snapshot="/etc/passwd")
    client = login_as(factory.user("investigator", districts=[town.a]))
    got = client.get(f"/api/v1/plates/sightings/{row.id}/crop.jpg")
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content == crop_bytes
    assert client.get(f"/api/v1/plates/sightings/{row.id}/vehicle.jpg").content == vehicle_bytes
    for part in ("crop", "vehicle"):
        refused = client.get(f"/api/v1/plates/sightings/{outside.id}/{part}.jpg")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "no_picture"


# --- journeys ------------------------------------------------------------------------------------


def test_journey_is_in_time_order_with_the_plates_travelling_with_it(
    session: Session, factory: Factory, town: Town, login_as: Callable[[User], TestClient]
) -> None:
    route = [(town.gate, 0), (town.bridge, 300), (town.market, 600), (town.chowk, 900)]
    for camera, s in reversed(route):  # stored out of order: the journey sorts them
        at = T0 + dt.timedelta(seconds=s)
        sight(session, camera, "LEA1234", at)
        sight(session, camera, "ABC123", at + dt.timedelta(seconds=20))  # the companion, every time
    # Close once or twice only, or at the right cameras but too late: not companions.
    sight(session, town.gate, "LEB777", T0 + dt.timedelta(seconds=5))
    sight(session, town.bridge, "LEB777", T0 + dt.timedelta(seconds=305))
    for camera, s in route[:3]:
        sight(session, camera, "XYZ999", T0 + dt.timedelta(seconds=s + 200))
    sight(session, town.far, "LEA1234", T0 + dt.timedelta(seconds=100))  # another district: not shown

    client = login_as(factory.user("investigator", districts=[town.a]))
    params = {"since": "2026-11-20T08:00:00Z", "until": "2026-11-20T11:00:00Z", "purpose": PURPOSE}
    response = client.get("/api/v1/plates/journeys/LEA-1234", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["camera_name"] for s in body["stops"]] == ["Gate", "Bridge", "Market", "Chowk"]
    assert body["first_seen"].startswith("2026-11-20T09:00:00")
    assert body["last_seen"].startswith("2026-11-20T09:15:00")
    assert [(c["plate"], c["cameras"], c["sightings"]) for c in body["companions"]] == [("ABC123", 4, 4)]

    wide = client.get("/api/v1/plates/journeys/LEA1234", params={**params, "window_s": 300}).json()
    assert {c["plate"] for c in wide["companions"]} == {"ABC123", "XYZ999"}
    entry = last_audit(session, "plates.journey")
    assert (entry.purpose, entry.detail["plate"], entry.detail["window_s"]) == (PURPOSE, "LEA1234", 300)
    assert client.get("/api/v1/plates/journeys/LEA1234", params={**params, "purpose": ""}).status_code == 422


# --- retention -----------------------------------------------------------------------------------


def test_purge_deletes_expired_unheld_sightings_with_their_pictures(
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    town: Town,
    settings: Settings,
    pickup: np.ndarray,
) -> None:
    now = T0 + dt.timedelta(days=100)

    def stored(at: dt.datetime, hold: str | None) -> tuple[Sighting, Path]:
        sighting_id = uuid.uuid4()
        relative = plates.crop_path(town.gate.id, sighting_id, at, part="crop")
        write_jpeg(settings.snapshots_dir, relative, pickup)
        row = sight(session, town.gate, "LEA1234", at, crop=relative)
        row.hold = hold
        return row, settings.snapshots_dir / relative

    expired, expired_crop = stored(T0, None)
    held, held_crop = stored(T0, "hotlist")
    recent, recent_crop = stored(now - dt.timedelta(days=89), None)
    _, alone_crop = stored(T0 + dt.timedelta(days=1), None)  # the only picture of its day
    victim = settings.data_dir / "precious.jpg"
    victim.write_bytes(b"not the sighting's")
    sight(session, town.gate, "ABC123", T0, crop="../precious.jpg")  # never deleted through a sighting
    session.commit()
    expired_id, held_id, recent_id = expired.id, held.id, recent.id

    deleted = plates.purge(
        session_factory=session_factory,
        snapshots_dir=settings.snapshots_dir,
        retention_days=settings.plates.retention_days,
        now=now,
    )
    assert deleted == 3  # the expired ones, and the one whose crop is named outside the folder
    session.expire_all()
    left = set(session.scalars(select(Sighting.id)))
    assert expired_id not in left and {held_id, recent_id} <= left
    assert not expired_crop.exists() and held_crop.exists() and recent_crop.exists()
    assert expired_crop.parent.exists()  # the held sighting's picture of that day keeps its folder
    assert not alone_crop.parent.exists() and alone_crop.parent.parent.exists()  # the camera's stays
    assert victim.exists()
    assert last_audit(session, "plates.retention").detail["deleted"] == 3


def test_cli_purge_uses_the_configured_retention(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safecity.cli import app

    url, make_session = own_db
    with make_session() as session:
        factory = Factory(session, None)
        district = factory.district()
        camera = add_camera(session, district, "Gate", 31.5, 74.3)
        old = sight(session, camera, "LEA1234", dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
        sight(session, camera, "LEA1234", dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        session.commit()
    monkeypatch.setenv("SAFECITY_DATABASE_URL", url)
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("SAFECITY_PLATES__RETENTION_DAYS", "7")
    result = CliRunner().invoke(app, ["plates", "purge"])
    assert result.exit_code == 0, result.output
    assert "1 sighting" in result.output
    with make_session() as session:
        assert session.get(Sighting, old.id) is None
        assert len(session.scalars(select(Sighting.id)).all()) == 1


# --- the pages -----------------------------------------------------------------------------------


def test_search_page_shows_crops_map_points_and_a_csv_link_once_a_purpose_is_given(
    session: Session,
    factory: Factory,
    town: Town,
    settings: Settings,
    pickup: np.ndarray,
    login_as: Callable[[User], TestClient],
) -> None:
    sighting_id = uuid.uuid4()
    crop = plates.crop_path(town.gate.id, sighting_id, T0, part="crop")
    write_jpeg(settings.snapshots_dir, crop, pickup)
    sight(session, town.gate, "LEA1234", T0, crop=crop)
    sight(session, town.bridge, "ABC123", T0)
    client = login_as(factory.user("investigator", districts=[town.a]))

    form = client.get("/plates")
    assert form.status_code == 200 and 'name="purpose"' in form.text and 'href="/plates"' in form.text
    refused = client.get("/plates", params={"go": "1", "q": "LEA1234", "purpose": ""})
    assert "state the purpose" in refused.text and "LEA1234</td>" not in refused.text

    shown = client.get("/plates", params={"go": "1", "q": "lea 1234", "mode": "fuzzy", "purpose": PURPOSE})
    assert shown.status_code == 200
    assert '<td class="plate">LEA1234</td>' in shown.text and "ABC123" not in shown.text
    assert "/crop.jpg" in shown.text and '"lat": 31.5' in shown.text
    assert (
        "/api/v1/plates/sightings.csv?q=lea+1234&amp;mode=fuzzy&amp;purpose=FIR+123%2F2026+Gulberg"
        in shown.text
    )
    assert last_audit(session, "plates.search").purpose == PURPOSE
    # Each sighting's video: the camera page, playing from the moment of the read.
    at = quote(T0.isoformat(), safe="")
    assert f'href="/cameras/{town.gate.id}?at={at}#playback" data-testid="sighting-video"' in shown.text

    assert login_as(factory.user("operator")).get("/plates").status_code == 403


def test_journey_page_lists_stops_in_order_and_the_companions(
    session: Session, factory: Factory, town: Town, login_as: Callable[[User], TestClient]
) -> None:
    for i, camera in enumerate((town.market, town.gate, town.chowk)):
        sight(session, camera, "LEA1234", T0 + dt.timedelta(minutes=i))
        sight(session, camera, "ABC123", T0 + dt.timedelta(minutes=i, seconds=30))
    client = login_as(factory.user("investigator", districts=[town.a]))
    params = {
        "plate": "LEA1234",
        "since": "2026-11-20T13:00",
        "until": "2026-11-20T15:00",
        "purpose": PURPOSE,
    }
    shown = client.get("/plates/journey", params={**params, "go": "1"})  # local times, Asia/Karachi
    assert shown.status_code == 200, shown.text
    timeline = shown.text.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert timeline.index("Market") < timeline.index("Gate") < timeline.index("Chowk")
    companions = shown.text.split('data-testid="companions"')[1].split("</table>")[0]
    assert ">ABC123</a>" in companions
    assert timeline.count('#playback">Video</a>') == 3  # each stop's video, from the camera page
    assert last_audit(session, "plates.journey").purpose == PURPOSE


@pytest.mark.anyio
async def test_the_video_runtime_housekeeping_purges_expired_sightings(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, town: Town, settings: Settings
) -> None:
    from safecity.core.bus.memory import MemoryBus
    from safecity.video.flows import VideoRuntime

    old = sight(session, town.gate, "LEA1234", dt.datetime.now(dt.UTC) - dt.timedelta(days=91))
    kept = sight(session, town.gate, "LEA1234", dt.datetime.now(dt.UTC) - dt.timedelta(days=89))
    old_id, kept_id = old.id, kept.id
    session.commit()
    runtime = VideoRuntime(settings, session_factory, MemoryBus())  # not started: no cameras run
    await runtime.purge_plates()
    session.expire_all()
    assert session.get(Sighting, old_id) is None and session.get(Sighting, kept_id) is not None


@pytest.mark.parametrize(
    ("q", "mode", "index"),
    [
        ("LEA1234", "exact", "ix_plate_sightings_plate"),
        ("LEA1", "prefix", "ix_plate_sightings_plate"),
        ("LE?12*", "wildcard", "ix_plate_sightings_plate"),
        ("LEA?2*", "wildcard", "ix_plate_sightings_plate"),
        ("*1234", "wildcard", "ix_plate_sightings_folded_rev"),
        ("LEA1234", "fuzzy", "ix_plate_sightings_folded"),
    ],
)
@pytest.mark.parametrize("scoped", [False, True], ids=["province", "one district"])
def test_every_mode_is_answered_from_an_index_on_both_databases(
    session: Session,
    factory: Factory,
    town: Town,
    many: object,
    q: str,
    mode: SearchMode,
    index: str,
    scoped: bool,
) -> None:
    # One district's user: SQLite, which keeps no statistics, must still take the plate's index.
    who = factory.principal(factory.user("investigator", districts=[town.a] if scoped else None))
    search = SightingSearch(q=q, mode=mode)
    query: ClauseElement = plates.statement(session=session, principal=who, search=search, limit=100)
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        # On a tiny table PostgreSQL rightly walks seen_at backwards for newest first: what is left to
        # check is that each of the plate's conditions can use its index at all.
        conditions = plates.plate_conditions(session, plates.normalise(q, mode), mode)
        query = union_all(*(select(Sighting.id).where(condition) for condition in conditions))
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "sqlite":
        plan = " | ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    else:
        # A tiny table is rightly scanned: forbid that, to see whether an index can serve the query.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " | ".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))
    assert index in plan, plan
    assert "SCAN plate_sightings" not in plan and "Seq Scan" not in plan, plan
