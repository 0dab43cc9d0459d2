"""Pydantic shapes of traffic enforcement: enforcement rules and their parameters per offence, traffic
signals and the states they report.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.traffic.violations.models import Offence, SignalLight, SignalSource

Fraction = Annotated[float, Field(ge=0, le=1)]
Region = list[tuple[Fraction, Fraction]]


def _with_area(value: Region | None) -> Region | None:
    """A polygon (fractions of the picture) that encloses something."""
    if value is None:
        return value
    points = list(value)
    area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))
    if abs(area) < 1e-6:
        raise ValueError("the lamp region has no area")
    return value


# --- parameters of each offence (stored in EnforcementRule.params) ------------------------------------


class RedLightParams(BaseModel):
    """A red-light rule: a crossing within `min_red_s` of the light turning red is not an offence."""

    model_config = ConfigDict(extra="forbid")

    min_red_s: float = Field(default=0.0, ge=0, le=5)


class OverSpeedParams(BaseModel):
    """An over-speed rule: over `limit_kmh` (default: the calibration's or section's limit) plus
    `tolerance_kmh` (the measurement's margin) is an offence.
    """

    model_config = ConfigDict(extra="forbid")

    limit_kmh: float | None = Field(default=None, gt=0, le=250)
    tolerance_kmh: float = Field(default=0.0, ge=0, le=50)


class NoParams(BaseModel):
    """Rules whose parameters are the analytics rule's (wrong way; no parking, whose dwell is the grace)."""

    model_config = ConfigDict(extra="forbid")


PARAMS: dict[Offence, type[BaseModel]] = {
    Offence.RED_LIGHT: RedLightParams,
    Offence.OVER_SPEED: OverSpeedParams,
    Offence.WRONG_WAY: NoParams,
    Offence.NO_PARKING: NoParams,
}


# --- enforcement rules ----------------------------------------------------------------------------


class EnforcementRuleIn(InModel):
    """One offence enforced on one camera and what it is measured by (see EnforcementRule)."""

    name: str = Field(min_length=1, max_length=120)
    camera_id: uuid.UUID
    offence: Offence
    analytics_rule_id: uuid.UUID | None = None  # red_light: the stop line; wrong_way, no_parking: the zone
    signal_id: uuid.UUID | None = None  # red_light
    calibration_id: uuid.UUID | None = None  # over_speed between two lines of this camera
    section_id: uuid.UUID | None = None  # over_speed over a section ending at this camera
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class EnforcementRuleUpdate(InModel):
    """What may change on a rule; what it is built on may not (remove it and add another)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    params: dict[str, Any] | None = None
    enabled: bool | None = None


class EnforcementRuleOut(OutModel):
    """A stored rule, with the names a list shows."""

    id: uuid.UUID
    name: str
    camera_id: uuid.UUID
    camera_name: str = ""
    district_id: uuid.UUID | None = None
    offence: Offence
    analytics_rule_id: uuid.UUID | None
    analytics_rule_name: str | None = None
    signal_id: uuid.UUID | None
    signal_name: str | None = None
    calibration_id: uuid.UUID | None
    section_id: uuid.UUID | None
    params: dict[str, Any]
    enabled: bool
    created_at: IsoDateTime


# --- signals --------------------------------------------------------------------------------------


class SignalIn(InModel):
    """A signal head: fed by its controller (API, MQTT), or read from `lamp_region` of `camera_id`."""

    name: str = Field(min_length=1, max_length=120)
    source: SignalSource
    district_id: uuid.UUID | None = None  # required without a camera; with one, the camera's
    camera_id: uuid.UUID | None = None
    lamp_region: Region | None = Field(default=None, min_length=3, max_length=16)

    @field_validator("lamp_region")
    @classmethod
    def _has_area(cls, value: Region | None) -> Region | None:
        return _with_area(value)


class SignalUpdate(InModel):
    """A signal's name or lamp region."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    lamp_region: Region | None = Field(default=None, min_length=3, max_length=16)

    @field_validator("lamp_region")
    @classmethod
    def _has_area(cls, value: Region | None) -> Region | None:
        return _with_area(value)


class SignalStateIn(InModel):
    """A controller's report: the light now showing, and since when (default: when it is received)."""

    light: SignalLight
    at: IsoDateTime | None = None


class SignalStateOut(BaseModel):
    """A signal's state: the light, where it was learnt, and since when."""

    signal_id: uuid.UUID
    light: SignalLight
    source: str | None
    since: IsoDateTime | None
    changed: bool | None = None  # on a report: whether it was stored as a change


class SignalOut(OutModel):
    """A stored signal and its current state."""

    id: uuid.UUID
    name: str
    district_id: uuid.UUID
    source: SignalSource
    camera_id: uuid.UUID | None
    lamp_region: list[list[float]] | None
    created_at: IsoDateTime
    state: SignalStateOut | None = None


class StateOut(OutModel):
    """One stored change of a signal's state."""

    signal_id: uuid.UUID
    at: IsoDateTime
    light: SignalLight
    source: str


def utc(moment: dt.datetime) -> dt.datetime:
    """The moment in UTC (the API takes any zone)."""
    return moment.astimezone(dt.UTC)
