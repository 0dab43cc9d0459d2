"""Rules as they are drawn on a camera and stored: one typed shape per kind, told apart by `kind`.

Geometry is in fractions of the frame (0..1, origin top left), so a rule survives a change of
resolution or a switch between main and sub-stream. An object's position is the bottom centre of its
box: where a person stands or a wheel touches the road.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from safecity.analytics.detectors import DetectorConfig, detector_config
from safecity.analytics.models import AnalyticsRule, LineCount
from safecity.analytics.types import BAGGAGE, CLASS_IDS, PERSON, PIPELINE_CLASSES, VEHICLES, class_name
from safecity.config import AnalyticsSettings
from safecity.events.models import Severity

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]
PEOPLE = [class_name(PERSON)]
VEHICLE_NAMES = sorted(class_name(c) for c in VEHICLES)
BAG_NAMES = sorted(class_name(c) for c in BAGGAGE)
# What the pipeline detects (road users and baggage); a camera may narrow it, never widen it.
PIPELINE_NAMES = sorted(class_name(c) for c in PIPELINE_CLASSES)


class Weekday(enum.StrEnum):
    """Days of the week, as a schedule names them."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class TimeWindow(BaseModel):
    """When a rule is armed, in local time; `end` before `start` runs past midnight (22:00 to 06:00)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: dt.time = dt.time(0, 0)
    end: dt.time = dt.time(23, 59, 59)


class RuleBase(BaseModel):
    """What every rule has: a name, the classes it watches, its severity, and how often it may fire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    classes: list[str] = Field(default_factory=lambda: PEOPLE, min_length=1)
    severity: Severity = Severity.MEDIUM
    # After firing, quiet this long: per track for instant events, per rule for lasting conditions.
    cooldown_s: float = Field(default=30.0, ge=0, le=86400)
    schedule: list[TimeWindow] = Field(default_factory=list)  # empty: always armed
    enabled: bool = True

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CLASS_IDS]
        if unknown:
            raise ValueError(f"unknown classes {unknown}; use COCO names such as person, car, truck")
        return sorted(set(value))


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("a zone needs at least 3 points")
    area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))
    if abs(area) < 1e-6:
        raise ValueError("the zone has no area")
    return points


Zone = Annotated[list[Point], Field(max_length=64)]


class ZoneRule(RuleBase):
    """A rule about a polygon on the picture."""

    zone: Zone

    @field_validator("zone")
    @classmethod
    def _valid_zone(cls, value: list[Point]) -> list[Point]:
        return _polygon(value)


class ZoneIntrusion(ZoneRule):
    """An object of the classes enters the zone."""

    kind: Literal["zone_intrusion"] = "zone_intrusion"


class LineDirection(enum.StrEnum):
    """Which crossings count, looking along the line from its first point to its second."""

    LEFT_TO_RIGHT = "left_to_right"
    RIGHT_TO_LEFT = "right_to_left"
    BOTH = "both"


class LineCrossing(RuleBase):
    """An object crosses the segment `line` (first point → second) in `direction`."""

    kind: Literal["line_crossing"] = "line_crossing"
    line: tuple[Point, Point]
    direction: LineDirection = LineDirection.BOTH

    @field_validator("line")
    @classmethod
    def _has_length(cls, value: tuple[Point, Point]) -> tuple[Point, Point]:
        (x1, y1), (x2, y2) = value
        if abs(x2 - x1) + abs(y2 - y1) < 1e-3:
            raise ValueError("the line's two points are the same")
        return value


class CountingLine(RuleBase):
    """Counts the objects crossing the segment `line`, once per track and direction, by class.

    Directions are named as for `LineCrossing`. A counting line raises no events (a busy road would flood
    the event store): its counts are stored per 1, 5, 15 and 60 minutes for charts, and the cool-down
    does not apply (every crossing counts).
    """

    kind: Literal["counting_line"] = "counting_line"
    classes: list[str] = Field(default_factory=lambda: VEHICLE_NAMES, min_length=1)
    line: tuple[Point, Point]
    direction: LineDirection = LineDirection.BOTH

    @field_validator("line")
    @classmethod
    def _has_length(cls, value: tuple[Point, Point]) -> tuple[Point, Point]:
        return LineCrossing._has_length(value)


