"""Prisons feeds: releases, escapes and transfers since a time, as the prisons department publishes them.

`prisons.rest` polls `GET <url>/events?since=<ISO time>` (a JSON list, oldest first); the service keeps
each event once by its id, so polling from the last event's time again loses nothing and stores nothing
twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from abc import abstractmethod
from typing import Any, Literal

from pydantic import Field, ValidationError

from safecity.connectors.base import Connector, ConnectorConfig
from safecity.connectors.prisons.schemas import PrisonEventIn
from safecity.connectors.rest import RestConfig, RestConnector

logger = logging.getLogger(__name__)


class PrisonSource(Connector):
    """A feed of prison events; `poll_every_s` says how often to ask, `backfill` how far back at first."""

    poll_every_s: float
    backfill: dt.timedelta

    @abstractmethod
    def events_since(self, *, since: dt.datetime) -> tuple[list[PrisonEventIn], int]:
        """The events at or after `since`, and how many were refused as malformed (logged by field).

        Raises a ConnectorError when the feed cannot answer.
        """


class RestPrisonsConfig(RestConfig):
    type: Literal["prisons.rest"] = "prisons.rest"
    poll_every_s: float = Field(default=60.0, ge=1, le=86_400)
    backfill_days: int = Field(default=7, ge=0, le=365)


class RestPrisons(PrisonSource, RestConnector):
    """The prisons department's REST feed."""

    type = "prisons.rest"
    config_class = RestPrisonsConfig

    def __init__(self, config: ConnectorConfig) -> None:
        if not isinstance(config, RestPrisonsConfig):
            raise TypeError("a prisons feed needs a RestPrisonsConfig")
        super().__init__(config)
        self.poll_every_s = config.poll_every_s
        self.backfill = dt.timedelta(days=config.backfill_days)

    def events_since(self, *, since: dt.datetime) -> tuple[list[PrisonEventIn], int]:
        """Ask the feed (never from the cache: it is news we want)."""
        data: Any = self.client.get_json("events", params={"since": since.isoformat()}, cached=False)
        if data is None:
            return [], 0
        if not isinstance(data, list):
            raise self.client.bad_answer(f"{self.name} answered something other than a list of events")
        events, refused = [], 0
        for position, item in enumerate(data):
            try:
                events.append(PrisonEventIn.model_validate(item))
            except ValidationError as exc:
                refused += 1
                fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "event" for e in exc.errors()}))
                logger.warning("prisons feed %s: event %d refused (%s)", self.name, position, fields)
        return events, refused
