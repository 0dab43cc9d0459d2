"""What the connectors' admin API takes and shows: a connector's settings (secrets write-only) and health."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from safecity.connectors.base import Health
from safecity.core.schemas import InModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"


class ConnectorIn(InModel):
    """A connector's settings. `secrets` are write-only: a field left out stays as it is, null removes it."""

    type: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str | None] = Field(default_factory=dict)


class HealthOut(BaseModel):
    """A connector's state as an administrator sees it (the endpoint without credentials)."""

    type: str
    name: str
    endpoint: str
    state: Literal["closed", "open", "half_open", "local"]
    failures: int
    last_error: str | None
    last_error_at: dt.datetime | None
    last_success_at: dt.datetime | None
    opened_until: dt.datetime | None

    @classmethod
    def of(cls, health: Health) -> HealthOut:
        return cls.model_validate(vars(health))


class ConnectorOut(BaseModel):
    """A connector: where its settings come from, the plain ones, whether each secret is set, its health."""

    name: str
    type: str
    source: Literal["admin", "settings"]  # "settings": the process's configuration file, not editable here
    config: dict[str, Any]
    secrets: dict[str, Literal["set", "not set"]]
    health: HealthOut | None  # None: configured but it could not be built (see the log)
    updated_at: dt.datetime | None


class TestOut(BaseModel):
    """The outcome of a "Test": whether the other system answered us, and the connector's health after."""

    ok: bool
    message: str
    health: HealthOut
