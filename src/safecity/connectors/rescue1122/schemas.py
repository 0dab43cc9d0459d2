"""Rescue 1122's incident as its webhook sends it, ours as we send it, and the webhook's answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.connectors.prisons.schemas import plain
from safecity.incidents.models import Category

# Their categories -> ours (they also accept and send ours).
THEIR_CATEGORIES: dict[str, Category] = {
    "fire": Category.FIRE,
    "medical": Category.MEDICAL,
    "medical_emergency": Category.MEDICAL,
    "road_accident": Category.TRAFFIC_ACCIDENT,
    "road_traffic_accident": Category.TRAFFIC_ACCIDENT,
    "traffic_accident": Category.TRAFFIC_ACCIDENT,
}
SERVED = (Category.FIRE, Category.MEDICAL, Category.TRAFFIC_ACCIDENT)


class RescueIncidentIn(BaseModel):
    """One of their incidents (the webhook's JSON body)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=64)
    category: str
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    priority: int = Field(default=2, ge=1, le=4)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str = Field(default="", max_length=300)
    district: str = Field(default="", max_length=8)  # a district code; default: the connector's

    @field_validator("id", "title", "address", "district")
    @classmethod
    def _plain(cls, value: str) -> str:
        return plain(value)

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        return "\n".join(plain(line) for line in value.splitlines())

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        key = value.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in THEIR_CATEGORIES:
            raise ValueError(f"one of {', '.join(sorted(THEIR_CATEGORIES))}")
        return THEIR_CATEGORIES[key].value


class OurIncident(BaseModel):
    """What Rescue 1122 is told of one of our incidents (no caller's name or phone: not theirs to keep)."""

    id: uuid.UUID  # our id: a repeated delivery of the same status is the same message to them
    number: str
    category: str
    status: str
    priority: int
    title: str
    latitude: float | None
    longitude: float | None
    address: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ReceivedOut(BaseModel):
    """The webhook's answer: the incident their incident became here."""

    incident_id: uuid.UUID
    number: str
    replayed: bool  # True: this incident of theirs had reached us before; nothing new was made
    status: Literal["created", "known"]