class Loitering(ZoneRule):
    """An object stays in the zone longer than `dwell_s`."""

    kind: Literal["loitering"] = "loitering"
    dwell_s: float = Field(default=60.0, gt=0, le=86400)


class Crowd(ZoneRule):
    """More than `max_count` objects of the classes are in the zone at once."""

    kind: Literal["crowd"] = "crowd"
    max_count: int = Field(default=10, ge=1, le=10000)


class WrongWay(ZoneRule):
    """An object in the zone moves against `direction` (a vector drawn from its first point to its second)."""

    kind: Literal["wrong_way"] = "wrong_way"
    classes: list[str] = Field(default_factory=lambda: VEHICLE_NAMES, min_length=1)
    direction: tuple[Point, Point]
    min_travel: float = Field(default=0.05, gt=0, le=1)  # fraction of the frame moved before judging

    @field_validator("direction")
    @classmethod
    def _has_length(cls, value: tuple[Point, Point]) -> tuple[Point, Point]:
        return LineCrossing._has_length(value)


class StoppedVehicle(ZoneRule):
    """A vehicle stands still in a no-parking zone longer than `dwell_s`."""

    kind: Literal["stopped_vehicle"] = "stopped_vehicle"
    classes: list[str] = Field(default_factory=lambda: VEHICLE_NAMES, min_length=1)
    dwell_s: float = Field(default=120.0, gt=0, le=86400)
    tolerance: float = Field(default=0.02, gt=0, le=0.5)  # movement (fraction of the frame) still "stopped"


class ObjectLeftBehind(ZoneRule):
    """An object that was not there before stays still in the zone longer than `dwell_s`."""

    kind: Literal["object_left_behind"] = "object_left_behind"
    classes: list[str] = Field(default_factory=lambda: BAG_NAMES, min_length=1)
    dwell_s: float = Field(default=60.0, gt=0, le=86400)
    tolerance: float = Field(default=0.02, gt=0, le=0.5)


RuleConfig = Annotated[
    ZoneIntrusion
    | LineCrossing
    | CountingLine
    | Loitering
    | Crowd
    | WrongWay
    | StoppedVehicle
    | ObjectLeftBehind,
    Field(discriminator="kind"),
]
RULE_KINDS: tuple[str, ...] = (
    "zone_intrusion", "line_crossing", "counting_line", "loitering", "crowd", "wrong_way",
    "stopped_vehicle", "object_left_behind",
)  # fmt: skip
rule_adapter: TypeAdapter[RuleConfig] = TypeAdapter(RuleConfig)


# --- how a camera's picture is fed to the shared detector ------------------------------------------


def _pipeline_classes(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(PIPELINE_NAMES))
    if unknown:
        raise ValueError(f"classes {unknown} are not detected here; choose among {', '.join(PIPELINE_NAMES)}")
    return names


