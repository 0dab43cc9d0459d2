"""Response-time KPIs out: figures, groups, the report and days; the targets a reader may set."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

from safecity.core.schemas import OutModel

DispatchTarget = Annotated[int, Query(ge=1, le=86_400)]
ArrivalTarget = Annotated[int, Query(ge=1, le=86_400)]
GoalShare = Annotated[float, Query(gt=0, le=1)]


class Figures(OutModel):
    """Counts, median, 90th percentile and share within target of one group (seconds; None: no data).

    Every incident is judged against each target: within, missed (late, or never dispatched / reached once
    closed or past the target) or pending (open and not yet past it). The share is within / (within +
    missed): an incident no unit was sent to counts against it.
    """

    count: int
    dispatched: int
    arrived: int
    dispatch_median_s: float | None
    dispatch_p90_s: float | None
    dispatch_within_share: float | None
    dispatch_within: int
    dispatch_missed: int
    dispatch_pending: int
    arrival_median_s: float | None
    arrival_p90_s: float | None
    arrival_within_share: float | None
    arrival_within: int
    arrival_missed: int
    arrival_pending: int


class Group(OutModel):
    """The figures of one district, category or agency."""

    key: str
    label: str
    figures: Figures


class Report(OutModel):
    """Response-time figures over a period, overall and per district, category and agency."""

    since: dt.datetime
    until: dt.datetime
    dispatch_target_s: int
    arrival_target_s: int
    goal_share: float
    overall: Figures
    by_district: list[Group]
    by_category: list[Group]
    by_agency: list[Group]


class Day(OutModel):
    """One local day: incidents opened and their median times to dispatch and to arrive."""

    day: dt.date
    count: int
    dispatch_median_s: float | None
    arrival_median_s: float | None
