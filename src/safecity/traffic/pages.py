"""Traffic pages: the city's traffic on a map with each location's vehicles and speeds of the last hour;
a location's counts and speeds over time, with its speed calibration.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from safecity.analytics.counting import bucket_start
from safecity.analytics.pages import CLASS_COLOURS, COUNT_BUCKETS
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput
from safecity.traffic import service as traffic
from safecity.traffic.models import SpeedBucket
from safecity.traffic.schemas import CalibrationIn, LocationOut
from safecity.web import charts
from safecity.web.charts import Chart
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, htmx_action, render

router = APIRouter(include_in_schema=False)

SUMMARY = dt.timedelta(hours=1)  # the map page sums each location's last hour
REFRESH_S = 30  # the map page reloads the congestion this often


@dataclass(frozen=True)
class SpeedSummary:
    """Speeds merged over several buckets."""

    count: int
    mean_kmh: float | None
    p85_kmh: float | None
    max_kmh: float | None


def merge(rows: list[SpeedBucket]) -> SpeedSummary:
    """The speeds of several buckets as one: exact count, mean and max; p85 from the merged histograms."""
    count = sum(r.count for r in rows)
    if count == 0:
        return SpeedSummary(0, None, None, None)
    bins: Counter[str] = Counter()
    for row in rows:
        bins.update(row.bins)
    top = max(r.max_kmh for r in rows)
    p85 = traffic.p85(dict(bins), top)
    return SpeedSummary(
        count,
        round(sum(r.sum_kmh for r in rows) / count, 1),
        None if p85 is None else round(p85, 1),
        round(top, 1),
    )


@dataclass(frozen=True)
class LocationSummary:
    """A location's last hour: vehicles by class and their speeds."""

    location: LocationOut
    by_class: dict[str, int]
    speed: SpeedSummary


def _summary(db: Session, page: Page, location: LocationOut, now: dt.datetime) -> LocationSummary:
    since, until = now - SUMMARY, now + dt.timedelta(minutes=5)
    common: dict[str, Any] = {
        "session": db,
        "principal": page.principal,
        "camera_id": location.camera_id,
        "interval": 5,
        "since": since,
        "until": until,
    }
    by_class: Counter[str] = Counter()
    for row in traffic.counts(**common):
        by_class[row.class_name] += row.count
    return LocationSummary(location, dict(sorted(by_class.items())), merge(traffic.speeds(**common)))


@router.get("/traffic", response_class=HTMLResponse)
def traffic_page(page: CurrentPage, db: Db) -> Response:
    """The city's traffic: locations and segments on a map coloured by congestion (refreshed), and each
    location's vehicles by class and speeds over the last hour.
    """
    now = utcnow()
    found = traffic.locations(session=db, principal=page.principal)
    segments = traffic.list_segments(session=db, principal=page.principal)
    summaries = [_summary(db, page, location, now) for location in found]
    return render(
        page,
        "traffic/city.html",
        summaries=summaries,
        segments=segments,
        refresh_s=REFRESH_S,
        map_data={
            "locations": [
                {
                    "id": str(s.location.camera_id),
                    "name": s.location.name,
                    "lat": s.location.latitude,
                    "lon": s.location.longitude,
                    "href": f"/traffic/locations/{s.location.camera_id}",
                }
                for s in summaries
            ],
            "segments": [s.model_dump(mode="json") for s in segments],
        },
    )


@dataclass(frozen=True)
class LabelledChart:
    """A chart with its heading and a caption that says in words what it draws."""

    title: str
    chart: Chart
    caption: str


def _slots(page: Page, interval: int, now: dt.datetime) -> tuple[list[dt.datetime], list[str]]:
    step = dt.timedelta(minutes=interval)
    end = bucket_start(now, interval) + step
    starts = [end - step * (COUNT_BUCKETS[interval] - i) for i in range(COUNT_BUCKETS[interval])]
    return starts, [f"{s.astimezone(page.timezone):%H:%M}" for s in starts]


