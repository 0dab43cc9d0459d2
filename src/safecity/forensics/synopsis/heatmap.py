"""Activity heatmaps: where a camera's objects were over a period, as a coloured overlay on its background."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GRID_W = 96  # cells across; rows follow the frame's aspect


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
        for number, row in enumerate(path):
            if number + 1 < len(path):
                weight = max(0.0, float(path[number + 1][0]) - float(row[0]))
            else:
                weight = float(path[number][0]) - float(path[number - 1][0]) if number else 1.0
            x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in row[1:5])
            c1, c2 = int(x1 * GRID_W), max(int(x1 * GRID_W) + 1, int(np.ceil(x2 * GRID_W)))
            r1, r2 = int(y1 * rows), max(int(y1 * rows) + 1, int(np.ceil(y2 * rows)))
            grid[r1:r2, c1:c2] += max(weight, 1e-3)
    return Heatmap(grid, dict(sorted(counts.items())))


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
