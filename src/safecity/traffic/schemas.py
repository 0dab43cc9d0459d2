"""Pydantic shapes of traffic: locations and their lanes, counts and speeds, calibrations, sections and
their passages, road segments and their congestion.
"""

from __future__ import annotations

import enum
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.core.schemas import IsoDateTime


class Level(enum.StrEnum):
    """How congested a segment is (see `service.congestion_level` for the formula)."""

    UNKNOWN = "unknown"
    FREE = "free"
    MODERATE = "moderate"
    HEAVY = "heavy"
    JAM = "jam"


class LaneOut(BaseModel):
    """A lane of a location: one of the camera's counting lines."""

    rule_id: uuid.UUID
    name: str
    direction: str


class CalibrationIn(BaseModel):
    """Two counting lines of the camera and the distance between them along the road."""

    model_config = ConfigDict(extra="forbid")

    line_a_id: uuid.UUID
    line_b_id: uuid.UUID
    distance_m: float = Field(gt=0, le=1000)
    speed_limit_kmh: float | None = Field(default=None, gt=0, le=250)

    @model_validator(mode="after")
    def _two_lines(self) -> CalibrationIn:
        if self.line_a_id == self.line_b_id:
            raise ValueError("a speed needs two different lines")
        return self


class CalibrationOut(BaseModel):
    """A stored calibration."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    camera_id: uuid.UUID
    line_a_id: uuid.UUID
    line_b_id: uuid.UUID
    distance_m: float
    speed_limit_kmh: float | None
    updated_at: IsoDateTime


class LocationOut(BaseModel):
    """A camera that counts traffic: where it is, its lanes and its speed calibrations."""

    camera_id: uuid.UUID
    name: str
    district_id: uuid.UUID
    latitude: float
    longitude: float
    lanes: list[LaneOut]
    calibrations: list[CalibrationOut]


class SpeedOut(BaseModel):
    """The speeds of one class measured by one calibration within one bucket."""

    calibration_id: uuid.UUID
    bucket_start: IsoDateTime
    interval_min: int
    class_name: str = Field(serialization_alias="class")
    count: int
    mean_kmh: float
    p85_kmh: float | None
    max_kmh: float


class SectionIn(BaseModel):
    """Two ANPR cameras a known road distance apart, with the section's speed limit."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    camera_a_id: uuid.UUID
    camera_b_id: uuid.UUID
    distance_m: float = Field(gt=0, le=100_000)
    speed_limit_kmh: float = Field(gt=0, le=250)
    max_travel_s: int = Field(default=1800, gt=0, le=86_400)

    @model_validator(mode="after")
    def _two_cameras(self) -> SectionIn:
        if self.camera_a_id == self.camera_b_id:
            raise ValueError("a section needs two different cameras")
        return self


class SectionOut(BaseModel):
    """A stored section."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    district_id: uuid.UUID
    camera_a_id: uuid.UUID
    camera_b_id: uuid.UUID
    distance_m: float
    speed_limit_kmh: float
    max_travel_s: int


class SectionStatsOut(BaseModel):
    """A section's passages within a period: how many, how fast, how many over the limit."""

    section_id: uuid.UUID
    passages: int
    mean_kmh: float | None
    max_kmh: float | None
    over_limit: int


class PassageOut(BaseModel):
    """One vehicle's pass through a section (its plate: personal data, read under plates.read)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    section_id: uuid.UUID
    plate: str
    sighting_a_id: uuid.UUID
    sighting_b_id: uuid.UUID
    entered_at: IsoDateTime
    exited_at: IsoDateTime
    speed_kmh: float
    over_limit: bool
    vehicle_class: str | None


class SegmentIn(BaseModel):
    """A stretch of road, the counting lines (lanes) that measure it, and what it carries when free."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    camera_id: uuid.UUID
    line_ids: list[uuid.UUID] = Field(min_length=1, max_length=12)
    path: list[tuple[float, float]] = Field(min_length=2, max_length=200)  # [lat, lon]
    free_flow_kmh: float = Field(gt=0, le=200)
    capacity_vph: int = Field(default=1800, gt=0, le=3000)  # per lane
    lanes: int = Field(default=1, ge=1, le=12)
    jam_ratio: float = Field(default=0.3, gt=0, lt=1)
    jam_minutes: int = Field(default=5, ge=1, le=60)
    stopped_minutes: int = Field(default=5, ge=1, le=60)

    @field_validator("path")
    @classmethod
    def _on_earth(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(not (-90 <= lat <= 90 and -180 <= lon <= 180) for lat, lon in value):
            raise ValueError("path points are [latitude, longitude] in degrees")
        return value


class SegmentStateOut(BaseModel):
    """A segment's latest evaluation."""

    model_config = ConfigDict(from_attributes=True)

    evaluated_at: IsoDateTime
    level: Level
    flow_vph: float
    speed_kmh: float | None
    jammed: bool
    stopped_lanes: list[uuid.UUID]


class SegmentOut(BaseModel):
    """A stored segment with its latest evaluation (None until evaluated)."""

    id: uuid.UUID
    name: str
    district_id: uuid.UUID
    camera_id: uuid.UUID
    line_ids: list[uuid.UUID]
    path: list[tuple[float, float]]
    free_flow_kmh: float
    capacity_vph: int
    lanes: int
    jam_ratio: float
    jam_minutes: int
    stopped_minutes: int
    state: SegmentStateOut | None = None
