"""Identity services: who holds a CNIC, as the national registration authority (NADRA-like) answers.

`identity.rest` asks `GET <url>/<13 digits>` (404: no such CNIC) and validates the answer, photo included,
before anyone sees it. A verification is personal data: callers state and audit its purpose
(connectors.identity.service.verify does for the API).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

from pydantic import Field, ValidationError

from safecity.connectors.base import Connector, ConnectorConfig
from safecity.connectors.identity.schemas import MAX_PHOTO_BYTES, IdentityIn, IdentityOut
from safecity.connectors.rest import RestConfig, RestConnector
from safecity.core.db import utcnow
from safecity.core.identifiers import cnic_digits


class IdentityService(Connector):
    """A service that verifies identities by CNIC."""

    @abstractmethod
    def verify(self, *, cnic: str) -> IdentityOut | None:
        """The identity that holds `cnic` (with or without dashes), or None when there is none.

        Raises ValueError for a malformed CNIC, a ConnectorError when the service cannot answer.
        """


class RestIdentityConfig(RestConfig):
    type: Literal["identity.rest"] = "identity.rest"
    max_photo_bytes: int = Field(default=MAX_PHOTO_BYTES, ge=1024, le=4 * 1024 * 1024)


class RestIdentity(IdentityService, RestConnector):
    """The identity service's REST API: `GET <url>/<13 digits>` answers one identity as JSON."""

    type = "identity.rest"
    config_class = RestIdentityConfig

    def __init__(self, config: ConnectorConfig) -> None:
        if not isinstance(config, RestIdentityConfig):
            raise TypeError("a REST identity service needs a RestIdentityConfig")
        super().__init__(config)
        self.photo_limit = config.max_photo_bytes

    def verify(self, *, cnic: str) -> IdentityOut | None:
        """The service's answer for the CNIC, validated (names, date, photo decoded and size-checked)."""
        digits = cnic_digits(cnic)
        data = self.client.get_json(digits)
        if data is None:
            return None
        try:
            record = IdentityIn.model_validate(data)
            if cnic_digits(record.cnic) != digits:
                raise ValueError("the answer is of another CNIC")
            return record.out(source=self.name, checked_at=utcnow(), photo_limit=self.photo_limit)
        except (ValidationError, ValueError) as exc:
            raise self.client.bad_answer(
                f"{self.name} answered an identity that does not fit: {_why(exc)}"
            ) from None


def _why(exc: Exception) -> str:
    # Field names and what is wrong, never the values (they are personal data).
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())[:300]
    return str(exc)[:300]
