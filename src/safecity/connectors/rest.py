"""A resilient REST/JSON client for connectors: timeouts, retries with back-off, a circuit breaker, a cache.

Every request has its own timeout. Timeouts, connection errors and 5xx answers are retried with
exponential back-off and full jitter; a 404 is an answer ("no such record"); 401/403 and other 4xx are not
retried. Consecutive failed calls open the circuit: while open, calls fail at once (`ConnectorUnavailable`)
instead of piling up on a sick service; after `breaker_reset_s` one trial call is let through (half-open)
and its outcome closes or re-opens the circuit. Answers (and "not found", briefly) are cached for a TTL.
Calls are held to the rate agreed with the other department (a token bucket: `rate_per_s`, `burst`); a call
beyond it waits for its turn up to its timeout, else fails at once (`ConnectorUnavailable`, "rate limit").
The bearer token is a SecretStr: it goes into the Authorization header and nowhere else (never a log line,
an error message or the health view).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from safecity.connectors.base import (
    BreakerState,
    Connector,
    ConnectorBadResponse,
    ConnectorConfig,
    ConnectorError,
    ConnectorRefused,
    ConnectorTimeout,
    ConnectorUnavailable,
    Health,
    redact_url,
)
from safecity.core.db import utcnow

logger = logging.getLogger(__name__)

_JITTER = secrets.SystemRandom()
MAX_CACHE_ENTRIES = 10_000


class RestConfig(ConnectorConfig):
    """How to reach a REST/JSON service and how patient to be with it."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    token: SecretStr | None = None  # sent as "Authorization: Bearer <token>"
    timeout_s: float = Field(default=3.0, gt=0, le=60)  # each request, connect to last byte
    retries: int = Field(default=2, ge=0, le=10)  # further tries after a timeout, connection error or 5xx
    backoff_s: float = Field(default=0.2, ge=0, le=30)  # first back-off; doubles each retry (full jitter)
    backoff_max_s: float = Field(default=2.0, ge=0, le=60)
    cache_ttl_s: int = Field(default=3600, ge=0)  # 0: no cache
    negative_ttl_s: int = Field(default=60, ge=0)  # how long "not found" is believed
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failed calls that open the circuit
    breaker_reset_s: float = Field(default=30.0, gt=0)  # how long an open circuit refuses before a trial
    max_response_bytes: int = Field(default=1_000_000, ge=1024)
    rate_per_s: float = Field(default=50.0, gt=0, le=10_000)  # calls a second we allow ourselves, sustained
    burst: int = Field(default=20, ge=1, le=10_000)  # calls that may go out at once before the rate applies


