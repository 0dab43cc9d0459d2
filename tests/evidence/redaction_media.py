"""Real pictures for redaction tests: the astronaut's head (skimage) walking across Debian's darknet photo
with a Pakistani plate rendered on its pickup truck, as frames and as an H.264 file encoded with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from safecity.video.demo import PHOTO, plate_card

ASTRONAUT_FACE = (177, 56, 95, 120)  # where RetinaFace finds it in skimage's astronaut (x, y, w, h)
PATCH = (slice(0, 220), slice(140, 330))  # the head cut out to walk across the photo
FACE_IN_PATCH = (37, 56, 95, 120)
FPS, FRAMES, FACE_TOP = 10, 40, 150
PLATE_AT = (460, 120)  # the plate's top left on the pickup truck


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))


def photo_with_plate() -> np.ndarray:
    photo = cv2.imread(str(PHOTO))
    plate = plate_card(["LEA-1234"])
    x, y = PLATE_AT
    photo[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    return photo


def face_x(i: int) -> int:
    """The walking head's left edge in frame i (12 pixels a frame, left to right)."""
    return 40 + 12 * i


def true_face(i: int) -> tuple[int, int, int, int]:
    fx, fy, fw, fh = FACE_IN_PATCH
    return (face_x(i) + fx, FACE_TOP + fy, fw, fh)


def walking_frames() -> list[np.ndarray]:
    head = astronaut()[PATCH]
    background = photo_with_plate()
    out = []
    for i in range(FRAMES):
        frame = background.copy()
        x = face_x(i)
        frame[FACE_TOP : FACE_TOP + head.shape[0], x : x + head.shape[1]] = head
        out.append(frame)
    return out


def write_walk(path: Path, *, gop: int = FPS) -> Path:
    """The walk as an H.264 MP4 (10 fps, 4 s, a key frame every `gop` frames)."""
    frames = walking_frames()
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {
            "preset": "veryfast",
            "crf": "16",
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
        }
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path
