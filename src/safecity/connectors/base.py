"""The connector plugin contract: other departments' systems behind one ABC, a typed config and a registry.

A connector's `type` names it in the registry (`<kind>.<transport>`, e.g. `vehicles.rest`); its config is a
Pydantic model whose `type` is that literal. What a connector cannot do for a caller is one of three typed
errors, each a user-facing error with a stable code, so a failing registry never becomes a crash.
"""

from __future__ import annotations

import builtins
import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from safecity.core.errors import SafecityError
from safecity.core.plugins import Registry

PLUGIN_MODULES = (
    "safecity.connectors.vehicles.registries",
    "safecity.connectors.identity.services",
    "safecity.connectors.prisons.sources",
    "safecity.connectors.ctlist.sources",
    "safecity.connectors.rescue1122.links",
)

BreakerState = Literal["closed", "open", "half_open"]


class ConnectorError(SafecityError):
    """A connector could not answer; `connector` names it in messages (never its credentials)."""

    status = 502
    code = "connector_error"


class ConnectorTimeout(ConnectorError):
    """The other system did not answer in time (after the retries)."""

    status = 503
    code = "connector_timeout"


class ConnectorUnavailable(ConnectorError):
    """The other system cannot be reached, fails, or is being left alone (its circuit is open)."""

    status = 503
    code = "connector_unavailable"


class ConnectorBadResponse(ConnectorError):
    """The other system answered with something that is not what it promised (garbage, wrong schema)."""

    status = 502
    code = "connector_bad_response"


class ConnectorRefused(ConnectorError):
    """The other system refused our credentials (401/403): a configuration problem, not a retry."""

    status = 502
    code = "connector_unauthorised"


class ConnectorConfig(BaseModel):
    """Settings every connector takes; each plugin narrows `type` to its own literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str = ""  # what people call it ("Punjab Excise"); default: the type


@dataclass(frozen=True)
class Health:
    """What an administrator sees of a connector: its state and its last failure (never a credential)."""

    type: str
    name: str
    endpoint: str  # the address without user or password; "" for a connector that calls nothing
    state: BreakerState | Literal["local"]  # "local": reads this system's own tables only
    failures: int  # consecutive failures so far
    last_error: str | None
    last_error_at: dt.datetime | None
    last_success_at: dt.datetime | None
    opened_until: dt.datetime | None  # an open circuit refuses calls until then


class Connector(ABC):
    """A link to another department's system; instances are shared by a process's threads."""

    type: ClassVar[str]
    config_class: ClassVar[builtins.type[ConnectorConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:  # an abstract kind (no `type` of its own) is not a plugin
            CONNECTORS.add(cls.type, cls)

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name or self.type

    @abstractmethod
    def health(self) -> Health:
        """The connector's state now."""

    def test(self) -> None:  # noqa: B027 - a connector that calls nothing has nothing to try
        """One light call that proves the link and its credentials work; raises a ConnectorError if not."""

    def close(self) -> None:  # noqa: B027 - a connector without connections has nothing to close
        """Release connections (a no-op for connectors that hold none)."""


def redact_url(url: str) -> str:
    """The URL without any user, password, query or fragment: safe to log and to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def build_connector(config: dict[str, Any] | ConnectorConfig) -> Connector:
    """A connector from its config (a dict with `type`, or a config object)."""
    kind = config.type if isinstance(config, ConnectorConfig) else config.get("type")
    cls = CONNECTORS.get(kind)
    data = config.model_dump() if isinstance(config, ConnectorConfig) else config
    return cls(cls.config_class.model_validate(data))


CONNECTORS: Registry[Connector] = Registry("connector", PLUGIN_MODULES)