class DetectionSettings(BaseModel):
    """How one camera's frames are fed to the shared detector, and which of its findings are kept.

    The same fields as the global `analytics` settings (plus the classes and the input size), so a camera
    without its own settings uses exactly the global ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiling: bool  # overlapping tiles at near native resolution (a model run each)
    tile_grid: tuple[int, int] | None = None  # columns x rows; None: tiles about square
    whole_frame: bool  # also one pass on the whole frame (big, close objects)
    input_size: int | None = None  # the model's input in pixels, where it has one; None: its default
    classes: list[str] = Field(min_length=1)  # kept; the others are not even tracked
    min_score: float = Field(gt=0, lt=1)
    class_scores: dict[str, float] = Field(default_factory=dict)  # min_score per class, where different

    @field_validator("tile_grid")
    @classmethod
    def _sane_grid(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        return DetectorConfig._sane_grid(value)

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        return sorted(set(_pipeline_classes(value)))

    @field_validator("class_scores")
    @classmethod
    def _known_scores(cls, value: dict[str, float]) -> dict[str, float]:
        _pipeline_classes(list(value))
        return DetectorConfig._known_scores(value)

    @classmethod
    def of_settings(cls, cfg: AnalyticsSettings) -> DetectionSettings:
        """The global settings, as a camera without its own uses them."""
        return cls(
            tiling=cfg.tiling,
            tile_grid=cfg.tile_grid,
            whole_frame=cfg.whole_frame,
            classes=PIPELINE_NAMES,
            min_score=cfg.min_score,
            class_scores=cfg.class_scores,
        )

    def detector_config(self, detector: str) -> DetectorConfig:
        """The config of the detector of type `detector` fed this way (pydantic's ValidationError where the
        detector refuses it, such as an input size it cannot take or has no setting for).
        """
        fields = self.model_dump(exclude={"input_size"})
        if self.input_size is not None:
            fields["input_size"] = self.input_size  # a detector without the setting refuses it (extra)
        return detector_config({"type": detector, **fields})


# --- what the API returns ------------------------------------------------------------------------


class RuleOut(BaseModel):
    """A stored rule: its configuration as drawn, and who changed it when."""

    id: uuid.UUID
    camera_id: uuid.UUID
    name: str
    kind: str
    enabled: bool
    config: RuleConfig
    created_at: dt.datetime
    updated_at: dt.datetime  # send it back as `expected_updated_at` to refuse overwriting a newer change
    updated_by: uuid.UUID | None

    @classmethod
    def of(cls, rule: AnalyticsRule) -> RuleOut:
        """The API's view of a stored rule."""
        return cls(
            id=rule.id,
            camera_id=rule.camera_id,
            name=rule.name,
            kind=rule.kind,
            enabled=rule.enabled,
            config=rule_adapter.validate_python(rule.config),
            created_at=rule.created_at,
            updated_at=rule.updated_at,
            updated_by=rule.updated_by,
        )


class LineCountOut(BaseModel):
    """How many objects of one class crossed a counting line one way within one bucket."""

    model_config = ConfigDict(from_attributes=True)

    rule_id: uuid.UUID
    bucket_start: dt.datetime
    interval_min: int
    direction: str
    class_name: str = Field(serialization_alias="class")
    count: int

    @classmethod
    def of(cls, row: LineCount) -> LineCountOut:
        """The API's view of a stored count."""
        return cls.model_validate(row)


class CameraStatsOut(BaseModel):
    """One camera's analytics over the last few seconds."""

    camera_id: uuid.UUID
    name: str
    fps: float
    detect_fps: float
    motion: bool
    tracks: int
    events: int
    rejected_frames: int
    last_event_at: dt.datetime | None
    last_error: str | None


class AnalyticsStatusOut(BaseModel):
    """The analytics of the process that answers; `running` is false where this process runs none."""

    running: bool
    detector: str | None = None
    cameras: list[CameraStatsOut] = []
    total_fps: float = 0.0
    detect_fps: float = 0.0
    detector_ms_p50: float | None = None
    detector_ms_p95: float | None = None
    queue_drops: int = 0


class DetectionOut(BaseModel):
    """A camera's detector settings in effect: its own, or the global ones (`own` false)."""

    camera_id: uuid.UUID
    own: bool
    detector: str  # the shared model these settings feed
    settings: DetectionSettings
    defaults: DetectionSettings  # the global settings (what `own: false` uses)
    # Send it back as `expected_updated_at` to refuse overwriting a newer change; null: not the camera's own.
    updated_at: dt.datetime | None
    updated_by: uuid.UUID | None
