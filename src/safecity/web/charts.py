"""Chart geometry for server-drawn SVG charts: pages compute it here, `_charts.html` draws it (escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

CHART_W, CHART_H, PAD = 720, 220, 40  # SVG user units; the template draws the axes from these
# Room left of the vertical axis for its labels ("1250 km/h", "12.5 min" at 11 units a glyph fit whole).
LEFT = 72
TICKS = 8  # about this many labels along the bottom


@dataclass(frozen=True)
class Mark:
    """One drawn point or bar of a chart, with its tooltip."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Series:
    """One line of a line chart."""

    key: str
    colour: str
    points: str  # the SVG polyline's "x,y x,y ..."
    marks: list[Mark]


@dataclass(frozen=True)
class Chart:
    """Geometry of a chart over evenly spaced slots (days, hours), drawn as SVG by `_charts.html`."""

    top_label: str
    ticks: list[tuple[float, str]]  # (x, label) along the bottom
    series: list[Series] = field(default_factory=list)
    bars: list[Mark] = field(default_factory=list)
    width: int = CHART_W
    height: int = CHART_H
    pad: int = PAD
    left: int = LEFT
    y_title: str = ""  # what the vertical axis measures, with its unit ("minutes")
    x_title: str = ""  # what the slots along the bottom are ("day, local time")


@dataclass(frozen=True)
class Bucket:
    """One bar to draw: its label along the bottom, its tooltip and its height."""

    label: str
    tooltip: str
    value: float


def x_at(index: int, n: int) -> float:
    """The horizontal centre of slot `index` of `n`."""
    return LEFT + (CHART_W - 10 - LEFT) * (index + 0.5) / max(n, 1)


def y_at(value: float, top: float) -> float:
    """The vertical position of `value` on an axis from 0 (bottom) to `top`."""
    return CHART_H - PAD - (CHART_H - PAD - 10) * value / top


def ticks(labels: Sequence[str]) -> list[tuple[float, str]]:
    """Every so many of the slots' labels, placed under their slots."""
    step = max(len(labels) // TICKS, 1)
    return [(x_at(i, len(labels)), label) for i, label in enumerate(labels) if i % step == 0]


def bar_chart(
    buckets: Sequence[Bucket],
    *,
    top: float | None = None,
    unit: str = "",
    y_title: str = "",
    x_title: str = "",
) -> Chart:
    """A bar per bucket, from 0 up to `top` (default: the largest value); `unit` follows the top label,
    `y_title` and `x_title` name the axes."""
    top = top or max([b.value for b in buckets] or [1]) or 1
    width = (CHART_W - 10 - LEFT) / max(len(buckets), 1) * 0.7
    bars = [
        Mark(
            x_at(i, len(buckets)) - width / 2,
            y_at(b.value, top),
            width,
            CHART_H - PAD - y_at(b.value, top),
            b.tooltip,
        )
        for i, b in enumerate(buckets)
    ]
    top_label = (f"{top:.0f}" if float(top).is_integer() else f"{top:.1f}") + unit
    return Chart(top_label, ticks([b.label for b in buckets]), bars=bars, y_title=y_title, x_title=x_title)


@dataclass(frozen=True)
class Line:
    """One line to draw: a value per slot (None: no point there) and each point's tooltip."""

    key: str
    colour: str
    values: Sequence[float | None]
    tooltips: Sequence[str]


def line_chart(
    labels: Sequence[str],
    lines: Sequence[Line],
    *,
    unit: str = "",
    decimals: int = 0,
    y_title: str = "",
    x_title: str = "",
) -> Chart:
    """A line per `Line` over slots labelled `labels`, from 0 up to the largest value (`unit` on the top);
    `y_title` and `x_title` name the axes."""
    top = max([v for line in lines for v in line.values if v is not None] or [1]) or 1
    series = []
    for line in lines:
        marks = [
            Mark(x_at(i, len(labels)), y_at(v, top), 0, 0, line.tooltips[i])
            for i, v in enumerate(line.values)
            if v is not None
        ]
        points = " ".join(f"{m.x:.1f},{m.y:.1f}" for m in marks)
        series.append(Series(line.key, line.colour, points, marks))
    return Chart(f"{top:.{decimals}f}{unit}", ticks(labels), series=series, y_title=y_title, x_title=x_title)
