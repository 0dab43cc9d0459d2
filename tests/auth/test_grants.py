"""Nobody grants a permission they do not hold: not by creating a user, editing a role, assigning roles or
making an API token. Each refusal is a 403 `cannot_grant` and is audited; the legitimate grants still work.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.models import Role, User
from safecity.org.models import District


def _denials(session: Session, actor: User) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_id == actor.id, AuditEntry.action == "access.denied")
            .order_by(AuditEntry.seq)
        )
    )


def _refused(response: object) -> None:
    assert getattr(response, "status_code", None) == 403, getattr(response, "text", response)
    assert response.json()["error"]["code"] == "cannot_grant"  # type: ignore[attr-defined]


@pytest.fixture
def district(factory: Factory) -> District:
    return factory.district()


@pytest.mark.parametrize("role", ["auditor", "investigator", "supervisor"])
def test_a_district_admin_cannot_create_a_user_with_powers_they_lack(
    role: str,
    district: District,
    factory: Factory,
    login_as: Callable[[User], TestClient],
    session: Session,
) -> None:
    admin = factory.user("admin", districts=[district])
    client = login_as(admin)
    username = f"mole{role}"
    response = client.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "a long enough password",
            "roles": [role],
            "district_ids": [str(district.id)],
        },
    )
    _refused(response)
    assert client.get("/api/v1/users").json() and username not in client.get("/api/v1/users").text
    session.expire_all()
    assert session.scalars(select(User).where(User.username == username)).one_or_none() is None
    denial = _denials(session, admin)[-1]
    assert (denial.outcome, denial.detail["code"], denial.detail["path"]) == (
        "denied",
        "cannot_grant",
        "/api/v1/users",
    )


def test_an_admin_creates_users_with_what_they_hold(
    district: District, factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    client = login_as(factory.user("admin", districts=[district]))
    for username, roles in (("plainuser", []), ("deputyadmin", ["admin"])):
        response = client.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": "a long enough password",
                "roles": roles,
                "district_ids": [str(district.id)],
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["roles"] == roles


def test_a_user_page_refusal_is_shown_and_audited(
    district: District, factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    admin = factory.user("admin", districts=[district])
    client = login_as(admin)
    response = client.post(
        "/admin/users",
        data={"username": "pagemole", "roles": ["auditor"], "district_ids": [str(district.id)]},
    )
    assert "you cannot grant permissions you do not hold yourself: audit.read" in response.text
    assert response.headers["HX-Retarget"] == "#flash"
    session.expire_all()
    assert session.scalars(select(User).where(User.username == "pagemole")).one_or_none() is None
    assert _denials(session, admin)[-1].detail["code"] == "cannot_grant"


def test_an_admin_cannot_add_a_permission_they_lack_to_a_role(
    factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    client = login_as(factory.user("admin"))  # province-wide, with roles.manage
    operator = next(p for p in client.get("/api/v1/roles").json() if p["name"] == "operator")["permissions"]

    _refused(
        client.put("/api/v1/roles/operator/permissions", json={"permissions": [*operator, "audit.read"]})
    )
    session.expire_all()
    role = session.get(Role, "operator")
    assert role is not None and "audit.read" not in role.permission_names

    # Taking away is not granting; adding what one holds is allowed.
    fewer = [p for p in operator if p != "video.playback"]
    assert client.put("/api/v1/roles/operator/permissions", json={"permissions": fewer}).status_code == 200
    more = [*fewer, "org.manage"]
    response = client.put("/api/v1/roles/operator/permissions", json={"permissions": more})
    assert response.status_code == 200, response.text
    assert "org.manage" in response.json()["permissions"]


def test_assigning_a_role_with_more_permissions_is_refused(
    district: District, factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    admin = factory.user("admin", districts=[district])
    target = factory.user("operator", districts=[district])
    client = login_as(admin)
    url = f"/api/v1/users/{target.id}/access"
    scope = {"district_ids": [str(district.id)]}

    _refused(client.put(url, json={"roles": ["operator", "supervisor"], **scope}))
    session.expire_all()
    assert session.get(User, target.id).role_names == {"operator"}  # type: ignore[union-attr]

    # Keeping the role the target already had is not granting it; adding the admin's own role is fine.
    response = client.put(url, json={"roles": ["operator", "admin"], **scope})
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["admin", "operator"]


def test_widening_a_users_districts_grants_their_permissions_there(
    factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    target = factory.user("operator", districts=[a])
    client = login_as(factory.user("admin"))  # province-wide, but holds no operator permissions
    url = f"/api/v1/users/{target.id}/access"
    _refused(client.put(url, json={"roles": ["operator"], "district_ids": [str(a.id), str(b.id)]}))
    _refused(client.put(url, json={"roles": ["operator"], "province_wide": True}))
    narrowed = client.put(url, json={"roles": ["operator"], "district_ids": [str(a.id)]})
    assert narrowed.status_code == 200, narrowed.text


def test_a_district_admin_cannot_grant_province_wide_scope(
    district: District, factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    client = login_as(factory.user("admin", districts=[district]))
    response = client.post(
        "/api/v1/users",
        json={"username": "widescope", "password": "a long enough password", "province_wide": True},
    )
    _refused(response)


def test_a_token_cannot_carry_more_than_its_owner_holds(
    district: District, factory: Factory, login_as: Callable[[User], TestClient], session: Session
) -> None:
    owner = factory.user("camera_owner", districts=[district])
    client = login_as(owner)
    _refused(
        client.post("/api/v1/tokens", json={"name": "gw", "permissions": ["tokens.manage", "audit.read"]})
    )
    assert _denials(session, owner)[-1].detail["code"] == "cannot_grant"
    made = client.post("/api/v1/tokens", json={"name": "gw", "permissions": ["cameras.own"]})
    assert made.status_code == 201, made.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {made.json()['secret']}"})
    assert me.json()["permissions"] == ["cameras.own"]