class CircuitBreaker:
    """Closed -> open after `failures` consecutive failed calls -> half-open after `reset_s` -> closed."""

    def __init__(self, *, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_s else "open"

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial through (0 when it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_s - (self._clock() - self._opened_at))

    def admit(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial at a time."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self._opened_at, self._trial = 0, None, False

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self._trial or self.failures >= self.threshold:  # a failed trial re-opens at once
                self._opened_at = self._clock()
            self._trial = False


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; a call takes one, waiting for it if it must."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at = clock()

    def take(self, *, wait_s: float) -> bool:
        """Take a token, waiting up to `wait_s` for one; False (nothing taken) when none comes in time."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            needed = (1.0 - self._tokens) / self.rate
            if needed > wait_s:
                return False
            # Reserve the token now (tokens may go negative): callers queue in order, none starves.
            self._tokens -= 1.0
        if needed > 0:
            self._sleep(needed)
        return True


class TtlCache:
    """Answers by key for a while; bounded (the oldest entry goes first). Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, size: int = MAX_CACHE_ENTRIES) -> None:
        self._clock = clock
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) while fresh, else (False, None)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= self._clock():
                del self._entries[key]
                return False, None
            return True, entry[1]

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + ttl_s, value)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _Retryable(Exception):
    """One try failed in a way worth another try."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout


@dataclass
class _Outcome:
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None


class RestClient:
    """GETs JSON from one service for a connector; shared by a process's threads."""

    def __init__(
        self,
        config: RestConfig,
        *,
        name: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.name = name
        self.endpoint = redact_url(config.url)
        self.breaker = CircuitBreaker(
            failures=config.breaker_failures, reset_s=config.breaker_reset_s, clock=clock
        )
        self.cache = TtlCache(clock=clock)
        self.bucket = TokenBucket(rate=config.rate_per_s, burst=config.burst, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._outcome = _Outcome()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Accept": "application/json", "User-Agent": "safecity-connector"}
                if self.config.token is not None:
                    headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
                # No redirects: a registry that sends us elsewhere would also get our token.
                self._client = httpx.Client(headers=headers, follow_redirects=False, trust_env=False)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def get_json(self, path: str, *, params: dict[str, str] | None = None, cached: bool = True) -> Any | None:
        """The JSON at `<url>/<path>` (one path segment; query `params`), or None when there is none (404).
        `cached=False` for what changes between calls (a feed polled for news): always asked, never kept.

        Raises:
            ConnectorTimeout: no answer in time, after the retries.
            ConnectorUnavailable: the circuit is open, or connection errors / 5xx after the retries.
            ConnectorRefused: 401 or 403 (our credentials).
            ConnectorBadResponse: not JSON, too large, or another 4xx.
        """
        if not cached:
            return self._call("GET", path, params=params, body=None)
        key = path if not params else f"{path}?{sorted(params.items())}"
        hit, value = self.cache.get(key)
        if hit:
            return value
        value = self._call("GET", path, params=params, body=None)
        self.cache.put(
            key, value, self.config.cache_ttl_s if value is not None else self.config.negative_ttl_s
        )
        return value

    def post_json(self, path: str, body: Any) -> Any | None:
        """POST `body` as JSON to `<url>/<path>`; the answer's JSON (None for an empty or 404 answer).

        Retried like a GET: the receiving service must treat a repeated POST as the same one (an id in the
        body). Raises as `get_json` does.
        """
        return self._call("POST", path, params=None, body=json.dumps(body).encode())

    def ping(self) -> None:
        """GET `<url>/` past the cache: any answer but a failure (a 404 too) shows the service is there."""
        self._call("GET", "", params=None, body=None)

    def _call(
        self, method: str, path: str, *, params: dict[str, str] | None, body: bytes | None
    ) -> Any | None:
        """One call with the breaker, the rate limit and the retries around it."""
        if not self.breaker.admit():
            wait = self.breaker.retry_in()
            raise ConnectorUnavailable(
                f"{self.name} is failing and is left alone for another {wait:.0f} s (circuit open); "
                f"last error: {self._outcome.last_error or 'unknown'}"
            )
        self._rate_limit()
        url = f"{self.config.url.rstrip('/')}/{quote(path, safe='')}"
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                value = self._try(method, url, params=params, body=body)
            except _Retryable as exc:
                if attempt + 1 < attempts:
                    logger.warning(
                        "connector %s: %s (try %d of %d), retrying",
                        self.name,
                        exc.reason,
                        attempt + 1,
                        attempts,
                    )
                    cap = min(self.config.backoff_max_s, self.config.backoff_s * 2**attempt)
                    self._sleep(_JITTER.uniform(0, cap))
                    continue
                self._failed(exc.reason)
                if exc.timeout:
                    raise ConnectorTimeout(
                        f"{self.name} did not answer within {self.config.timeout_s:g} s ({attempts} tries)"
                    ) from None
                raise ConnectorUnavailable(
                    f"{self.name} is unavailable: {exc.reason} ({attempts} tries)"
                ) from None
            except ConnectorError as exc:
                self._failed(exc.message)
                raise
            self._succeeded()
            return value
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _rate_limit(self) -> None:
        """Wait for our turn within the agreed rate, up to the timeout; ConnectorUnavailable beyond it."""
        if not self.bucket.take(wait_s=self.config.timeout_s):
            raise ConnectorUnavailable(
                f"rate limit: {self.name} is asked more than {self.config.rate_per_s:g} times a second; "
                "try again shortly"
            )

    def _try(self, method: str, url: str, *, params: dict[str, str] | None, body: bytes | None) -> Any | None:
        """One request; _Retryable for what another try may cure, ConnectorError for what it will not."""
        deadline = time.monotonic() + self.config.timeout_s  # the whole request, not each read
        try:
            with self._http().stream(
                method,
                url,
                params=params,
                content=body,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self.config.timeout_s,
            ) as response:
                status = response.status_code
                if status >= 500:
                    raise _Retryable(f"HTTP {status}")
                if status == 404:
                    return None
                if status in (401, 403):
                    raise ConnectorRefused(f"{self.name} refused our credentials (HTTP {status})")
                if status not in (200, 201, 202, 204):
                    raise ConnectorBadResponse(f"{self.name} answered HTTP {status}")
                answer = bytearray()
                for chunk in response.iter_bytes():
                    answer += chunk
                    if time.monotonic() > deadline:  # a trickle of bytes never resets the clock
                        raise httpx.ReadTimeout("the answer took too long")
                    if len(answer) > self.config.max_response_bytes:
                        raise ConnectorBadResponse(
                            f"{self.name} sent more than {self.config.max_response_bytes} bytes"
                        )
        except httpx.TimeoutException:
            raise _Retryable(f"no answer within {self.config.timeout_s:g} s", timeout=True) from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        if not answer.strip() and method != "GET":  # a POST may answer 200/201/204 with nothing
            return None
        try:
            return json.loads(bytes(answer))
        except (ValueError, RecursionError):
            raise ConnectorBadResponse(f"{self.name} sent something that is not JSON") from None

    def bad_answer(self, message: str) -> ConnectorBadResponse:
        """The error for an answer that parsed but does not fit (wrong shape, invalid fields): counted as a
        failure in the health and the circuit, and the cache is dropped so it is not served again."""
        self.cache.clear()
        self._failed(message)
        return ConnectorBadResponse(message)

    def _failed(self, reason: str) -> None:
        self.breaker.failed()
        with self._lock:
            self._outcome.last_error, self._outcome.last_error_at = reason[:300], utcnow()
        logger.warning("connector %s failed: %s (circuit %s)", self.name, reason, self.breaker.state)

    def _succeeded(self) -> None:
        self.breaker.succeeded()
        with self._lock:
            self._outcome.last_success_at = utcnow()

    def health(self, *, type: str) -> Health:
        """The circuit's state, the last failure and the last success."""
        with self._lock:
            outcome = _Outcome(**vars(self._outcome))
        state = self.breaker.state
        wait = self.breaker.retry_in()
        return Health(
            type=type,
            name=self.name,
            endpoint=self.endpoint,
            state=state,
            failures=self.breaker.failures,
            last_error=outcome.last_error,
            last_error_at=outcome.last_error_at,
            last_success_at=outcome.last_success_at,
            opened_until=utcnow() + dt.timedelta(seconds=wait) if state == "open" else None,
        )


class RestConnector(Connector):
    """A connector that calls one REST/JSON service through its own RestClient (breaker, cache, rate)."""

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        if not isinstance(config, RestConfig):
            raise TypeError(f"{type(self).__name__} needs a REST config")
        self.client = RestClient(config, name=self.name)

    def health(self) -> Health:
        """The circuit's state, the last failure and the last success."""
        return self.client.health(type=self.type)

    def test(self) -> None:
        """Reach the service with our credentials."""
        self.client.ping()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()
