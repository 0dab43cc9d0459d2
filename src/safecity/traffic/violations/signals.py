"""A traffic signal's light read from a camera's picture: the colour of the lit lamp in a drawn region.

Within the region (a polygon around the signal head, fractions of the picture) each pixel that is bright
and saturated is sorted by hue into red, amber or green; the light is the colour whose pixels cover at
least MIN_SHARE of the region and clearly outnumber the others. A head with no such pixels is dark (off);
two colours lit about equally is not a state a signal shows, so it is unknown, and nobody is fined on it.

`LampTracker` turns readings taken a few times a second into changes, each dated so that it never makes
red last longer than it was seen: a change to red starts at the first reading that showed red, a change
away from red at the last reading that still did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics.types import Image
from safecity.traffic.violations.models import SignalLight

# Lit lamps are bright and saturated; OpenCV's hue runs 0-179 (red wraps around 0).
MIN_VALUE = 140
MIN_SATURATION = 90
RED_HUES = ((0, 10), (160, 179))
AMBER_HUES = ((11, 34),)
GREEN_HUES = ((40, 100),)
MIN_SHARE = 0.03  # of the region's pixels: a lit lamp in a head's region covers far more
DOMINANCE = 2.0  # the light's pixels must outnumber the next colour's this many times
CONFIRM = 2  # consecutive readings of a new light before it is taken as the signal's change
ONE_MS = dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class LampReading:
    """What one picture showed: the light, and each colour's share of the region's pixels."""

    light: SignalLight
    shares: dict[str, float]


def region_pixels(region: Sequence[tuple[float, float]], width: int, height: int) -> npt.NDArray[np.int32]:
    """The polygon in pixel coordinates (int32, for OpenCV)."""
    return np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in region], dtype=np.int32)


def _in(hue: Image, ranges: tuple[tuple[int, int], ...]) -> npt.NDArray[np.bool_]:
    found = np.zeros(hue.shape, dtype=bool)
    for low, high in ranges:
        found |= (hue >= low) & (hue <= high)
    return found


def read_lamp(image: Image, region: Sequence[tuple[float, float]]) -> LampReading:
    """The light a BGR picture shows in `region` (see the module docstring)."""
    height, width = image.shape[:2]
    polygon = region_pixels(region, width, height)
    x, y, w, h = cv2.boundingRect(polygon)
    x, y = max(0, x), max(0, y)
    w, h = min(w, width - x), min(h, height - y)
    if w <= 0 or h <= 0:
        return LampReading(SignalLight.UNKNOWN, {})
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [polygon - np.array([x, y], dtype=np.int32)], 255)
    inside = mask > 0
    area = int(inside.sum())
    if area == 0:
        return LampReading(SignalLight.UNKNOWN, {})
    hsv = cast(Image, cv2.cvtColor(np.ascontiguousarray(image[y : y + h, x : x + w]), cv2.COLOR_BGR2HSV))
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lit = inside & (saturation >= MIN_SATURATION) & (value >= MIN_VALUE)
    shares = {
        name: float((lit & _in(hue, ranges)).sum()) / area
        for name, ranges in (("red", RED_HUES), ("amber", AMBER_HUES), ("green", GREEN_HUES))
    }
    ranked = sorted(shares.items(), key=lambda kv: kv[1], reverse=True)
    (top, share), (_, second) = ranked[0], ranked[1]
    if share < MIN_SHARE:
        return LampReading(SignalLight.OFF, shares)
    if second * DOMINANCE > share:
        return LampReading(SignalLight.UNKNOWN, shares)
    return LampReading(SignalLight(top), shares)


@dataclass
class LampTracker:
    """Readings of one signal in time order, turned into changes of its light (see the module docstring)."""

    confirm: int = CONFIRM
    light: SignalLight | None = None  # the light last taken as the signal's
    seen_at: dt.datetime | None = None  # the latest reading that showed it
    _candidate: SignalLight | None = None
    _first: dt.datetime | None = None
    _count: int = 0

    def observe(self, light: SignalLight, at: dt.datetime) -> tuple[SignalLight, dt.datetime] | None:
        """Take one reading; a confirmed change of light with the moment it is dated from, if any."""
        if light == self.light:
            self.seen_at, self._candidate, self._count = at, None, 0
            return None
        if light == self._candidate:
            self._count += 1
        else:
            self._candidate, self._first, self._count = light, at, 1
        if self._count < self.confirm or self._first is None:
            return None
        since = self._first
        if self.light == SignalLight.RED and self.seen_at is not None:
            since = min(since, self.seen_at + ONE_MS)  # red may have ended right after it was last seen
        self.light, self.seen_at, self._candidate, self._count = light, at, None, 0
        return light, since
