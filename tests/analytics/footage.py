"""Clips made from real pictures with known motion, as a camera would deliver them (through H.264); the
plates and the pasting are the demo footage's (safecity.video.demo), so tests and demo render alike.
"""

from __future__ import annotations

import numpy as np

from safecity.video.demo import scene


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


def write_h264(path: object, frames: list[np.ndarray], fps: int) -> None:
    """The frames as an H.264 MP4 file a camera (the test RTSP server) can stream, a key frame a second."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
