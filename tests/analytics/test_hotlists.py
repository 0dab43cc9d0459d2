"""Hotlists by API and by page: create, change, plates, district scope, permissions, and their audit."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.models import User


def _actions(session: Session, username: str) -> list[str]:
    session.expire_all()
    query = select(AuditEntry.action).where(AuditEntry.actor_name == username).order_by(AuditEntry.seq)
    return [a for a in session.scalars(query) if a.startswith("hotlists.")]


def _new_list(client: TestClient, **fields: object) -> dict[str, object]:
    body = {
        "kind": "stolen",
        "name": "Stolen cars Peshawar",
        "agency": "CPO Peshawar AVLS",
        "reason": "Vehicles reported stolen",
        "legal_reference": "Section 550 CrPC",
        "instructions": "Do not stop alone; inform PS Gulberg",
        **fields,
    }
    response = client.post("/api/v1/hotlists", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def test_a_supervisor_keeps_a_list_by_api_and_every_change_is_audited(
    factory: Factory, session: Session, login_as: Callable[[User], TestClient]
) -> None:
    district = factory.district()
    keeper = factory.user("supervisor", districts=[district])
    client = login_as(keeper)

    created = _new_list(client, match_mode="fuzzy", max_edits=1, severity=4)
    assert created["district_ids"] == [str(district.id)] and created["province_wide"] is False
    assert (created["owner_name"], created["entries"], created["enabled"]) == (keeper.username, 0, True)
    list_id = created["id"]

    added = client.post(
        f"/api/v1/hotlists/{list_id}/entries",
        json={
            "plate": "leb-1234",
            "reason": "stolen at gunpoint",
            "reference": "FIR 77/2026",
            "description": "white Corolla",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["plate"] == "LEB1234"
    again = client.post(f"/api/v1/hotlists/{list_id}/entries", json={"plate": "LEB 1234"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "duplicate_plate")
    urdu = client.post(f"/api/v1/hotlists/{list_id}/entries", json={"plate": "لاہور ۱۲۳"})
    assert urdu.status_code == 422 and "Latin" in urdu.text

    entries = client.get(f"/api/v1/hotlists/{list_id}/entries", params={"plate": "LEB"}).json()
    assert [e["plate"] for e in entries] == ["LEB1234"]
    changed = client.patch(
        f"/api/v1/hotlists/{list_id}", json={"enabled": False, "instructions": "Stop and hold"}
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert client.get(f"/api/v1/hotlists/{list_id}").json()["instructions"] == "Stop and hold"
    removed = client.delete(f"/api/v1/hotlists/{list_id}/entries/{added.json()['id']}")
    assert removed.status_code == 204
    assert client.delete(f"/api/v1/hotlists/{list_id}").status_code == 204
    assert client.get(f"/api/v1/hotlists/{list_id}").status_code == 404

    assert _actions(session, keeper.username) == [
        "hotlists.create",
        "hotlists.entry.add",
        "hotlists.entries.read",
        "hotlists.update",
        "hotlists.entry.remove",
        "hotlists.delete",
    ]


def test_lists_are_scoped_to_districts_and_changes_need_the_permission(
    factory: Factory, session: Session, login_as: Callable[[User], TestClient]
) -> None:
    mine, theirs = factory.district(), factory.district()
    keeper = login_as(factory.user("supervisor", districts=[mine]))
    other = login_as(factory.user("supervisor", districts=[theirs]))
    province = login_as(factory.user("supervisor"))
    operator = login_as(factory.user("operator", districts=[mine]))
    investigator = login_as(factory.user("investigator", districts=[mine]))

    ours = _new_list(keeper)
    wide = _new_list(province, name="Wanted province-wide", kind="wanted")
    assert wide["province_wide"] is True and wide["district_ids"] == []
    # A district keeper cannot cover a district beyond theirs.
    beyond = keeper.post(
        "/api/v1/hotlists",
        json={"kind": "watch", "name": "Beyond", "agency": "CTD", "district_ids": [str(theirs.id)]},
    )
    assert (beyond.status_code, beyond.json()["error"]["code"]) == (403, "permission_denied")

    assert {h["name"] for h in other.get("/api/v1/hotlists").json()} == {"Wanted province-wide"}
    assert other.get(f"/api/v1/hotlists/{ours['id']}").status_code == 404
    assert other.post(f"/api/v1/hotlists/{ours['id']}/entries", json={"plate": "ABC123"}).status_code == 404
    # The province-wide list applies in `mine`, so its keeper there reads it but may not change it.
    assert keeper.get(f"/api/v1/hotlists/{wide['id']}").status_code == 200
    refused = keeper.patch(f"/api/v1/hotlists/{wide['id']}", json={"enabled": False})
    assert refused.status_code == 403
    # Operators see alerts, not hotlists; investigators read and keep them.
    assert operator.get("/api/v1/hotlists").status_code == 403
    assert (
        operator.post("/api/v1/hotlists", json={"kind": "watch", "name": "x1", "agency": "y1"}).status_code
        == 403
    )
    assert (
        investigator.post(f"/api/v1/hotlists/{ours['id']}/entries", json={"plate": "PSW9"}).status_code == 201
    )

    session.expire_all()
    denied = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
    assert len(denied) >= 3  # the refused creation, change and operator's reads are on record


def test_bad_list_settings_are_refused_with_clear_codes(
    factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    client = login_as(factory.user("supervisor", districts=[factory.district()]))
    exact_with_edit = client.post(
        "/api/v1/hotlists", json={"kind": "stolen", "name": "x1", "agency": "y1", "max_edits": 1}
    )
    assert exact_with_edit.status_code == 422 and "fuzzy" in exact_with_edit.text
    for bad in (
        {"kind": "kidnapped", "name": "x1", "agency": "y1"},
        {"kind": "stolen", "name": "x\x00", "agency": "y1"},
        {"kind": "stolen", "name": "x" * 500, "agency": "y1"},
        {"kind": "stolen", "name": "x1", "agency": "y1", "expires_at": "2027-01-01T00:00:00"},
        {"kind": "stolen", "name": "x1", "agency": "y1", "district_ids": []},
    ):
        response = client.post("/api/v1/hotlists", json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert client.get(f"/api/v1/hotlists/{uuid.uuid4()}").status_code == 404


def test_the_pages_create_a_list_and_add_a_plate(
    factory: Factory, session: Session, login_as: Callable[[User], TestClient]
) -> None:
    mine, also = factory.district(), factory.district()
    keeper = factory.user("supervisor", districts=[mine, also])
    client = login_as(keeper)
    form = client.get("/hotlists")
    assert mine.name in form.text and also.name in form.text
    created = client.post(
        "/hotlists",
        data={
            "kind": "stolen",
            "name": "Stolen bikes",
            "agency": "PS Gulberg",
            "instructions": "Inform PS Gulberg",
            "district_ids": str(also.id),
        },
    )
    assert created.status_code == 204, created.text
    where = created.headers["HX-Redirect"]
    assert client.get(f"/api/v1{where}").json()["district_ids"] == [str(also.id)]
    added = client.post(f"{where}/entries", data={"plate": "lhr-555", "reference": "FIR 9/2026"})
    assert added.status_code == 204, added.text
    bad = client.post(f"{where}/entries", data={"plate": "LHR#5"})
    assert "only letters A-Z and digits" in bad.text
    page = client.get(where)
    assert page.status_code == 200 and "LHR555" in page.text and "Inform PS Gulberg" in page.text
    listing = client.get("/hotlists")
    assert "Stolen bikes" in listing.text
    assert _actions(session, keeper.username) == [
        "hotlists.create",
        "hotlists.entry.add",
        "hotlists.entries.read",
    ]
