"""Clips made from real pictures with known motion, as a camera would deliver them (through H.264)."""

from __future__ import annotations

import numpy as np


def scene(background: np.ndarray, *objects: tuple[np.ndarray, tuple[float, float]]) -> np.ndarray:
    """The background with each object pasted with its bottom centre at (x, y), in fractions of the frame."""
    frame = background.copy()
    height, width = frame.shape[:2]
    for picture, (x, y) in objects:
        h, w = picture.shape[:2]
        left, top = round(x * width - w / 2), round(y * height - h)
        frame[top : top + h, left : left + w] = picture
    return frame


def moving(
    background: np.ndarray, picture: np.ndarray, start: tuple[float, float], end: tuple[float, float], n: int
) -> list[np.ndarray]:
    """n frames of the picture moving in a straight line from start to end (bottom-centre fractions)."""
    return [
        scene(
            background,
            (
                picture,
                (start[0] + (end[0] - start[0]) * i / (n - 1), start[1] + (end[1] - start[1]) * i / (n - 1)),
            ),
        )
        for i in range(n)
    ]


def through_h264(frames: list[np.ndarray], fps: int = 5) -> list[np.ndarray]:
    """The frames as a camera would deliver them: encoded as H.264 and decoded again (in memory)."""
    import io

    import av

    buffer = io.BytesIO()
    height, width = frames[0].shape[:2]
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
