"""Vehicle registry connectors: the provincial registry's live REST service, or the imported extracts only.

Both answer one question, the registration of a plate key, and keep what they learn in the
`registry_vehicles` table: the extract connector reads the rows an import wrote; the REST connector uses a
row younger than its TTL and otherwise asks the service, validates the answer and stores it. When the service
cannot answer (timeout, 5xx, circuit open) the REST connector falls back to the row it holds, if that is
younger than `stale_max_age_s`, and says so (`Resolved.stale`): the caller decides what a stale row may do.
"""

from __future__ import annotations

import datetime as dt
import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.config import RegistrySettings
from safecity.connectors.base import (
    Connector,
    ConnectorBadResponse,
    ConnectorConfig,
    ConnectorTimeout,
    ConnectorUnavailable,
    Health,
    build_connector,
)
from safecity.connectors.rest import RestConfig, RestConnector
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.schemas import RegistrationIn, plate_key
from safecity.core.db import utcnow

logger = logging.getLogger(__name__)

DEFAULT_NAME = "vehicle registry"
# The registry settings a REST connector takes as they are.
REST_SETTINGS = {
    "url",
    "token",
    "timeout_s",
    "retries",
    "cache_ttl_s",
    "breaker_failures",
    "breaker_reset_s",
    "stale_max_age_s",
}


@dataclass(frozen=True)
class Resolved:
    """A registry's answer: the registration (None: there is none), and, when the registry could not be
    asked, `stale` with why: the row is the last answer held, fetched at its `updated_at`."""

    row: Registration | None
    stale: bool = False
    reason: str | None = None


class VehicleRegistry(Connector):
    """A provincial vehicle registry: whose is a plate, and what vehicle does it belong on."""

    @abstractmethod
    def resolve(self, *, session: Session, plate: str) -> Resolved:
        """The registration of a plate (A-Z0-9 as read or typed); its row None when there is none.

        Rows are kept under the plate's folded key (schemas.plate_key): look-alike characters meet.
        Raises a ConnectorError when the registry cannot answer and holds no row recent enough to stand in.
        """


class ExtractConfig(ConnectorConfig):
    type: Literal["vehicles.extract"] = "vehicles.extract"


class ExtractRegistry(VehicleRegistry):
    """Only the imported Excise extracts: nothing is asked of anyone else."""

    type = "vehicles.extract"
    config_class = ExtractConfig

    def resolve(self, *, session: Session, plate: str) -> Resolved:
        """The imported row of the plate, if an extract held it."""
        return Resolved(session.get(Registration, plate_key(plate)))

    def health(self) -> Health:
        """Always local: the imported rows are the registry."""
        return Health(
            type=self.type,
            name=self.name,
            endpoint="",
            state="local",
            failures=0,
            last_error=None,
            last_error_at=None,
            last_success_at=None,
            opened_until=None,
        )


class RestRegistryConfig(RestConfig):
    type: Literal["vehicles.rest"] = "vehicles.rest"
    stale_max_age_s: int = Field(default=7 * 86400, ge=0)  # oldest row shown (stale) while the service fails


class RestRegistry(VehicleRegistry, RestConnector):
    """The registry's REST service: `GET <url>/<plate>` answers one registration as JSON (404: none)."""

    type = "vehicles.rest"
    config_class = RestRegistryConfig

    def __init__(self, config: ConnectorConfig) -> None:
        if not isinstance(config, RestRegistryConfig):
            raise TypeError("a REST registry needs a RestRegistryConfig")
        super().__init__(config)
        self.rest = config

    @property
    def source(self) -> str:
        return f"rest:{self.name}"[:64]

    def resolve(self, *, session: Session, plate: str) -> Resolved:
        """A row younger than the TTL, else the service's answer for the plate as given (validated, then
        stored under the folded key as the new row); when the service cannot answer, a row younger than
        `stale_max_age_s`, marked stale. Garbage is never covered up by a stale row: it is a 502."""
        key = plate_key(plate)
        row = session.get(Registration, key)
        now = utcnow()
        if row is not None and row.updated_at > now - dt.timedelta(seconds=self.rest.cache_ttl_s):
            return Resolved(row)
        try:
            data = self.client.get_json(plate)
        except (ConnectorTimeout, ConnectorUnavailable) as exc:
            oldest = now - dt.timedelta(seconds=self.rest.stale_max_age_s)
            if row is None or not self.rest.stale_max_age_s or row.updated_at <= oldest:
                raise
            logger.warning("connector %s: answering from the row fetched at %s", self.name, row.updated_at)
            return Resolved(row, stale=True, reason=exc.message)
        if data is None:
            return Resolved(None)
        try:
            record = RegistrationIn.model_validate(data)
        except ValidationError as exc:
            # Field names and what is wrong, never the values (they are personal data).
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            self.client.cache.clear()
            raise ConnectorBadResponse(
                f"{self.name} answered a registration that does not fit: {problems[:300]}"
            ) from None
        if record.plate != key:
            self.client.cache.clear()
            raise ConnectorBadResponse(f"{self.name} answered the registration of another plate")
        return Resolved(_store(session, record, source=self.source, now=now))


def _store(session: Session, record: RegistrationIn, *, source: str, now: dt.datetime) -> Registration:
    """Insert or refresh the row; a concurrent insert of the same plate becomes a refresh."""
    values = record.row(source=source, now=now)
    row = session.get(Registration, record.plate)
    if row is None:
        try:
            with session.begin_nested():
                row = Registration(**values)
                session.add(row)
        except IntegrityError:
            row = session.get(Registration, record.plate, populate_existing=True)
            if row is None:
                raise
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return row


def build_registry(settings: RegistrySettings) -> VehicleRegistry:
    """The registry connector the settings name (`extract` or `rest`), found in the connectors' registry."""
    config: dict[str, Any] = {"type": f"vehicles.{settings.type}", "name": DEFAULT_NAME}
    if settings.type == "rest":
        config |= settings.model_dump(include=REST_SETTINGS)
    connector = build_connector(config)
    if not isinstance(connector, VehicleRegistry):
        raise TypeError(f"{connector.type} is not a vehicle registry")
    return connector
