"""Real pictures for the analytics tests: darknet's dog.jpg, skimage's motorcycle, opencv-doc's vtest.avi."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

DOG_JPG = Path("/usr/share/darknet/data/dog.jpg")  # Debian's darknet: a bicycle, a pickup truck, a dog
VTEST_AVI = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # pedestrians, 768x576, 10 fps


def _require(path: Path, package: str) -> Path:
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: apt-get install {package}")
        pytest.skip(f"{path} is missing (Debian package {package})")
    return path


@pytest.fixture(scope="session")
def dog_image() -> np.ndarray:
    """darknet's dog.jpg as BGR."""
    image = cv2.imread(str(_require(DOG_JPG, "darknet")))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def motorcycle_image() -> np.ndarray:
    """scikit-image's stereo motorcycle (left view) as BGR."""
    from skimage import data

    left, _right, _disparity = data.stereo_motorcycle()
    return cv2.cvtColor(left, cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def pedestrian_frames() -> list[np.ndarray]:
    """Every 40th frame of vtest.avi (people walking in a square), as BGR."""
    capture = cv2.VideoCapture(str(_require(VTEST_AVI, "opencv-doc")))
    frames = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 40 == 0:
            frames.append(frame)
        index += 1
    capture.release()
    assert len(frames) >= 10
    return frames


@pytest.fixture(scope="session")
def empty_square(pedestrian_frames: list[np.ndarray]) -> np.ndarray:
    """vtest.avi's square with the people taken out (the median over the clip): a real, empty scene."""
    return np.median(np.stack(pedestrian_frames), axis=0).astype(np.uint8)


@pytest.fixture(scope="session")
def walker(pedestrian_frames: list[np.ndarray]) -> np.ndarray:
    """A real pedestrian cut out of vtest.avi (about 37x82 pixels, with the pavement around them)."""
    return pedestrian_frames[4][215:298, 492:530].copy()


@pytest.fixture(scope="session")
def pickup(dog_image: np.ndarray) -> np.ndarray:
    """The pickup truck of dog.jpg, cut out (225x93 pixels)."""
    return dog_image[77:170, 465:690].copy()
