"""Server-rendered pages: each role's navigation shows only what it may use, and the admin pages work."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.audit import service as audit
from safecity.auth import service as users
from safecity.auth import tokens

PAGES = {
    "/org/districts": "Districts",
    "/admin/users": "Users",
    "/admin/roles": "Roles",
    "/admin/connectors": "Connectors",
    "/audit": "Audit log",
    "/traffic/review": "Review violations",
    "/traffic/precision": "Precision",
    "/traffic/appeals": "Appeals",
    "/traffic/payments": "Payments",
    "/traffic/challans": "Challans",
    "/traffic/fines": "Fines",
}

TRAFFIC = {"/traffic/challans", "/traffic/fines"}  # every holder of challans.read


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (
            "admin",
            {
                "/org/districts",
                "/admin/users",
                "/admin/roles",
                "/admin/connectors",
                "/traffic/precision",
                "/traffic/fines",
            },
        ),
        ("auditor", {"/org/districts", "/admin/users", "/admin/roles", "/audit"}),
        ("operator", {"/org/districts", "/traffic/precision"}),
        ("camera_owner", set()),
        (
            "traffic_officer",
            {
                "/org/districts",
                "/traffic/review",
                "/traffic/precision",
                "/traffic/challans",
                "/traffic/fines",
            },
        ),
        (
            "adjudicator",
            {
                "/org/districts",
                "/traffic/appeals",
                "/traffic/precision",
                "/traffic/challans",
                "/traffic/fines",
            },
        ),
        ("finance", {"/org/districts", *TRAFFIC, "/traffic/payments"}),
    ],
)
def test_navigation_follows_permissions(
    role: str, visible: set[str], factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user(role))
    home = client.get("/")
    assert home.status_code == 200
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', home.text, re.S)
    assert nav is not None
    shown = {href for href in PAGES if f'href="{href}"' in nav.group(1)}
    assert shown == visible
    for href in PAGES:
        response = client.get(href)
        assert (response.status_code == 200) == (href in visible), f"{role} {href}: {response.status_code}"


def test_pages_send_a_visitor_to_login(client: TestClient) -> None:
    response = client.get("/admin/users", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_admin_creates_a_user_from_the_page(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    district = factory.district()
    # An administrator who is also a supervisor holds every permission of the operator role it grants.
    client = login_as(factory.user("admin", "supervisor"))
    response = client.post(
        "/admin/users",
        data={
            "username": "nadia.khan",
            "full_name": "Nadia Khan",
            "roles": ["operator"],
            "district_ids": [str(district.id)],
        },
    )
    assert response.status_code == 200 and "Created <b>nadia.khan</b>" in response.text
    created = users.find_by_username(session=session, username="nadia.khan")
    assert (
        created is not None and created.role_names == {"operator"} and created.district_ids == {district.id}
    )
    # A refusal shows its reason in the page instead of failing silently.
    again = client.post(
        "/admin/users",
        data={"username": "nadia.khan", "roles": ["operator"], "district_ids": [str(district.id)]},
    )
    assert "is taken" in again.text and again.headers["HX-Retarget"] == "#flash"


def test_auditor_filters_the_log_and_verifies_the_chain(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    audit.record(
        session=session, action="users.create", outcome="success", object_type="user", object_id="x1"
    )
    client = login_as(factory.user("auditor"))
    page = client.get("/audit", params={"action": "users.create"})
    assert page.status_code == 200 and "user x1" in page.text and "<td>auth.login</td>" not in page.text
    verified = client.post("/audit/verify")
    assert "The chain is intact" in verified.text


def test_districts_page_shows_the_map_and_admin_adds_a_site(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    client = login_as(factory.user("admin"))
    added = client.post(
        "/org/sites",
        data={
            "district_id": str(district.id),
            "name": "Chowk Yadgar",
            "latitude": "34.01",
            "longitude": "71.57",
        },
    )
    assert added.status_code == 204 and added.headers["HX-Redirect"] == "/org/districts"
    page = client.get("/org/districts")
    assert "Chowk Yadgar" in page.text and "data-map=" in page.text


def test_health_and_metrics(client: TestClient, factory: Factory, session: Session) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "bus": "ok"}
    client.get("/api/v1/users")
    # Metrics name cameras: nobody reads them without a token that holds metrics.read.
    assert client.get("/metrics").status_code == 401
    admin = factory.user("admin")
    _, weak = tokens.create(
        session=session, actor=factory.principal(admin), name="vms", permissions=["alerts.raise"]
    )
    _, scraper = tokens.create(
        session=session, actor=factory.principal(admin), name="prometheus", permissions=["metrics.read"]
    )
    session.commit()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {weak}"}).status_code == 403
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}).text
    assert 'safecity_http_requests_total{method="GET",route="/api/v1/users",status="401"}' in metrics
    assert client.get("/api/v1/openapi.json").status_code == 200
