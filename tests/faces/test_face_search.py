"""Retrospective search by photo: it finds the person among the faces the cameras saw, only where and when
a current retrospective authorisation allows, and every search, run or refused, is in the audit log.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from faces_data import (
    Place,
    astronaut,
    astronaut_jpeg,
    astronaut_mirrored_jpeg,
    authorise,
    coffee_jpeg,
    jpeg,
    listed_entry,
    place,
)
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.analytics.faces.engine import FaceEngine
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.errors import InvalidInput, NotFound, PermissionDenied
from safecity.faces import service as faces
from safecity.faces.matches import service as matches
from safecity.faces.models import AuthorisationKind
from safecity.faces.search import service as search
from safecity.faces.search.schemas import Area, SearchIn

NOW = dt.datetime.now(dt.UTC)
PURPOSE = "Trace the accused of FIR 12/2026 on the day of the robbery"


@pytest.fixture(scope="module")
def face_engine() -> Iterator[FaceEngine]:
    yield FaceEngine()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return faces.biometric_box(settings)


@dataclass(frozen=True)
class Scene:
    here: Place
    other_camera: uuid.UUID  # same district, far away
    investigator: Principal
    investigator_user: User
    supervisors: tuple[Principal, Principal]
    watchlist_id: uuid.UUID
    wanted: uuid.UUID  # the astronaut seen by the searched camera within the period
    stranger: uuid.UUID  # someone else seen there then


def _sighting(
    session: Session,
    box: SecretBox,
    camera_id: uuid.UUID,
    district_id: uuid.UUID,
    at: dt.datetime,
    vector: np.ndarray,
) -> uuid.UUID:
    return matches.record_sighting(
        session=session,
        box=box,
        camera_id=camera_id,
        district_id=district_id,
        seen_at=at,
        face_box=[10, 10, 150, 150],
        quality={"ok": True},
        chip_jpeg=jpeg(astronaut()[:150, :150]),
        embedding=vector,
        authorisation_id=None,
        keep_for=dt.timedelta(hours=24),
    ).id


@pytest.fixture
def scene(session: Session, factory: Factory, box: SecretBox, face_engine: FaceEngine) -> Scene:
    district = factory.district()
    here = place(session, district)
    far = Camera(name="Ring Road", district_id=district.id, latitude=31.40, longitude=74.20, stream_url="")
    session.add(far)
    session.flush()
    investigator_user = factory.user("investigator", districts=[district])
    investigator = factory.principal(investigator_user)
    supervisors = (
        factory.principal(factory.user("supervisor", districts=[district])),
        factory.principal(factory.user("supervisor", districts=[district])),
    )
    entry = listed_entry(session, investigator, district, here.person_id)
    seen = face_engine.analyse(astronaut())[0].embedding
    assert seen is not None
    rng = np.random.default_rng(4)
    other = rng.standard_normal(128).astype(np.float32)
    other /= np.linalg.norm(other)
    hour = dt.timedelta(hours=1)
    wanted = _sighting(session, box, here.camera_id, district.id, NOW - 2 * hour, seen)
    stranger = _sighting(session, box, here.camera_id, district.id, NOW - 2 * hour, other)
    _sighting(session, box, here.camera_id, district.id, NOW - 20 * hour, seen)  # before the period
    _sighting(session, box, far.id, district.id, NOW - 2 * hour, seen)  # a camera not searched
    return Scene(
        here, far.id, investigator, investigator_user, supervisors, entry.watchlist_id, wanted, stranger
    )


def _authorisation(
    session: Session,
    scene: Scene,
    *,
    kind: AuthorisationKind = AuthorisationKind.RETROSPECTIVE,
    cameras: list[uuid.UUID] | None = None,
    approve: bool = True,
) -> uuid.UUID:
    return authorise(
        session,
        *scene.supervisors,
        scene.here.district,
        scene.watchlist_id,
        cameras=[scene.here.camera_id] if cameras is None else cameras,
        kind=kind,
        starts_at=NOW - dt.timedelta(hours=6),
        ends_at=NOW + dt.timedelta(hours=6),
        approve=approve,
    )


def _query(**changes: object) -> SearchIn:
    values: dict[str, object] = {
        "purpose": PURPOSE,
        "since": NOW - dt.timedelta(hours=5),
        "until": NOW,
        "camera_ids": [],
    }
    values.update(changes)
    return SearchIn.model_validate(values)


def _audits(session: Session, authorisation_id: uuid.UUID) -> list[tuple[str, str, str | None, str | None]]:
    rows = session.execute(
        select(AuditEntry.outcome, AuditEntry.actor_name, AuditEntry.purpose, AuditEntry.detail)
        .where(AuditEntry.action == "faces.search", AuditEntry.object_id == str(authorisation_id))
        .order_by(AuditEntry.seq)
    )
    return [(outcome, actor, purpose, (detail or {}).get("code")) for outcome, actor, purpose, detail in rows]


def test_a_photo_finds_the_person_where_and_when_authorised(
    session: Session, scene: Scene, box: SecretBox, face_engine: FaceEngine
) -> None:
    authorisation_id = _authorisation(session, scene)
    found = search.search_by_photo(
        session=session,
        principal=scene.investigator,
        engine=face_engine,
        box=box,
        photo=astronaut_mirrored_jpeg(),  # another photo of the same person
        authorisation_id=authorisation_id,
        query=_query(camera_ids=[scene.here.camera_id], min_score=0.5),
    )
    assert (found.cameras, found.scanned) == (1, 2)  # not the face before the period, nor the other camera's
    assert found.query_quality["ok"] is True
    assert [r.sighting_id for r in found.results] == [scene.wanted]  # the stranger scores below 0.5
    (hit,) = found.results
    assert hit.same_person and hit.score >= face_engine.threshold
    assert hit.camera_name == "Mall Road" and (hit.latitude, hit.longitude) == (31.56, 74.31)
    assert base64.b64decode(hit.chip)[:2] == b"\xff\xd8"  # the JPEG, decrypted
    assert hit.video_url is not None
    assert hit.video_url.startswith(f"/cameras/{scene.here.camera_id}?at=")
    assert hit.video_url.endswith("#playback")
    ((outcome, actor, purpose, code),) = _audits(session, authorisation_id)
    assert (outcome, actor, purpose, code) == ("success", scene.investigator.username, PURPOSE, None)


def test_an_area_searches_the_covered_cameras_inside_it(
    session: Session, scene: Scene, box: SecretBox, face_engine: FaceEngine
) -> None:
    authorisation_id = _authorisation(session, scene, cameras=[])  # no cameras named: its district's
    everywhere = Area(south=31.0, west=74.0, north=32.0, east=75.0)
    found = search.search_by_photo(
        session=session,
        principal=scene.investigator,
        engine=face_engine,
        box=box,
        photo=astronaut_jpeg(),
        authorisation_id=authorisation_id,
        query=_query(area=everywhere),
    )
    assert found.cameras == 2
    assert {r.camera_name for r in found.results} == {"Mall Road", "Ring Road"}
    assert all(r.same_person for r in found.results)  # the default floor is the threshold
    assert [r.score for r in found.results] == sorted((r.score for r in found.results), reverse=True)

    just_the_mall = Area(south=31.5, west=74.3, north=31.6, east=74.4)
    found = search.search_by_photo(
        session=session,
        principal=scene.investigator,
        engine=face_engine,
        box=box,
        photo=astronaut_jpeg(),
        authorisation_id=authorisation_id,
        query=_query(area=just_the_mall),
    )
    assert [r.sighting_id for r in found.results] == [scene.wanted]


def test_a_search_without_leave_is_refused_and_audited(
    session: Session, scene: Scene, box: SecretBox, face_engine: FaceEngine, factory: Factory
) -> None:
    covered = [scene.here.camera_id]
    live = _authorisation(session, scene, kind=AuthorisationKind.LIVE)
    pending = _authorisation(session, scene, approve=False)
    current = _authorisation(session, scene)
    operator = factory.principal(factory.user("operator", districts=[scene.here.district]))
    outsider = factory.principal(factory.user("investigator", districts=[factory.district()]))
    who = scene.investigator
    early = NOW - dt.timedelta(hours=7)  # before the authorisation starts
    both = [scene.here.camera_id, scene.other_camera]  # the authorisation names only the first
    far = Area(south=31.3, west=74.1, north=31.5, east=74.25)  # only the far camera is inside
    cases: list[tuple[Principal, uuid.UUID, SearchIn, type[Exception], str]] = [
        (operator, current, _query(camera_ids=covered), PermissionDenied, "permission_denied"),
        (who, live, _query(camera_ids=covered), PermissionDenied, "authorisation_not_retrospective"),
        (who, pending, _query(camera_ids=covered), PermissionDenied, "authorisation_not_current"),
        (outsider, current, _query(camera_ids=covered), NotFound, "authorisation_not_found"),
        (who, uuid.uuid4(), _query(camera_ids=covered), NotFound, "authorisation_not_found"),
        (who, current, _query(camera_ids=covered, since=early), PermissionDenied, "authorisation_period"),
        (who, current, _query(camera_ids=both), PermissionDenied, "authorisation_cameras"),
        (who, current, _query(area=far), InvalidInput, "no_cameras"),
        (who, current, _query(camera_ids=[uuid.uuid4()]), InvalidInput, "camera_not_found"),
    ]
    for principal, authorisation_id, query, error, code in cases:
        with pytest.raises(error) as refused:
            search.search_by_photo(
                session=session,
                principal=principal,
                engine=face_engine,
                box=box,
                authorisation_id=authorisation_id,
                photo=astronaut_jpeg(),
                query=query,
            )
        assert refused.value.code == code
        ((outcome, actor, purpose, audited),) = _audits(session, authorisation_id)[-1:]
        assert (outcome, actor, purpose, audited) == (
            "denied" if error in (PermissionDenied, NotFound) else "failure",
            principal.username,
            PURPOSE,
            code,
        )
    assert len(_audits(session, current)) == 6


@pytest.mark.parametrize(
    ("photo", "code"),
    [(coffee_jpeg, "no_face"), (lambda: b"not a picture", "not_allowed")],
)
def test_a_photo_without_a_usable_face_is_refused_with_the_reason(
    session: Session, scene: Scene, box: SecretBox, face_engine: FaceEngine, photo: object, code: str
) -> None:
    authorisation_id = _authorisation(session, scene)
    with pytest.raises(InvalidInput) as refused:
        search.search_by_photo(
            session=session,
            principal=scene.investigator,
            engine=face_engine,
            box=box,
            photo=photo(),  # type: ignore[operator]
            authorisation_id=authorisation_id,
            query=_query(camera_ids=[scene.here.camera_id]),
        )
    assert (refused.value.code, refused.value.field) == (code, "photo")
    assert _audits(session, authorisation_id) == [("failure", scene.investigator.username, PURPOSE, code)]


def test_the_query_must_say_where_and_a_sane_period() -> None:
    with pytest.raises(ValueError, match="one of the two"):
        _query()
    with pytest.raises(ValueError, match="one of the two"):
        _query(camera_ids=[uuid.uuid4()], area=Area(south=1, west=1, north=2, east=2))
    with pytest.raises(ValueError, match="end after"):
        _query(camera_ids=[uuid.uuid4()], until=NOW - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="north must be above"):
        Area(south=2, west=1, north=1, east=2)


def test_the_api_searches_by_a_photo_sent_as_base64(
    session: Session, scene: Scene, login_as: Callable[[User], TestClient]
) -> None:
    authorisation_id = _authorisation(session, scene)
    client = login_as(scene.investigator_user)
    body = {
        "purpose": PURPOSE,
        "since": (NOW - dt.timedelta(hours=5)).isoformat(),
        "until": NOW.isoformat(),
        "camera_ids": [str(scene.here.camera_id)],
        "photo": base64.b64encode(astronaut_jpeg()).decode(),
    }
    url = f"/api/v1/faces/search/{authorisation_id}"
    answer = client.post(url, json=body)
    assert answer.status_code == 200, answer.text
    assert [r["sighting_id"] for r in answer.json()["results"]] == [str(scene.wanted)]

    answer = client.post(url, json=body | {"photo": base64.b64encode(coffee_jpeg()).decode()})
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "no_face")
    answer = client.post(url, json=body | {"photo": "not base64!"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "photo_not_base64")
    answer = client.post(url, json=body | {"since": (NOW - dt.timedelta(hours=9)).isoformat()})
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "authorisation_period")


def test_the_page_shows_the_faces_found_on_a_timeline_and_a_map(
    session: Session, scene: Scene, login_as: Callable[[User], TestClient]
) -> None:
    authorisation_id = _authorisation(session, scene)
    client = login_as(scene.investigator_user)
    form = client.get("/faces/search")
    assert form.status_code == 200
    assert f'value="{authorisation_id}"' in form.text and "Mall Road" in form.text

    local = "%Y-%m-%dT%H:%M"
    fields = {
        "authorisation": str(authorisation_id),
        "camera": [str(scene.here.camera_id)],
        "since": (NOW - dt.timedelta(hours=5)).astimezone(dt.UTC).strftime(local) + "+00:00",
        "until": NOW.astimezone(dt.UTC).strftime(local) + "+00:00",
        "purpose": PURPOSE,
    }
    photo = {"photo": ("suspect.jpg", astronaut_mirrored_jpeg(), "image/jpeg")}
    found = client.post("/faces/search", data=fields, files=photo)
    assert found.status_code == 200, found.text
    assert found.text.count('class="chip"') == 1
    assert 'data-testid="face-video"' in found.text and "data-face-map=" in found.text
    assert "31.56" in found.text  # the camera's place, for the map

    early = fields | {"since": (NOW - dt.timedelta(hours=9)).strftime(local) + "+00:00"}
    refused = client.post("/faces/search", data=early, files=photo)
    assert refused.status_code == 200  # htmx swaps in the refusal in place of the results
    assert "within the authorisation" in refused.text and 'class="chip"' not in refused.text

    # An area drawn on the map instead of cameras: the covered cameras inside it are searched.
    assert "data-area-map=" in form.text and "data-draw-area" in form.text
    where = {k: v for k, v in fields.items() if k != "camera"}
    drawn = client.post("/faces/search", data=where | {"area": "31.5,74.3,31.6,74.4"}, files=photo)
    assert drawn.status_code == 200 and drawn.text.count('class="chip"') == 1
    assert 'value="31.5,74.3,31.6,74.4"' in drawn.text  # kept in the form for the next search
    elsewhere = client.post("/faces/search", data=where | {"area": "30.0,70.0,30.1,70.1"}, files=photo)
    assert 'class="chip"' not in elsewhere.text and "in that area" in elsewhere.text
    for bad, why in (("north,of,here", "draw it again"), ("", "name the cameras or draw an area")):
        refused = client.post("/faces/search", data=where | {"area": bad}, files=photo)
        assert why in refused.text and 'class="chip"' not in refused.text


def test_faces_chosen_from_a_search_are_a_route_only_where_the_authorisation_reaches(
    session: Session, scene: Scene, box: SecretBox
) -> None:
    from safecity.forensics import service as forensics

    authorisation_id = _authorisation(session, scene)
    route = forensics.route(
        session=session,
        principal=scene.investigator,
        purpose=PURPOSE,
        faces=[scene.wanted, scene.stranger],
        authorisation_id=authorisation_id,
    )
    assert [s.hit.kind for s in route.stops] == ["face", "face"]
    assert {s.hit.id for s in route.stops} == {scene.wanted, scene.stranger}
    assert route.playlist_url is not None and f"span={scene.here.camera_id}," in route.playlist_url
    # A face the authorisation does not cover (another camera) cannot be put on the route.
    vector = np.full(128, 1 / np.sqrt(128), np.float32)
    far = _sighting(
        session, box, scene.other_camera, scene.here.district.id, NOW - dt.timedelta(hours=2), vector
    )
    with pytest.raises(PermissionDenied):
        forensics.route(
            session=session,
            principal=scene.investigator,
            purpose=PURPOSE,
            faces=[scene.wanted, far],
            authorisation_id=authorisation_id,
        )
    with pytest.raises(NotFound):
        forensics.route(
            session=session,
            principal=scene.investigator,
            purpose=PURPOSE,
            faces=[uuid.uuid4()],
            authorisation_id=authorisation_id,
        )
