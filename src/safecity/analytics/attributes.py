"""What can be measured of an object from its pixels and its path: colour, size, direction, image speed.

No packaged model names vehicle colours, so colour is measured: the central part of the box (where a
vehicle's body or a person's clothes are, away from road, shadow and background), each pixel named in
HSV (hue for coloured pixels; value for white, silver, grey and black, whose hue is noise), and the
most common name wins, its share of the counted pixels being the confidence.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics.types import CLASS_IDS, PERSON, VEHICLES, Detections, Image

if TYPE_CHECKING:
    from safecity.analytics.tracking import Track

COLOURS: tuple[str, ...] = (
    "white", "black", "grey", "silver", "red", "blue", "green", "yellow", "orange", "brown",
)  # fmt: skip
DESCRIBED: frozenset[int] = VEHICLES | {PERSON, CLASS_IDS["bicycle"]}
SAMPLE_SIDE = 32  # the crop is shrunk to at most this many pixels a side: colour needs no detail
MIN_SIDE = 6  # pixels: a smaller box has no colour worth naming
CHROMA = 70  # saturation (of 255) above which a (bright enough) pixel has a hue worth naming
COLOURED_SHARE = 0.25  # a body this much coloured is coloured (glass, tyres and shade are not)
# Hue upper bounds (OpenCV hue, 0..180) of each coloured name; red wraps around.
HUES: tuple[tuple[int, str], ...] = (
    (8, "red"), (20, "orange"), (34, "yellow"), (85, "green"), (130, "blue"), (160, "blue"), (180, "red"),
)  # fmt: skip
DIRECTIONS = ("up", "up-right", "right", "down-right", "down", "down-left", "left", "up-left")
MOTION_WINDOW_S = 2.0  # direction and speed are judged over the track's last seconds
MIN_TRAVEL_PX = 4.0  # less movement than this is standing still


def _central(image: Image, box: npt.ArrayLike, class_id: int) -> Image | None:
    """The part of the box that shows the object's own colour, shrunk; None when too small."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box).reshape(4))
    w, h = x2 - x1, y2 - y1
    if w < MIN_SIDE or h < MIN_SIDE:
        return None
    # A person's clothes: the torso. A vehicle's body: the middle, clear of road, wheels and shadow.
    fx, fy = ((0.3, 0.7), (0.15, 0.5)) if class_id == PERSON else ((0.2, 0.8), (0.25, 0.75))
    left, right = round(x1 + fx[0] * w), round(x1 + fx[1] * w)
    top, bottom = round(y1 + fy[0] * h), round(y1 + fy[1] * h)
    height, width = image.shape[:2]
    left, top, right, bottom = max(0, left), max(0, top), min(width, right), min(height, bottom)
    if right - left < 2 or bottom - top < 2:
        return None
    crop = image[top:bottom, left:right]
    scale = min(1.0, SAMPLE_SIDE / max(crop.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cast(Image, cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    return crop


def _name_pixels(hsv: npt.NDArray[np.uint8]) -> npt.NDArray[np.str_]:
    """A colour name for every HSV pixel."""
    h, s, v = (hsv[..., i].astype(np.int32) for i in range(3))
    names = np.full(h.shape, "grey", dtype="<U6")
    names[v >= 150] = "silver"
    names[(v >= 200) & (s < 40)] = "white"
    names[v < 70] = "black"
    coloured = (s >= CHROMA) & (v >= 60)
    hue_names = np.select([h < bound for bound, _ in HUES], [name for _, name in HUES], "red")
    # Dark orange and dark red-orange are brown (a brown car is a dark, not very saturated orange).
    brownish = (h >= 5) & (h < 30) & (v < 150)
    names[coloured] = np.where(brownish, "brown", hue_names)[coloured]
    return names


def dominant_colour(image: Image, box: npt.ArrayLike, class_id: int) -> tuple[str | None, float]:
    """The named colour of the object in this box and the share of its pixels that have it.

    Args:
        image: the BGR frame.
        box: x1, y1, x2, y2 in the frame's pixels.
        class_id: the object's COCO-80 class (a person is judged on the torso).

    Returns:
        (name, confidence 0..1), or (None, 0.0) when the box is too small to tell.
    """
    crop = _central(image, box, class_id)
    if crop is None:
        return None, 0.0
    names = _name_pixels(cast(Image, cv2.cvtColor(crop, cv2.COLOR_BGR2HSV))).reshape(-1)
    counts = Counter(names.tolist())
    total = len(names)
    coloured = {n: c for n, c in counts.items() if n not in ("white", "black", "grey", "silver")}
    if coloured and sum(coloured.values()) >= COLOURED_SHARE * total:
        # Windows, tyres and shade are dark or grey whatever the paint: judge the paint on its own.
        name, count = max(coloured.items(), key=lambda item: item[1])
        return name, round(count / sum(coloured.values()) * min(1.0, sum(coloured.values()) / total * 2), 2)
    name, count = counts.most_common(1)[0]
    return name, round(count / total, 2)


def with_colours(image: Image, found: Detections) -> Detections:
    """The detections with `colour` and `colour_confidence` set on every vehicle, person and bicycle."""
    attributes = list(found.attributes)
    for i, (box, class_id) in enumerate(zip(found.boxes, found.classes, strict=True)):
        if int(class_id) in DESCRIBED:
            name, confidence = dominant_colour(image, box, int(class_id))
            attributes[i] = {**attributes[i], "colour": name, "colour_confidence": confidence}
    return found.with_attributes(tuple(attributes))


def size(box: npt.ArrayLike, frame_size: tuple[int, int]) -> dict[str, float]:
    """The box's width and height in pixels and its area as a fraction of the frame's."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box).reshape(4))
    width, height = frame_size
    return {
        "width_px": round(x2 - x1),
        "height_px": round(y2 - y1),
        "frame_fraction": round((x2 - x1) * (y2 - y1) / max(1, width * height), 5),
    }


def motion(
    path: list[tuple[float, float, float]], frame_size: tuple[int, int], *, window_s: float = MOTION_WINDOW_S
) -> dict[str, Any]:
    """Direction of travel and image speed over the last `window_s` of a path.

    Args:
        path: (monotonic s, x, y) points, x and y in fractions of the frame, oldest first.
        frame_size: (width, height) of the frame, pixels.
        window_s: how far back to look (the whole path for a finished track's overall direction).

    Returns:
        `direction` (one of DIRECTIONS, in the picture: "up" is towards its top; None while standing
        still or not yet followed long enough), `heading_deg` (0 up, 90 right, clockwise) and
        `speed_px_s` (pixels of the frame per second).
    """
    width, height = frame_size
    if len(path) < 2:
        return {"direction": None, "heading_deg": None, "speed_px_s": 0.0}
    end = path[-1]
    start = next((p for p in path if end[0] - p[0] <= window_s), path[0])
    dx, dy = (end[1] - start[1]) * width, (end[2] - start[2]) * height
    travel, seconds = math.hypot(dx, dy), end[0] - start[0]
    speed = round(travel / seconds, 1) if seconds > 0 else 0.0
    if travel < MIN_TRAVEL_PX or seconds <= 0:
        return {"direction": None, "heading_deg": None, "speed_px_s": speed}
    heading = math.degrees(math.atan2(dx, -dy)) % 360
    return {
        "direction": DIRECTIONS[round(heading / 45) % 8],
        "heading_deg": round(heading),
        "speed_px_s": speed,
    }


def describe_track(track: Track) -> dict[str, Any]:
    """A track's attributes for an event or a search: colour (voted over its detections), size, motion."""
    colour, confidence = track.colour()
    return {
        "colour": colour,
        "colour_confidence": confidence,
        **size(track.box, track.frame_size),
        **motion(list(track.path), track.frame_size),
    }