def count_charts(
    db: Session, page: Page, location: LocationOut, interval: int, now: dt.datetime
) -> list[LabelledChart]:
    """Per lane, the vehicles per class (both directions) in each of the latest buckets."""
    starts, labels = _slots(page, interval, now)
    rows = traffic.counts(
        session=db,
        principal=page.principal,
        camera_id=location.camera_id,
        interval=interval,
        since=starts[0],
        until=starts[-1] + dt.timedelta(minutes=interval),
    )
    found = []
    for lane in location.lanes:
        by_class: dict[str, Counter[dt.datetime]] = {}
        for row in rows:
            if row.rule_id == lane.rule_id:
                by_class.setdefault(row.class_name, Counter())[row.bucket_start] += row.count
        lines = [
            charts.Line(
                f"class-{i}",
                CLASS_COLOURS[i % len(CLASS_COLOURS)],
                [counts[s] for s in starts],
                [f"{label}: {counts[s]} {name}" for s, label in zip(starts, labels, strict=True)],
            )
            for i, (name, counts) in enumerate(sorted(by_class.items()))
        ]
        totals = ", ".join(f"{sum(c.values())} {name}" for name, c in sorted(by_class.items()))
        caption = f"Vehicles per {interval} min: {totals or 'nothing counted'}."
        found.append(LabelledChart(lane.name, charts.line_chart(labels, lines), caption))
    return found


def speed_charts(
    db: Session, page: Page, location: LocationOut, interval: int, now: dt.datetime
) -> list[LabelledChart]:
    """Per calibration, the mean and 85th-percentile speed (all classes) in each of the latest buckets."""
    starts, labels = _slots(page, interval, now)
    rows = traffic.speeds(
        session=db,
        principal=page.principal,
        camera_id=location.camera_id,
        interval=interval,
        since=starts[0],
        until=starts[-1] + dt.timedelta(minutes=interval),
    )
    names = {lane.rule_id: lane.name for lane in location.lanes}
    found = []
    for calibration in location.calibrations:
        per_slot = {
            s: merge([r for r in rows if r.calibration_id == calibration.id and r.bucket_start == s])
            for s in starts
        }
        series = [
            ("mean", "#1f6fb5", [per_slot[s].mean_kmh for s in starts]),
            ("p85", "#c62828", [per_slot[s].p85_kmh for s in starts]),
        ]
        lines = [
            charts.Line(
                f"speed-{key}",
                colour,
                values,
                [
                    f"{label}: {key} {v if v is not None else '-'} km/h"
                    for label, v in zip(labels, values, strict=True)
                ],
            )
            for key, colour, values in series
        ]
        overall = merge([r for r in rows if r.calibration_id == calibration.id])
        caption = (
            f"{overall.count} vehicles measured, mean {overall.mean_kmh} km/h, 85th percentile "
            f"{overall.p85_kmh} km/h, top {overall.max_kmh} km/h (blue: mean, red: 85th percentile)."
            if overall.count
            else "No speeds measured in this period."
        )
        title = f"Speed {names.get(calibration.line_a_id, '?')} → {names.get(calibration.line_b_id, '?')}"
        found.append(LabelledChart(title, charts.line_chart(labels, lines, unit=" km/h"), caption))
    return found


@router.get("/traffic/locations/{camera_id}", response_class=HTMLResponse)
def location_page(page: CurrentPage, db: Db, camera_id: uuid.UUID, interval: int = 15) -> Response:
    """A location's vehicles per lane and class, and its speeds, over time; its speed calibration."""
    if interval not in COUNT_BUCKETS:
        raise InvalidInput(
            f"interval must be one of {', '.join(map(str, COUNT_BUCKETS))} minutes", code="bad_interval"
        )
    location = traffic.location(session=db, principal=page.principal, camera_id=camera_id)
    now = utcnow()
    return render(
        page,
        "traffic/location.html",
        location=location,
        count_charts=count_charts(db, page, location, interval, now),
        speed_charts=speed_charts(db, page, location, interval, now),
        interval=interval,
        intervals=list(COUNT_BUCKETS),
        lane_names={lane.rule_id: lane.name for lane in location.lanes},
        can_manage=page.principal.can(traffic.MANAGE),
    )


@router.post("/traffic/locations/{camera_id}/calibration")
def calibration_save(
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    line_a_id: Annotated[str, Form(max_length=40)],
    line_b_id: Annotated[str, Form(max_length=40)],
    distance_m: Annotated[str, Form(max_length=16)],
    speed_limit_kmh: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Save the distance between two of the camera's counting lines (traffic.manage); audited."""

    def save() -> None:
        try:
            data = CalibrationIn(
                line_a_id=uuid.UUID(line_a_id),
                line_b_id=uuid.UUID(line_b_id),
                distance_m=float(distance_m),
                speed_limit_kmh=float(speed_limit_kmh) if speed_limit_kmh.strip() else None,
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError too
            raise InvalidInput(
                "pick two different lines and give the distance in metres (0-1000) and the limit in km/h",
                code="bad_calibration",
            ) from exc
        traffic.calibrate(session=db, principal=page.principal, camera_id=camera_id, data=data)

    return htmx_action(db, save, f"/traffic/locations/{camera_id}", audit_refusal=page)
