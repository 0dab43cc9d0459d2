"""Notifiers tell a unit it has been dispatched: an ABC, its configurations and a registry by `type`."""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import aiomqtt
import httpx
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class NotifierConfig(BaseModel):
    """Base of every notifier's configuration; `type` picks the notifier."""

    model_config = ConfigDict(extra="forbid")
    type: str


class MqttNotifierConfig(NotifierConfig):
    type: Literal["mqtt"] = "mqtt"
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    prefix: str = "safecity/units"


class WebhookNotifierConfig(NotifierConfig):
    type: Literal["webhook"] = "webhook"
    url: str
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class NotifyError(Exception):
    """The unit could not be told; the assignment stands and the dispatcher calls it instead."""


class Notifier(abc.ABC):
    """Sends a dispatch message to a unit."""

    type: ClassVar[str]

    @abc.abstractmethod
    async def send(self, *, call_sign: str, message: dict[str, Any]) -> None:
        """Deliver `message` to the unit `call_sign`; raise NotifyError if it cannot."""


class MqttNotifier(Notifier):
    """Publishes the message as JSON to `<prefix>/<call_sign>/dispatch` (QoS 1)."""

    type = "mqtt"

    def __init__(self, config: MqttNotifierConfig) -> None:
        self.config = config

    async def send(self, *, call_sign: str, message: dict[str, Any]) -> None:
        """Publish the dispatch to the unit's topic."""
        topic = f"{self.config.prefix}/{call_sign}/dispatch"
        try:
            async with aiomqtt.Client(self.config.host, self.config.port) as client:
                await client.publish(topic, json.dumps(message).encode(), qos=1)
        except aiomqtt.MqttError as exc:
            raise NotifyError(f"MQTT broker unreachable: {exc}") from exc


class WebhookNotifier(Notifier):
    """POSTs the message as JSON (with the call sign) to a configured URL."""

    type = "webhook"

    def __init__(self, config: WebhookNotifierConfig) -> None:
        self.config = config

    async def send(self, *, call_sign: str, message: dict[str, Any]) -> None:
        """POST the dispatch; any non-2xx answer is a failure."""
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s) as client:
                response = await client.post(self.config.url, json={"call_sign": call_sign, **message})
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise NotifyError(f"webhook failed: {type(exc).__name__}") from exc


REGISTRY: dict[str, Callable[[dict[str, Any]], Notifier]] = {
    "mqtt": lambda config: MqttNotifier(MqttNotifierConfig.model_validate(config)),
    "webhook": lambda config: WebhookNotifier(WebhookNotifierConfig.model_validate(config)),
}


def build_notifier(config: dict[str, Any]) -> Notifier:
    """The notifier named by `config["type"]`, configured by the rest of `config`."""
    kind = config.get("type")
    if not isinstance(kind, str) or kind not in REGISTRY:
        raise ValueError(f"unknown notifier type {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[kind](config)
