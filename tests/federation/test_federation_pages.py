"""The province's district-centres page: the centres and their links, the districts' latest alerts, and a
plate search across the districts that states a purpose."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session
from test_service import KEY_A, alert, message, read

from conftest import Factory
from safecity.config import CentreSettings, FederationSettings, Settings
from safecity.federation import service as federation

pytestmark = pytest.mark.usefixtures("lahore")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    centre = CentreSettings(key=SecretStr(KEY_A), district="LHR", name="Lahore")
    return settings.model_copy(update={"federation": FederationSettings(centres={"lhr": centre})})


@pytest.fixture
def lahore(factory: Factory, session: Session, settings: Settings) -> None:
    factory.district("LHR")
    received = [
        federation.verify(m, centres=settings.federation.centres)
        for m in (
            message(read("LEA1234", camera="Mall Road 1"), "sighting"),
            message(alert(), "alert"),
        )
    ]
    federation.store(session=session, received=received, centres=settings.federation.centres)


def test_the_page_shows_the_centres_alerts_and_finds_a_plate_read_in_a_district(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    client = login_as(factory.user("supervisor"))
    page = client.get("/federation")
    assert page.status_code == 200
    assert 'data-centre="lhr"' in page.text and "Gate 3 camera offline" in page.text
    found = client.get("/federation", params={"go": "1", "q": "lea 1234", "purpose": "FIR 5/2026"})
    assert found.status_code == 200 and "LEA1234" in found.text and "Mall Road 1" in found.text
    refused = client.get("/federation", params={"go": "1", "q": "LEA1234", "purpose": ""})
    assert 'data-testid="search-error"' in refused.text


def test_a_user_without_plate_rights_sees_no_plate_search(
    factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    page = login_as(factory.user("operator")).get("/federation")
    assert page.status_code == 200 and "federation-plate-search" not in page.text
    assert "Gate 3 camera offline" in page.text
