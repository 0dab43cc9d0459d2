"""Rescue 1122 links: our incidents of the kinds they serve go to them, theirs come to us.

`rescue1122.rest` POSTs our incident to `<url>/incidents` (JSON, our id in it: a repeat is the same
message) when it opens and when its status changes, from a background loop that retries failures with
back-off, so an incident's own request never waits on them. Their incidents arrive on our webhook, signed
with the shared HMAC key (`hmac_key`, HMAC-SHA256 of "<X-Timestamp>.<body>").
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

from pydantic import Field, SecretStr

from safecity.connectors.base import Connector, ConnectorConfig
from safecity.connectors.rescue1122.schemas import SERVED, OurIncident
from safecity.connectors.rest import RestConfig, RestConnector
from safecity.incidents.models import Category


class RescueLink(Connector):
    """A link with Rescue 1122 both ways."""

    categories: frozenset[Category]  # our incidents of these kinds go to them
    push_every_s: float  # how often the outbox is looked at
    window_s: float  # incidents changed longer ago than this are not sent (a new link sends no history)
    hmac_key: str | None  # the webhook's shared key; None: their incidents are not accepted
    max_skew_s: float  # how old a signed webhook call may be
    default_district: str  # the district code their incidents go to when they name none

    @abstractmethod
    def deliver(self, incident: OurIncident) -> None:
        """Tell them of the incident (created, or its status now); a ConnectorError when they cannot hear."""


class RestRescueConfig(RestConfig):
    type: Literal["rescue1122.rest"] = "rescue1122.rest"
    hmac_key: SecretStr | None = None
    max_skew_s: int = Field(default=300, ge=10, le=3600)
    categories: list[Category] = Field(default_factory=lambda: list(SERVED), min_length=1)
    push_every_s: float = Field(default=5.0, ge=1, le=3600)
    window_h: float = Field(default=24.0, gt=0, le=24 * 30)
    default_district: str = Field(default="", max_length=8)
    cache_ttl_s: int = 0  # nothing is fetched: every call is a delivery


class RestRescue(RescueLink, RestConnector):
    """Rescue 1122's REST API."""

    type = "rescue1122.rest"
    config_class = RestRescueConfig

    def __init__(self, config: ConnectorConfig) -> None:
        if not isinstance(config, RestRescueConfig):
            raise TypeError("a Rescue 1122 link needs a RestRescueConfig")
        super().__init__(config)
        self.categories = frozenset(config.categories)
        self.push_every_s = config.push_every_s
        self.window_s = config.window_h * 3600
        self.hmac_key = config.hmac_key.get_secret_value() if config.hmac_key else None
        self.max_skew_s = config.max_skew_s
        self.default_district = config.default_district.upper()

    def deliver(self, incident: OurIncident) -> None:
        """POST the incident to `<url>/incidents`."""
        self.client.post_json("incidents", incident.model_dump(mode="json"))
