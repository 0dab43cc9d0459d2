"""Identity verification by CNIC against a real HTTP identity service on 127.0.0.1: an answer is validated
(names in both scripts, a photo that decodes as a JPEG and is not too large) before anyone sees it; a service
that hangs, fails, answers HTML or garbage, or refuses our token gives a clear, typed error and opens its
circuit; every verification states its purpose and is audited; a malformed CNIC never leaves the building.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.connectors.base import (
    ConnectorBadResponse,
    ConnectorRefused,
    ConnectorTimeout,
    ConnectorUnavailable,
)
from safecity.connectors.identity import service as identity
from safecity.connectors.identity.services import RestIdentity, RestIdentityConfig
from safecity.core.errors import InvalidInput

PURPOSE = "FIR 231/2026 PS Saddar, suspect's identity"
CNIC = "35202-1234567-9"


@pytest.fixture(scope="module")
def photo() -> bytes:
    from skimage import data

    face = cv2.cvtColor(data.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR)  # a real face, cropped
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


def person(jpeg: bytes, **overrides: Any) -> dict[str, Any]:
    return {
        "cnic": "3520212345679",
        "name_en": "Muhammad  Imran Qureshi",
        "name_ur": "محمد عمران قریشی",
        "guardian_name": "Abdul Rasheed Qureshi",
        "guardian_relation": "father",
        "date_of_birth": "1988-04-17",
        "gender": "M",
        "present_address": "House 5, Street 9, Model Town, Lahore",
        "permanent_address": "Mohalla Qureshian, Multan",
        "photo": base64.b64encode(jpeg).decode(),
        **overrides,
    }


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service("/verisys/v1/identities") as found:
        yield found


def rest(service: Service, **changes: object) -> RestIdentity:
    config = {
        "url": service.url,
        "token": TOKEN,
        "timeout_s": 0.4,
        "retries": 1,
        "backoff_s": 0.01,
        "backoff_max_s": 0.02,
        "breaker_failures": 2,
        "breaker_reset_s": 30,
        **changes,
    }
    return RestIdentity(RestIdentityConfig.model_validate(config))


@pytest.fixture
def investigator(factory: Factory) -> Principal:
    return factory.principal(factory.user("investigator"))


def test_an_answer_is_validated_and_the_verification_audited_with_its_purpose(
    service: Service, session: Session, investigator: Principal, photo: bytes
) -> None:
    service.answer("3520212345679", person(photo))
    found = identity.verify(
        session=session, principal=investigator, identity=rest(service), cnic="3520212345679", purpose=PURPOSE
    )
    assert found.configured and found.found and found.identity is not None
    person_ = found.identity
    assert (person_.cnic, person_.name_en, person_.name_ur) == (
        CNIC,
        "Muhammad Imran Qureshi",
        "محمد عمران قریشی",
    )
    assert (person_.guardian_relation, person_.gender, str(person_.date_of_birth)) == (
        "father",
        "male",
        "1988-04-17",
    )
    assert person_.addresses == ["House 5, Street 9, Model Town, Lahore", "Mohalla Qureshian, Multan"]
    assert person_.photo == photo
    decoded = cv2.imdecode(np.frombuffer(person_.photo, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[:2] == (220, 190)
    assert [r.authorisation for r in service.requests] == [f"Bearer {TOKEN}"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "identity.verify")).one()
    assert (entry.object_id, entry.purpose, entry.detail["found"]) == (CNIC, PURPOSE, True)


def test_an_unknown_cnic_is_none_and_still_audited(
    service: Service, session: Session, investigator: Principal
) -> None:
    found = identity.verify(
        session=session, principal=investigator, identity=rest(service), cnic=CNIC, purpose=PURPOSE
    )
    assert (found.found, found.identity) == (False, None) and service.hits("3520212345679") == 1
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "identity.verify")).one().detail == {
        "found": False,
        "connector": "identity.rest",
    }


@pytest.mark.parametrize(
    "cnic", ["35202-1234567", "8520212345679", "35202-1234567-9; DROP TABLE", "٣٥٢٠٢١٢٣٤٥٦٧٩"]
)
def test_a_malformed_cnic_or_a_missing_purpose_is_refused_before_any_call(
    cnic: str, service: Service, session: Session, investigator: Principal
) -> None:
    with pytest.raises(InvalidInput) as refused:
        identity.verify(
            session=session, principal=investigator, identity=rest(service), cnic=cnic, purpose=PURPOSE
        )
    assert refused.value.code == "bad_cnic"
    with pytest.raises(InvalidInput, match="purpose"):
        identity.verify(
            session=session, principal=investigator, identity=rest(service), cnic=CNIC, purpose=" "
        )
    assert service.requests == []


def test_a_hanging_service_times_out_then_its_circuit_opens(service: Service) -> None:
    service.answer("3520212345679", {"cnic": "3520212345679"}, delay_s=2)
    connector = rest(service)
    for _ in range(2):
        with pytest.raises(ConnectorTimeout, match=r"did not answer within 0\.4 s"):
            connector.verify(cnic=CNIC)
    asked = len(service.requests)
    with pytest.raises(ConnectorUnavailable, match="circuit open"):
        connector.verify(cnic=CNIC)
    assert len(service.requests) == asked  # left alone
    health = connector.health()
    assert health.state == "open" and health.failures == 2 and TOKEN not in str(health)


@pytest.mark.parametrize(
    ("answer", "status", "error", "message"),
    [
        ("<html><body>Gateway error</body></html>", 200, ConnectorBadResponse, "not JSON"),
        ('{"cnic": "3520212345679", "name_en": ', 200, ConnectorBadResponse, "not JSON"),
        ({"error": "unauthorised"}, 401, ConnectorRefused, "refused our credentials"),
        ({"error": "down"}, 503, ConnectorUnavailable, "HTTP 503"),
    ],
)
def test_html_garbage_refusal_and_failure_are_clear_errors(
    service: Service, answer: Any, status: int, error: type[Exception], message: str
) -> None:
    service.answer("3520212345679", answer, status=status)
    with pytest.raises(error, match=message):
        rest(service).verify(cnic=CNIC)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"photo": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 200).decode()}, "not a JPEG"),
        ({"photo": base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 500).decode()}, "does not decode"),
        ({"photo": "not base64!"}, "not base64"),
        ({"name_ur": "Muhammad Imran"}, "Urdu script"),
        ({"name_en": "<script>alert(1)</script>"}, "English letters"),
        ({"cnic": "3520298765431"}, "another CNIC"),
        ({"gender": "robot"}, "gender"),
    ],
)
def test_an_answer_that_does_not_fit_is_refused_and_not_cached(
    service: Service, photo: bytes, change: dict[str, Any], problem: str
) -> None:
    service.answer("3520212345679", person(photo, **change))
    connector = rest(service)
    for _ in range(2):
        with pytest.raises(ConnectorBadResponse, match=problem):
            connector.verify(cnic=CNIC)
    assert service.hits("3520212345679") == 2


def test_a_photo_over_the_limit_is_refused(service: Service, photo: bytes) -> None:
    service.answer("3520212345679", person(photo))
    with pytest.raises(ConnectorBadResponse, match="larger than 1 KiB"):
        rest(service, max_photo_bytes=1024).verify(cnic=CNIC)


def test_the_api_verifies_with_a_purpose_once_an_administrator_configured_the_service(
    service: Service,
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    photo: bytes,
) -> None:
    service.answer("3520212345679", person(photo))
    investigator = login_as(factory.user("investigator"))
    before = investigator.get(f"/api/v1/connectors/identity/{CNIC}", params={"purpose": PURPOSE})
    assert before.status_code == 200 and before.json() == {
        "cnic": CNIC,
        "configured": False,
        "found": False,
        "identity": None,
    }
    admin = login_as(factory.user("admin"))
    saved = admin.put(
        "/api/v1/connectors/NADRA",
        json={
            "type": "identity.rest",
            "config": {"url": service.url, "timeout_s": 2},
            "secrets": {"token": TOKEN},
        },
    )
    assert saved.status_code == 200, saved.text
    answer = investigator.get(f"/api/v1/connectors/identity/{CNIC}", params={"purpose": PURPOSE})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["found"] and body["identity"]["name_ur"] == "محمد عمران قریشی"
    assert base64.b64decode(body["identity"]["photo"]) == photo
    assert service.requests[-1].authorisation == f"Bearer {TOKEN}"
    bad = investigator.get("/api/v1/connectors/identity/12345", params={"purpose": PURPOSE})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_cnic"
    service.answer("3520212345678", "<html>maintenance</html>")
    down = investigator.get("/api/v1/connectors/identity/35202-1234567-8", params={"purpose": PURPOSE})
    assert down.status_code == 502 and down.json()["error"]["code"] == "connector_bad_response"
    assert admin.get(f"/api/v1/connectors/identity/{CNIC}", params={"purpose": PURPOSE}).status_code == 403
