"""The REST client's rate limit and POST against a real HTTP service on 127.0.0.1: a call beyond the agreed
rate waits for its turn within its timeout, else fails at once with a clear "rate limit" error (and never
reaches the other system nor opens the circuit); a POST carries its JSON body and token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.http_server import TOKEN, Service, http_service
from safecity.connectors.base import ConnectorUnavailable
from safecity.connectors.rest import RestClient, RestConfig


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service() as found:
        yield found


def client(service: Service, **changes: object) -> RestClient:
    config = {"type": "test.rest", "url": service.url, "token": TOKEN, "cache_ttl_s": 0, **changes}
    return RestClient(RestConfig.model_validate(config), name="test service")


def test_a_call_beyond_the_rate_fails_at_once_when_its_turn_is_later_than_its_timeout(
    service: Service,
) -> None:
    service.answer("a", {"ok": 1})
    rest = client(service, rate_per_s=0.01, burst=1, timeout_s=0.2)
    assert rest.get_json("a") == {"ok": 1}
    with pytest.raises(ConnectorUnavailable, match="rate limit"):
        rest.get_json("a")  # the next token comes in 100 s, later than the call's 0.2 s
    assert service.hits("a") == 1
    assert rest.breaker.state == "closed" and rest.breaker.failures == 0  # our limit, not their failure


def test_a_call_beyond_the_burst_waits_for_its_turn_within_its_timeout(service: Service) -> None:
    service.answer("a", {"ok": 1})
    rest = client(service, rate_per_s=20, burst=2, timeout_s=1)
    for _ in range(5):  # 2 at once, then one each 50 ms: all within the 1 s timeout
        assert rest.get_json("a") == {"ok": 1}
    assert service.hits("a") == 5


def test_the_default_rate_is_generous(service: Service) -> None:
    service.answer("a", {"ok": 1})
    rest = client(service)
    for _ in range(20):
        rest.get_json("a")
    assert service.hits("a") == 20


def test_a_post_sends_its_json_and_token_and_a_query_reaches_the_service(service: Service) -> None:
    service.answer("incidents", {"id": "R-1"}, method="POST", status=201)
    service.answer("events", [])
    rest = client(service)
    assert rest.post_json("incidents", {"id": "I-1"}) == {"id": "R-1"}
    assert rest.get_json("events", params={"since": "2026-01-01T00:00:00+00:00"}) == []
    posted, asked = service.requests
    assert json.loads(posted.body) == {"id": "I-1"} and posted.authorisation == f"Bearer {TOKEN}"
    assert asked.query == {"since": ["2026-01-01T00:00:00+00:00"]}
