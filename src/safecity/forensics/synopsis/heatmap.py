"""Activity heatmaps: where a camera's objects were over a period, as a coloured overlay on its background."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GRID_W = 96  # cells across; rows follow the frame's aspect
MAX_PARTS = 64  # steps a box's move between two path samples is spread over, at most


@dataclass(frozen=True)
class Heatmap:
    """Seconds of presence per grid cell (rows x columns) and objects by class."""

    grid: npt.NDArray[np.float64]
    counts: dict[str, int]

    @property
    def hottest(self) -> tuple[float, float]:
        """The centre of the hottest cell, as fractions (x, y) of the frame."""
        row, col = np.unravel_index(int(np.argmax(self.grid)), self.grid.shape)
        return (float(col) + 0.5) / self.grid.shape[1], (float(row) + 0.5) / self.grid.shape[0]


def accumulate(paths: Sequence[tuple[str, Sequence[Sequence[float]]]], *, aspect: float = 9 / 16) -> Heatmap:
    """Add up each object's box over its path, weighted by the seconds it stayed there.

    Args:
        paths: (class name, path) of each object; path rows are [seconds, x1, y1, x2, y2] in fractions.
        aspect: height / width of the camera's frame.
    """
    rows = max(1, round(GRID_W * aspect))
    grid = np.zeros((rows, GRID_W), np.float64)
    counts: Counter[str] = Counter()
    for class_name, path in paths:
        if not path:
            continue
        counts[class_name] += 1
        boxes = np.clip(np.array([row[1:5] for row in path], dtype=np.float64), 0.0, 1.0)
        times = np.array([float(row[0]) for row in path], dtype=np.float64)
        if len(path) == 1:
            _add(grid, boxes[0], 1.0)
            continue
        for number in range(len(path) - 1):
            a, b = boxes[number], boxes[number + 1]
            weight = max(float(times[number + 1] - times[number]), 1e-3)
            # Between two samples the box moved: spread the time over the cells it passed, not in jumps.
            moved = np.abs(b - a) * np.array([GRID_W, rows, GRID_W, rows])
            parts = int(min(MAX_PARTS, max(1.0, np.ceil(float(moved.max())))))
            for part in range(parts):
                _add(grid, a + (b - a) * (part + 0.5) / parts, weight / parts)
    return Heatmap(grid, dict(sorted(counts.items())))


def _add(grid: npt.NDArray[np.float64], box: npt.NDArray[np.float64], weight: float) -> None:
    """Add `weight` to the cells under a box (fractions x1 y1 x2 y2)."""
    rows, cols = grid.shape
    c1 = min(cols - 1, int(box[0] * cols))
    r1 = min(rows - 1, int(box[1] * rows))
    c2 = max(c1 + 1, int(np.ceil(box[2] * cols)))
    r2 = max(r1 + 1, int(np.ceil(box[3] * rows)))
    grid[r1:r2, c1:c2] += weight


def overlay(heatmap: Heatmap, background: npt.NDArray[np.uint8]) -> bytes:
    """The heatmap over the background (BGR) as PNG: hot cells red, cold ones transparent."""
    height, width = background.shape[:2]
    heat = cv2.GaussianBlur(np.log1p(heatmap.grid).astype(np.float32), (0, 0), 1.0)
    top = float(heat.max())
    norm = (heat / top if top > 0 else heat).astype(np.float32)
    big = cv2.resize(norm, (width, height), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap((big * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (np.clip(big * 1.5, 0, 1) * 0.65)[..., None]
    mixed = background.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
    ok, data = cv2.imencode(".png", mixed.astype(np.uint8))
    if not ok:
        raise RuntimeError("could not encode the heatmap")
    return data.tobytes()
