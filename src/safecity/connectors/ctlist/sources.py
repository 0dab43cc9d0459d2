"""Sources of the counter-terrorism schedule (Fourth Schedule): the whole list as its keeper publishes it.

`ctlist.rest` fetches `GET <url>/listings` (a JSON list of listings); the service replaces its rows with it
(one row per CNIC and source; a CNIC no longer on the list is marked delisted).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any, Literal

from pydantic import Field, ValidationError

from safecity.connectors.base import Connector, ConnectorConfig
from safecity.connectors.ctlist.schemas import ListingIn
from safecity.connectors.rest import RestConfig, RestConnector

logger = logging.getLogger(__name__)


class CtListSource(Connector):
    """The schedule's list; `refresh_every_s` says how often to fetch it."""

    refresh_every_s: float

    @abstractmethod
    def listings(self) -> tuple[list[ListingIn], int]:
        """The whole list, and how many entries were refused as malformed (logged by field).

        Raises a ConnectorError when the list cannot be fetched.
        """


class RestCtListConfig(RestConfig):
    type: Literal["ctlist.rest"] = "ctlist.rest"
    refresh_every_s: float = Field(default=3600.0, ge=60, le=7 * 86_400)
    max_response_bytes: int = Field(default=32_000_000, ge=1024)  # the whole province's list


class RestCtList(CtListSource, RestConnector):
    """The schedule's REST list."""

    type = "ctlist.rest"
    config_class = RestCtListConfig

    def __init__(self, config: ConnectorConfig) -> None:
        if not isinstance(config, RestCtListConfig):
            raise TypeError("a CT list needs a RestCtListConfig")
        super().__init__(config)
        self.refresh_every_s = config.refresh_every_s

    def listings(self) -> tuple[list[ListingIn], int]:
        """Fetch the list (never from the cache)."""
        data: Any = self.client.get_json("listings", cached=False)
        if not isinstance(data, list):
            raise self.client.bad_answer(f"{self.name} answered something other than a list of listings")
        found, refused = [], 0
        for position, item in enumerate(data):
            try:
                found.append(ListingIn.model_validate(item))
            except ValidationError as exc:
                refused += 1
                fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "listing" for e in exc.errors()}))
                logger.warning("CT list %s: entry %d refused (%s)", self.name, position, fields)
        return found, refused
