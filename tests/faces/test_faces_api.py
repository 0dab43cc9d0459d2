"""Face recognition through the API and the pages, as an investigator, two supervisors, an examiner, an
auditor and an operator use it: watchlists and enrolment, authorisations by two people, the error rates
everyone may read, the oversight report; other districts' lists out of reach.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from faces_data import Place, astronaut_jpeg, coffee_jpeg, place
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.models import Role, RolePermission
from safecity.faces import service as faces
from safecity.records import service as records
from safecity.records.models import Sensitivity
from safecity.records.schemas import PersonNew

NOW = dt.datetime.now(dt.UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def here(session: Session, factory: Factory) -> Place:
    return place(session, factory.district())


@pytest.fixture
def investigator(factory: Factory, here: Place, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("investigator", districts=[here.district], username="inv.faces"))


def _watchlist(client: TestClient, here: Place, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "Missing children",
        "kind": "missing",
        "legal_basis": "Missing person reports of PS Gulberg",
        "district_id": str(here.district.id),
        "review_at": (NOW + dt.timedelta(days=30)).isoformat(),
        "expires_at": (NOW + dt.timedelta(days=60)).isoformat(),
    } | changes
    response = client.post("/api/v1/faces/watchlists", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _entry(client: TestClient, here: Place, watchlist_id: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/faces/watchlists/{watchlist_id}/entries",
        json={
            "person_id": str(here.person_id),
            "reason": "Reported missing on 4 Dec 2026",
            "legal_reference": "MP-7",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_an_investigator_lists_a_person_and_enrols_photos(
    investigator: TestClient, here: Place, session: Session
) -> None:
    watchlist = _watchlist(investigator, here)
    assert [w["id"] for w in investigator.get("/api/v1/faces/watchlists").json()] == [watchlist["id"]]
    entry = _entry(investigator, here, watchlist["id"])
    again = investigator.post(
        f"/api/v1/faces/watchlists/{watchlist['id']}/entries",
        json={"person_id": str(here.person_id), "reason": "Reported missing on 4 Dec 2026"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_listed"

    report = investigator.post(
        f"/api/v1/faces/entries/{entry['id']}/enrolments",
        json={
            "photos": [
                {"name": "front.jpg", "data_base64": _b64(astronaut_jpeg())},
                {"name": "cup.jpg", "data_base64": _b64(coffee_jpeg())},
            ]
        },
    )
    assert report.status_code == 200, report.text
    first, second = report.json()["results"]
    assert first["accepted"] and first["quality"]["ok"] and first["enrolment_id"]
    assert (second["accepted"], second["code"]) == (False, "no_face")

    enrolments = investigator.get(f"/api/v1/faces/entries/{entry['id']}/enrolments").json()
    assert [e["id"] for e in enrolments] == [first["enrolment_id"]]
    chip = investigator.get(f"/api/v1/faces/enrolments/{first['enrolment_id']}/chip.jpg")
    assert chip.status_code == 200 and chip.content.startswith(b"\xff\xd8\xff")
    assert chip.headers["cache-control"] == "private, no-store"
    listed = investigator.get(f"/api/v1/faces/watchlists/{watchlist['id']}/entries").json()
    assert listed[0]["enrolments"] == 1

    page = investigator.get(f"/faces/watchlists/{watchlist['id']}")
    assert page.status_code == 200
    assert "Eileen Collins" in page.text and "35202-7654321-3" in page.text
    assert f"/records/persons/{here.person_id}" in page.text
    assert f"/faces/enrolments/{first['enrolment_id']}/chip.jpg" in page.text
    assert investigator.get(f"/faces/enrolments/{first['enrolment_id']}/chip.jpg").status_code == 200
    views = session.scalars(
        select(AuditEntry.actor_name).where(
            AuditEntry.action == "faces.enrolment.view", AuditEntry.object_id == first["enrolment_id"]
        )
    ).all()
    assert views == ["inv.faces", "inv.faces"]

    removed = investigator.post(
        f"/api/v1/faces/entries/{entry['id']}/remove", json={"reason": "Found and home on 6 Dec 2026"}
    )
    assert removed.status_code == 200 and removed.json()["removed_at"]
    assert investigator.get(f"/api/v1/faces/entries/{entry['id']}/enrolments").json() == []  # deleted


def test_a_sensitive_persons_entry_is_absent_without_records_sensitive(
    investigator: TestClient,
    here: Place,
    factory: Factory,
    session: Session,
    login_as: Callable[..., TestClient],
) -> None:
    # A missing child (a juvenile's record): a desk that holds records.sensitive lists her and enrols a photo.
    session.add(Role(name="juvenile_desk", description="Juvenile desk"))
    session.flush()
    session.add_all(
        RolePermission(role_name="juvenile_desk", permission=p)
        for p in ("records.read", "records.manage", "records.sensitive", "faces.enrol", "faces.read")
    )
    desk_user = factory.user("juvenile_desk", districts=[here.district])
    child = records.create_person(
        session=session,
        principal=factory.principal(desk_user),
        data=PersonNew(
            cnic="35202-1111111-1",
            name="Ayesha Bibi",
            father_name="Imran Ali",
            sensitivity=Sensitivity.JUVENILE,
            district_id=here.district.id,
        ),
    )
    desk = login_as(desk_user)
    watchlist = _watchlist(investigator, here)
    adult = _entry(investigator, here, watchlist["id"])
    listed = desk.post(
        f"/api/v1/faces/watchlists/{watchlist['id']}/entries",
        json={"person_id": str(child.id), "reason": "Reported missing on 4 Dec 2026"},
    )
    assert listed.status_code == 201, listed.text
    entry = listed.json()
    report = desk.post(
        f"/api/v1/faces/entries/{entry['id']}/enrolments",
        json={"photos": [{"name": "front.jpg", "data_base64": _b64(astronaut_jpeg())}]},
    )
    enrolment_id = report.json()["results"][0]["enrolment_id"]
    assert enrolment_id, report.text
    both = {adult["id"], entry["id"]}
    assert {e["id"] for e in desk.get(f"/api/v1/faces/watchlists/{watchlist['id']}/entries").json()} == both
    assert "Ayesha Bibi" in desk.get(f"/faces/watchlists/{watchlist['id']}").text

    # The investigator (faces.enrol, not records.sensitive): as in the records, the child is not there at all.
    entries = investigator.get(f"/api/v1/faces/watchlists/{watchlist['id']}/entries").json()
    assert [e["id"] for e in entries] == [adult["id"]]
    page = investigator.get(f"/faces/watchlists/{watchlist['id']}")
    assert "Eileen Collins" in page.text and "Ayesha Bibi" not in page.text and entry["id"] not in page.text
    for path in (
        f"/api/v1/faces/entries/{entry['id']}/enrolments",
        f"/faces/enrolments/{enrolment_id}/chip.jpg",
    ):
        hidden = investigator.get(path)
        assert hidden.status_code == 404, path
    again = investigator.post(
        f"/api/v1/faces/watchlists/{watchlist['id']}/entries",
        json={"person_id": str(child.id), "reason": "Reported missing on 4 Dec 2026"},
    )
    assert again.status_code == 422 and again.json()["error"]["code"] == "unknown_person"
    other = _watchlist(investigator, here, name="Missing in Gulberg")
    by_cnic = investigator.post(
        f"/faces/watchlists/{other['id']}/entries",
        data={"person": "35202-1111111-1", "reason": "Reported missing on 4 Dec 2026"},
    )
    assert "no person with this CNIC in the records" in by_cnic.text
    assert (
        faces.list_entries(
            session=session, principal=factory.principal(desk_user), watchlist_id=uuid.UUID(other["id"])
        )
        == []
    )


def test_a_bad_upload_is_refused_clearly(investigator: TestClient, here: Place) -> None:
    entry = _entry(investigator, here, _watchlist(investigator, here)["id"])
    url = f"/api/v1/faces/entries/{entry['id']}/enrolments"
    bad = investigator.post(url, json={"photos": [{"name": "x", "data_base64": "not base64!"}]})
    assert bad.status_code == 422
    none = investigator.post(url, json={"photos": []})
    assert none.status_code == 422
    html = investigator.post(
        url, json={"photos": [{"name": "x.jpg", "data_base64": _b64(b"<html>hi</html>")}]}
    )
    assert html.status_code == 200 and html.json()["results"][0]["code"] == "not_allowed"


def test_other_districts_and_other_roles_are_kept_out(
    factory: Factory, investigator: TestClient, here: Place, login_as: Callable[..., TestClient]
) -> None:
    watchlist = _watchlist(investigator, here)
    entry = _entry(investigator, here, watchlist["id"])
    stranger = login_as(factory.user("investigator", districts=[factory.district()]))
    assert stranger.get(f"/api/v1/faces/watchlists/{watchlist['id']}").status_code == 404
    assert stranger.get("/api/v1/faces/watchlists").json() == []
    assert stranger.get(f"/faces/watchlists/{watchlist['id']}").status_code == 404
    enrol = stranger.post(
        f"/api/v1/faces/entries/{entry['id']}/enrolments",
        json={"photos": [{"name": "front.jpg", "data_base64": _b64(astronaut_jpeg())}]},
    )
    assert enrol.status_code == 404
    operator = login_as(factory.user("operator", districts=[here.district]))
    assert operator.get("/api/v1/faces/watchlists").status_code == 403
    assert operator.get(f"/faces/watchlists/{watchlist['id']}").status_code == 403
    assert operator.get("/faces").status_code == 403
    assert operator.post("/api/v1/faces/watchlists", json={}).status_code == 422  # bad body first
    examiner = login_as(factory.user("face_examiner", districts=[here.district]))
    body = {
        "name": "Mine",
        "kind": "wanted",
        "legal_basis": "Warrants of the court of session",
        "review_at": (NOW + dt.timedelta(days=3)).isoformat(),
    }
    assert examiner.post("/api/v1/faces/watchlists", json=body).status_code == 403


def test_two_supervisors_authorise_and_revoke_live_matching(
    factory: Factory,
    investigator: TestClient,
    here: Place,
    login_as: Callable[..., TestClient],
    session: Session,
) -> None:
    watchlist = _watchlist(investigator, here)
    asked = investigator.post(
        "/api/v1/faces/authorisations",
        json={
            "kind": "live",
            "legal_basis": "Order of the DIG Operations no. 114/2026",
            "purpose": "Find the missing child at the Mall Road",
            "district_id": str(here.district.id),
            "watchlist_ids": [watchlist["id"]],
            "camera_ids": [str(here.camera_id)],
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + dt.timedelta(hours=6)).isoformat(),
        },
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["camera_ids"] == [str(here.camera_id)]
    authorisation_id = asked.json()["id"]
    assert investigator.post(f"/api/v1/faces/authorisations/{authorisation_id}/approve").status_code == 403

    supervisor = login_as(factory.user("supervisor", districts=[here.district], username="sup.one"))
    page = supervisor.get("/faces/authorisations")
    assert page.status_code == 200 and f"/faces/authorisations/{authorisation_id}/approve" in page.text
    approved = supervisor.post(f"/api/v1/faces/authorisations/{authorisation_id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "current"
    assert approved.json()["approved_by"] == "sup.one"

    current = faces.current_authorisations(
        session=session, kind=faces.AuthorisationKind.LIVE, camera_id=here.camera_id, at=faces.utcnow()
    )
    assert [str(a.id) for a in current] == [authorisation_id]

    short = supervisor.post(f"/api/v1/faces/authorisations/{authorisation_id}/revoke", json={"reason": "no"})
    assert short.status_code == 422
    revoked = supervisor.post(
        f"/api/v1/faces/authorisations/{authorisation_id}/revoke",
        json={"reason": "The child was found at home"},
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    listed = investigator.get("/api/v1/faces/authorisations").json()
    assert [(a["id"], a["status"]) for a in listed] == [(authorisation_id, "revoked")]


def test_a_self_approval_is_refused_and_audited(
    factory: Factory, here: Place, login_as: Callable[..., TestClient], session: Session
) -> None:
    supervisor = login_as(factory.user("supervisor", districts=[here.district], username="sup.self"))
    watchlist = _watchlist(supervisor, here)
    asked = supervisor.post(
        "/api/v1/faces/authorisations",
        json={
            "kind": "retrospective",
            "legal_basis": "Order of the DIG Operations no. 115/2026",
            "purpose": "Trace the accused of FIR 12/2026",
            "watchlist_ids": [watchlist["id"]],
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + dt.timedelta(days=2)).isoformat(),
        },
    )
    assert asked.status_code == 201, asked.text
    refused = supervisor.post(f"/api/v1/faces/authorisations/{asked.json()['id']}/approve")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "self_approval"
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "access.denied", AuditEntry.actor_name == "sup.self")
    ).one()
    assert denied.detail["code"] == "self_approval"


def test_everyone_reads_the_error_rates_and_auditors_the_oversight(
    factory: Factory, here: Place, login_as: Callable[..., TestClient], session: Session
) -> None:
    faces.publish_evaluation(
        session=session,
        principal=None,
        result={
            "accuracy": 0.9825,
            "tar_at_far_1pct": 0.97,
            "tar_at_far_0_1pct": 0.93,
            "fmr": 0.0012,
            "fnmr": 0.031,
            "threshold": 0.92,
            "pairs": 6000,
            "groups": {},
        },
        dataset="ORL faces, 6,000 pairs",
    )
    operator = login_as(factory.user("operator", districts=[here.district]))
    rates = operator.get("/api/v1/faces/rates").json()
    assert rates["threshold"] == pytest.approx(0.92)
    assert rates["evaluations"][0]["accuracy"] == pytest.approx(0.9825)
    page = operator.get("/faces/rates")
    assert page.status_code == 200 and "98.25 %" in page.text and "ORL faces, 6,000 pairs" in page.text
    assert 'href="/faces/rates"' in page.text  # in the operator's menu
    assert operator.get("/faces/oversight").status_code == 403

    auditor = login_as(factory.user("auditor", districts=[here.district]))
    months = auditor.get("/api/v1/faces/oversight").json()
    assert len(months) == 12 and set(months[0]["counts"]) >= {"requested", "enrolments", "confirmations"}
    csv_file = auditor.get("/faces/oversight.csv")
    assert csv_file.status_code == 200 and csv_file.text.startswith(
        "month,requested,approved,revoked,enrolments"
    )
    assert auditor.get("/faces/oversight").status_code == 200


FACE_PAGES = ("/faces", "/faces/authorisations", "/faces/rates", "/faces/oversight")
LISTS = {"/faces", "/faces/authorisations"}


@pytest.mark.parametrize(
    ("role", "in_menu"),
    [
        ("supervisor", set(FACE_PAGES)),
        ("investigator", LISTS | {"/faces/rates"}),
        ("face_examiner", LISTS | {"/faces/rates"}),
        ("auditor", set(FACE_PAGES)),
        ("operator", {"/faces/rates"}),
        ("traffic_officer", set()),  # no alerts to act on: the rates page is open to it, not in its menu
    ],
)
def test_each_role_sees_the_face_pages_it_may_use(
    role: str, in_menu: set[str], factory: Factory, here: Place, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user(role, districts=[here.district]))
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', client.get("/").text, re.S)
    assert nav is not None
    assert {href for href in FACE_PAGES if f'href="{href}"' in nav.group(1)} == in_menu
    for href in FACE_PAGES:
        status = client.get(href).status_code
        assert (status == 200) == (href in in_menu | {"/faces/rates"}), f"{role} {href}: {status}"


def test_the_authorisations_page_asks_approves_and_revokes(
    factory: Factory, here: Place, login_as: Callable[..., TestClient], session: Session
) -> None:
    asker = login_as(factory.user("investigator", districts=[here.district], username="inv.ask"))
    watchlist = _watchlist(asker, here)
    local = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Asia/Karachi")).replace(tzinfo=None, microsecond=0)
    form = {
        "kind": "live",
        "purpose": "Find the missing child at the Mall Road",
        "legal_basis": "Order of the DIG Operations no. 116/2026",
        "watchlist_ids": [watchlist["id"]],
        "camera_ids": [str(here.camera_id)],
        "starts_at": local.isoformat(timespec="minutes"),
        "ends_at": (local + dt.timedelta(hours=2)).isoformat(timespec="minutes"),
    }
    asked = asker.post("/faces/authorisations", data=form)
    assert asked.status_code == 204 and asked.headers["HX-Redirect"] == "/faces/authorisations", asked.text
    (row,) = faces.list_authorisations(session=session, principal=factory.principal(factory.user("auditor")))
    assert (row.requested_by, row.approved_at) == ("inv.ask", None)
    assert row.ends_at - row.starts_at == dt.timedelta(hours=2)

    supervisor = login_as(factory.user("supervisor", districts=[here.district], username="sup.page"))
    assert supervisor.post(f"/faces/authorisations/{row.id}/approve").status_code == 204
    page = supervisor.get("/faces/authorisations").text
    assert 'data-status="current"' in page and "sup.page" in page
    short = supervisor.post(f"/faces/authorisations/{row.id}/revoke", data={"reason": "done"})
    assert short.status_code == 200 and "at least 10 characters" in short.text  # shown in the flash area
    revoked = supervisor.post(
        f"/faces/authorisations/{row.id}/revoke", data={"reason": "The child was found"}
    )
    assert revoked.status_code == 204
    assert 'data-status="revoked"' in asker.get("/faces/authorisations").text
