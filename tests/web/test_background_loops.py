"""The application's background loops (stores fed by the bus, timed sweeps and checks, connectors) run in
a real process, and never in the tests' application, whose sessions share the test's one connection: a
loop's savepoint there, opened and rolled back beside a request's, undid what the request had released
(a log-in's session row, then a 401 on the next request)."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from safecity.app import create_app
from safecity.config import Settings
from safecity.runtime import build_services

LOOPS = {"event-store", "challans-sweep", "incidents-overdue", "alert-escalations", "connectors"}


def _tasks(client: TestClient) -> set[str]:
    """The names of the tasks running on the application's event loop."""

    async def names() -> set[str]:
        return {task.get_name() for task in asyncio.all_tasks()}

    return client.portal.call(names)  # type: ignore[union-attr]


def test_the_application_runs_its_loops_and_the_tests_application_none(
    client: TestClient, own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    assert not _tasks(client) & LOOPS
    _, session_factory = own_db
    with TestClient(create_app(services=build_services(settings, session_factory=session_factory))) as real:
        assert _tasks(real) >= LOOPS
