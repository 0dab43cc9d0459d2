"""The motion gate: still scenes pass only at keep-alive rate, real movement passes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from safecity.analytics.motion import MotionGate

FPS = 5.0


@pytest.fixture(scope="module")
def walking(pedestrian_frames: list[np.ndarray]) -> list[np.ndarray]:
    """60 consecutive frames of vtest.avi taken at 5 fps (every other frame of the 10 fps clip)."""
    # pedestrian_frames has already skipped (or failed in CI) if the clip is missing.
    capture = cv2.VideoCapture("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    frames = []
    for index in range(120):
        ok, frame = capture.read()
        assert ok
        if index % 2 == 0:
            frames.append(frame)
    capture.release()
    return frames


def run(gate: MotionGate, frames: list[np.ndarray]) -> list[bool]:
    """Check the frames at 5 fps; which ones passed."""
    return [gate.check(frame, index / FPS) for index, frame in enumerate(frames)]


def noisy(scene: np.ndarray, count: int, *, sigma: float = 6.0, drift: float = 0.0) -> list[np.ndarray]:
    """The scene `count` times with fresh sensor noise, brightening by `drift` grey levels a frame."""
    base = scene.astype(np.int16)
    noise = np.empty_like(base)
    frames = []
    for i in range(count):
        cv2.randn(noise, (i * drift,) * 3, (sigma,) * 3)  # per channel: a bare number covers only the first
        frames.append(cv2.add(base, noise, dtype=cv2.CV_8U))  # saturating at 0 and 255
    return frames


def test_still_noisy_scene_passes_only_keepalives(pedestrian_frames: list[np.ndarray]) -> None:
    gate = MotionGate(keepalive_s=2.0)
    passed = run(gate, noisy(pedestrian_frames[0], 100))
    assert passed[0]
    # One frame every 2 s at 5 fps: frames 0, 10, 20, ...
    assert [i for i, p in enumerate(passed) if p] == list(range(0, 100, 10))
    assert gate.motion <= gate.threshold


def test_slow_light_change_is_not_motion(pedestrian_frames: list[np.ndarray]) -> None:
    # Dusk or a cloud: 0.5 grey levels brighter every frame, 50 levels over 20 s.
    passed = run(MotionGate(keepalive_s=2.0), noisy(pedestrian_frames[0], 100, drift=0.5))
    assert sum(passed) <= 10


def test_people_walking_pass(walking: list[np.ndarray]) -> None:
    gate = MotionGate(keepalive_s=60.0)
    passed = run(gate, walking)
    assert sum(passed) >= 0.9 * len(walking)
    assert gate.motion > gate.threshold


def test_object_moving_across_a_still_background(
    pedestrian_frames: list[np.ndarray], motorcycle_image: np.ndarray
) -> None:
    background = noisy(pedestrian_frames[0], 28)
    thing = cv2.resize(motorcycle_image, (60, 40))  # about 0.5 % of the 768x576 picture
    frames = []
    for i, frame in enumerate(background):
        x = 20 + 24 * i
        frame[300:340, x : x + 60] = thing
        frames.append(frame)
    passed = run(MotionGate(keepalive_s=60.0), frames)
    assert all(passed)


def test_keepalive_timing_grey_frames_and_a_new_size(pedestrian_frames: list[np.ndarray]) -> None:
    grey = cv2.cvtColor(pedestrian_frames[0], cv2.COLOR_BGR2GRAY)
    gate = MotionGate(keepalive_s=2.0)
    assert gate.check(grey, 100.0)
    assert not gate.check(grey, 101.9)
    assert gate.check(grey, 102.0)
    assert not gate.check(grey, 103.0)
    # A switch to a stream of another shape starts over: the first frame of a size always passes.
    assert gate.check(cv2.resize(grey, (640, 360)), 103.2)
    assert gate.motion == 0.0
