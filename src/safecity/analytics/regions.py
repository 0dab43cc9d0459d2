"""Where in a frame the model looks: overlapping tiles at close to native resolution, merged back.

A 300x300 model squeezes a 1280x720 frame to a quarter of its width, and a 40 px motorcycle to 9 px,
below what it can see. Cutting the frame into tiles about as wide as they are high (two side by side
for 16:9, two stacked for a portrait 9:16) doubles the resolution and keeps the aspect ratio, at the
price of one model run per tile.
Objects cut by a tile's inner edge come back as fragments; `drop_fragments` folds them into the whole.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from safecity.analytics.types import VEHICLES, Detections, FloatArray

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels, x2/y2 exclusive
EDGE_PX = 3  # a box this close to a tile's inner edge was cut by it
CONTAINED = 0.6  # a cut box this much inside another box of its kind is a fragment of it
SAME_ROWS = 0.6  # two cut boxes sharing this much of their height across a seam are one object


class TilingSettings(Protocol):
    """The settings `plan` reads (a DetectorConfig has them)."""

    @property
    def tiling(self) -> bool: ...
    @property
    def tile_grid(self) -> tuple[int, int] | None: ...
    @property
    def tile_overlap(self) -> float: ...
    @property
    def whole_frame(self) -> bool: ...


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    size = length / (count - (count - 1) * overlap)
    step = size * (1 - overlap)
    return [(round(i * step), min(length, round(i * step + size))) for i in range(count)]


def plan(width: int, height: int, settings: TilingSettings) -> list[Region]:
    """The regions to run the model on, the whole frame first when it is one of them."""
    whole = (0, 0, width, height)
    if not settings.tiling:
        return [whole]
    columns, rows = settings.tile_grid or (max(1, round(width / height)), max(1, round(height / width)))
    if (columns, rows) == (1, 1):
        return [whole]
    tiles = [
        (x1, y1, x2, y2)
        for y1, y2 in _spans(height, rows, settings.tile_overlap)
        for x1, x2 in _spans(width, columns, settings.tile_overlap)
    ]
    return [whole, *tiles] if settings.whole_frame else tiles


def touches_inner_edge(boxes: FloatArray, region: Region, width: int, height: int) -> npt.NDArray[np.bool_]:
    """Which boxes (in the region's own pixels) touch an edge of the region that is not the frame's."""
    x1, y1, x2, y2 = region
    w, h = x2 - x1, y2 - y1
    cut = np.zeros(len(boxes), dtype=np.bool_)
    if x1 > 0:
        cut |= boxes[:, 0] <= EDGE_PX
    if y1 > 0:
        cut |= boxes[:, 1] <= EDGE_PX
    if x2 < width:
        cut |= boxes[:, 2] >= w - EDGE_PX
    if y2 < height:
        cut |= boxes[:, 3] >= h - EDGE_PX
    return cut


def _group(class_id: int) -> int:
    return -1 if class_id in VEHICLES else class_id


def drop_fragments(found: Detections, cut: npt.NDArray[np.bool_]) -> Detections:
    """Fold boxes cut by a tile edge into the object they belong to.

    A cut box mostly inside another box of the same kind (vehicle classes as one) is dropped; two cut
    boxes that meet across a seam at the same height become one box around both.

    Args:
        found: detections after NMS, best score first.
        cut: for each, whether its box touched a tile's inner edge.

    Returns:
        The detections without fragments, best score first.
    """
    boxes = found.boxes.copy()
    alive = np.ones(len(found), dtype=np.bool_)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    for i in np.flatnonzero(cut):
        for j in range(len(found)):
            if j == i or not alive[j] or _group(int(found.classes[i])) != _group(int(found.classes[j])):
                continue
            ix = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            iy = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            if ix <= 0 or iy <= 0:
                continue
            if ix * iy >= CONTAINED * areas[i] and areas[j] >= areas[i]:
                alive[i] = False  # a piece of j
                break
            short = min(boxes[i, 3] - boxes[i, 1], boxes[j, 3] - boxes[j, 1])
            if cut[j] and iy >= SAME_ROWS * short and j < i:  # j scored higher: it absorbs i
                boxes[j, :2] = np.minimum(boxes[i, :2], boxes[j, :2])
                boxes[j, 2:] = np.maximum(boxes[i, 2:], boxes[j, 2:])
                areas[j] = np.prod(boxes[j, 2:] - boxes[j, :2])
                alive[i] = False
                break
    merged = Detections(boxes, found.scores, found.classes, found.track_ids, found.attributes)
    return merged.take(alive)
