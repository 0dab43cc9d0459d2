"""A cheap per-camera motion gate: only frames where something moves go to the (expensive) detector."""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

# Grey levels (of 255) a blurred pixel must differ from the background by to count as changed: well
# above sensor noise after the blur, well below a person against a wall.
PIXEL_DELTA = 25
# Weight of each new frame in the running background: at 5 fps it forgets in a few seconds, so slow
# light changes and objects that have stopped fade into it.
BACKGROUND_RATE = 0.05


class MotionGate:
    """Decides per frame whether the detector should look at it: on motion, and every `keepalive_s`.

    The frame is shrunk to `width` pixels wide, made grey and blurred, then compared with a running
    average of earlier frames; `motion` is the fraction of pixels that differ by more than PIXEL_DELTA.
    """

    def __init__(self, *, keepalive_s: float = 2.0, threshold: float = 0.002, width: int = 160) -> None:
        self.keepalive_s = keepalive_s
        self.threshold = threshold
        self.width = width
        self.motion = 0.0  # fraction of pixels changed in the last checked frame
        self._background: npt.NDArray[np.float32] | None = None
        self._last_pass = -math.inf  # when a frame was last let through

    def check(self, image: npt.NDArray[np.uint8], at: float) -> bool:
        """Whether to send this frame (BGR or grey) to the detector; `at` is monotonic seconds.

        Args:
            image: the frame, (H, W, 3) BGR or (H, W) grey.
            at: when it was captured, monotonic seconds.

        Returns:
            True on motion, on the first frame (or one of a new size), and when keepalive_s has passed
            since the last frame that was let through.
        """
        small = self._prepare(image)
        background = self._background
        if background is None or background.shape != small.shape:
            self._background = small.astype(np.float32)
            self.motion = 0.0
            self._last_pass = at
            return True
        changed = cv2.absdiff(small, cv2.convertScaleAbs(background)) > PIXEL_DELTA
        self.motion = float(np.count_nonzero(changed)) / changed.size
        cv2.accumulateWeighted(small, background, BACKGROUND_RATE)
        if self.motion > self.threshold or at - self._last_pass >= self.keepalive_s:
            self._last_pass = at
            return True
        return False

    def _prepare(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The frame shrunk to `width` (aspect kept), grey and blurred against sensor noise."""
        # Bilinear, not area averaging: six times cheaper on 720p, and the blur evens out the aliasing.
        height, width = image.shape[:2]
        size = (self.width, max(1, round(height * self.width / width)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cast(npt.NDArray[np.uint8], cv2.GaussianBlur(grey, (5, 5), 0))
