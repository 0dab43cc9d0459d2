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


def plate_card(rows: list[str], scale: int = 44) -> np.ndarray:
    """A number plate (white, black border, DejaVu Sans Bold from Debian's fonts) of `rows`, as BGR."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", scale)
    width = max(int(font.getlength(r)) for r in rows) + scale
    height = len(rows) * int(scale * 1.25) + scale // 2
    card = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(card)
    draw.rectangle((2, 2, width - 3, height - 3), outline="black", width=3)
    for i, row in enumerate(rows):
        draw.text((scale // 2, scale // 4 + i * int(scale * 1.25)), row, fill="black", font=font)
    return cv2.cvtColor(np.asarray(card), cv2.COLOR_RGB2BGR)


def with_plate(vehicle: np.ndarray, rows: list[str], *, zoom: float, scale: int) -> np.ndarray:
    """The vehicle photo enlarged `zoom` times with a plate of `rows` on its lower front (a bumper)."""
    import cv2

    big = cv2.resize(vehicle, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    plate = plate_card(rows, scale)
    height, width = big.shape[:2]
    top, left = int(height * 0.62), int(width * 0.08)
    big[top : top + plate.shape[0], left : left + plate.shape[1]] = plate
    return big


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
