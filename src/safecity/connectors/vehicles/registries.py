"""Vehicle registry connectors: the provincial registry's live REST service, or the imported extracts only.

Both answer one question, the registration of a plate key, and keep what they learn in the
`registry_vehicles` table: the extract connector reads the rows an import wrote; the REST connector uses a
row younger than its TTL and otherwise asks the service, validates the answer and stores it.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.config import RegistrySettings
from safecity.connectors.base import Connector, ConnectorBadResponse, ConnectorConfig, Health, build_connector
from safecity.connectors.rest import RestConfig, RestConnector
from safecity.connectors.vehicles.models import Registration
from safecity.connectors.vehicles.schemas import RegistrationIn, plate_key
from safecity.core.db import utcnow

DEFAULT_NAME = "vehicle registry"
# The registry settings a REST connector takes as they are.
REST_SETTINGS = {"url", "token", "timeout_s", "retries", "cache_ttl_s", "breaker_failures", "breaker_reset_s"}


class VehicleRegistry(Connector):
    """A provincial vehicle registry: whose is a plate, and what vehicle does it belong on."""

    @abstractmethod
    def resolve(self, *, session: Session, plate: str) -> Registration | None:
        """The registration of a plate (A-Z0-9 as read or typed), or None when there is none.

        Rows are kept under the plate's folded key (schemas.plate_key): look-alike characters meet.
        Raises a ConnectorError when the registry cannot answer.
        """


class ExtractConfig(ConnectorConfig):
    type: Literal["vehicles.extract"] = "vehicles.extract"


class ExtractRegistry(VehicleRegistry):
    """Only the imported Excise extracts: nothing is asked of anyone else."""

    type = "vehicles.extract"
    config_class = ExtractConfig

    def resolve(self, *, session: Session, plate: str) -> Registration | None:
        """The imported row of the plate, if an extract held it."""
        return session.get(Registration, plate_key(plate))

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

    def resolve(self, *, session: Session, plate: str) -> Registration | None:
        """A row younger than the TTL, else the service's answer for the plate as given (validated, then
        stored under the folded key as the new row)."""
        key = plate_key(plate)
        row = session.get(Registration, key)
        now = utcnow()
        if row is not None and row.updated_at > now - dt.timedelta(seconds=self.rest.cache_ttl_s):
            return row
        data = self.client.get_json(plate)
        if data is None:
            return None
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
        return _store(session, record, source=self.source, now=now)


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
