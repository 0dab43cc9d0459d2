"""Two web nodes behind one PostgreSQL database and one NATS JetStream: an alert raised through one node
reaches the live feeds of the operators on either, the way the console receives it (Server-Sent Events).

Needs both servers (SAFECITY_TEST_DATABASE_URL and SAFECITY_TEST_NATS_URL); skips without them locally
and fails in CI. Each node is the whole application (lifespan and all) behind a uvicorn of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from conftest import (
    MISSING,
    NATS_ENV,
    PASSWORD,
    SHARED_NATS,
    START,
    TEST_SECRET_KEY,
    Factory,
    new_database,
    serve_in_thread,
)
from safecity.app import create_app
from safecity.auth import tokens
from safecity.config import Settings, VideoSettings
from safecity.runtime import Services, build_services

pytestmark = [pytest.mark.anyio, SHARED_NATS]


@dataclass
class Node:
    base: str
    services: Services


@dataclass
class Cluster:
    nodes: list[Node]
    operators: list[
        str
    ]  # one per node (a TOTP code is accepted once, so one person cannot log in twice at once)
    totp: Factory
    token: str  # an external system's, allowed to raise alerts
    district_id: uuid.UUID


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two nodes on one new PostgreSQL database and the NATS server, with an operator and a raising token."""
    nats_url = os.environ.get(NATS_ENV)
    if not nats_url:
        pytest.skip(f"{MISSING}NATS JetStream: {NATS_ENV} is not set (to start it, as root: {START['nats']})")
    with new_database("postgresql", tmp_path) as url, ExitStack() as stack:
        nodes = []
        for name in ("a", "b"):
            settings = Settings(
                data_dir=tmp_path / name,
                secret_key=SecretStr(
                    TEST_SECRET_KEY
                ),  # one secret for the city: a session is valid on any node
                database_url=SecretStr(url),
                bus_url=SecretStr(nats_url),
                video=VideoSettings(run_in_web=False),
            )
            services = build_services(settings)
            base, _ = stack.enter_context(serve_in_thread(create_app(services=services)))
            nodes.append(Node(base, services))
        with nodes[0].services.session_factory() as session:
            factory = Factory(session, nodes[0].services.mfa_box)
            district = factory.district()
            operators = [factory.user("operator", districts=[district]).username for _ in nodes]
            system = factory.user("admin", districts=[district], mfa=False)
            _, secret = tokens.create(
                session=session, actor=factory.principal(system), name="vms", permissions=["alerts.raise"]
            )
            session.commit()
            yield Cluster(nodes, operators, factory, secret, district.id)


async def _login(http: httpx.AsyncClient, cluster: Cluster, operator: str) -> None:
    response = await http.post("/api/v1/auth/login", json={"username": operator, "password": PASSWORD})
    assert response.status_code == 200, response.text
    http.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    verified = await http.post("/api/v1/auth/mfa/verify", json={"code": cluster.totp.totp(operator)})
    assert verified.status_code == 204, verified.text


async def _alert_titles(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The titles of the alerts the SSE stream pushes (comments and other events skipped)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
            continue
        if fields.get("event") == "alert":
            yield json.loads(fields["data"])["title"]
        fields = {}


async def _collect(
    base: str, cluster: Cluster, operator: str, wanted: set[str], connected: asyncio.Event
) -> set[str]:
    """Log `operator` in at `base`, follow the alert feed, and return once every `wanted` title came."""
    seen: set[str] = set()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await _login(http, cluster, operator)
        async with http.stream("GET", "/api/v1/alerts/stream") as response:
            assert response.status_code == 200
            connected.set()
            async for title in _alert_titles(response.aiter_lines()):
                seen.add(title)
                if wanted <= seen:
                    break
    return seen & wanted


async def test_an_alert_raised_through_one_node_reaches_operators_on_every_node(cluster: Cluster) -> None:
    node_a, node_b = cluster.nodes
    titles = {f"Smoke at gate {n} ({uuid.uuid4().hex[:6]})" for n in range(6)}
    connected = [asyncio.Event(), asyncio.Event()]
    followers = [
        asyncio.create_task(_collect(node.base, cluster, operator, titles, ready))
        for node, operator, ready in zip((node_b, node_a), cluster.operators, connected, strict=True)
    ]
    for ready, follower in zip(connected, followers, strict=True):
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({waiting, follower}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if follower.done():
            follower.result()  # its failure (a refused login, say), rather than a bare timeout
        assert ready.is_set(), "an operator's live feed did not connect"
    async with httpx.AsyncClient(base_url=node_a.base, timeout=30) as http:
        for title in sorted(titles):
            raised = await http.post(
                "/api/v1/alerts",
                json={
                    "kind": "vms.fire",
                    "severity": 4,
                    "title": title,
                    "district_id": str(cluster.district_id),
                },
                headers={"Authorization": f"Bearer {cluster.token}"},
            )
            assert raised.status_code == 201, raised.text
    # A bound, not a measurement. Before each node had a consumer of its own, the two shared one by name
    # (same host) and each alert reached one node's operators only: this waited in vain for half of them.
    on_b, on_a = await asyncio.wait_for(asyncio.gather(*followers), 30)
    assert on_b == titles  # the operator on the other node
    assert on_a == titles  # and the one on the node it was raised through
