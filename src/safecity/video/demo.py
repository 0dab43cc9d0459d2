"""Demo footage: real pedestrian CCTV (vtest.avi from Debian's opencv-doc) cut into camera views, and ANPR
views of a real pickup (darknet's dog.jpg) with Pakistani plates (DejaVu Sans Bold) driven across the same
square, emptied of its people. The plate rendering is also what the tests read plates from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.video.frame
import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from safecity.video.ingest import Image

logger = logging.getLogger(__name__)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PHOTO = Path("/usr/share/darknet/data/dog.jpg")  # Debian's darknet: a bicycle, a pickup truck and a dog
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")  # Debian's fonts-dejavu-core
PICKUP = (slice(77, 170), slice(465, 690))  # the pickup truck in PHOTO (225x93 pixels)


@dataclass(frozen=True)
class View:
    """One demo camera's view of the source footage: a crop box (x, y, width, height), maybe mirrored."""

    name: str
    crop: tuple[int, int, int, int]
    mirrored: bool = False


VIEWS = (
    View("hashtnagri-east", (0, 0, 768, 576)),
    View("hashtnagri-west", (64, 96, 640, 480), mirrored=True),
    View("khyber-bazaar", (128, 0, 640, 480)),
    View("firdous-chowk", (0, 96, 640, 480)),
)


def make_clips(out_dir: Path, *, source: Path | None = None, views: tuple[View, ...] = VIEWS) -> list[Path]:
    """Encode one H.264 MP4 per view (1 s key-frame interval, as cameras send); existing files are kept."""
    source = source or VTEST
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{view.name}.mp4" for view in views]
    todo = [(view, path) for view, path in zip(views, paths, strict=True) if not path.exists()]
    if not todo:
        return paths
    if not source.exists():
        raise FileNotFoundError(f"{source} is missing: install Debian's opencv-doc for the demo footage")
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or 10
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    for view, path in todo:
        x, y, w, h = view.crop
        partial = path.with_suffix(".part")
        with av.open(str(partial), "w", format="mp4") as out:
            encoder = out.add_stream("libx264", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuv420p"
            encoder.options = {"g": str(int(rate)), "preset": "veryfast", "crf": "26", "bf": "0"}
            for rgb in frames:
                crop = rgb[y : y + h, x : x + w]
                image = crop[:, ::-1] if view.mirrored else crop
                frame = av.video.frame.VideoFrame.from_ndarray(image.copy(), format="rgb24")
                out.mux(encoder.encode(frame))
            out.mux(encoder.encode(None))
        partial.rename(path)  # a half-written clip never looks finished
        logger.info("demo clip %s written", path.name)
    return paths


# --- number plates -------------------------------------------------------------------------------------


def plate_card(rows: list[str], scale: int = 44) -> Image:
    """A number plate (white, black border, DejaVu Sans Bold) of `rows` (two: a motorcycle's), as BGR."""
    font = ImageFont.truetype(str(FONT), scale)
    width = max(int(font.getlength(r)) for r in rows) + scale
    height = len(rows) * int(scale * 1.25) + scale // 2
    card = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(card)
    draw.rectangle((2, 2, width - 3, height - 3), outline="black", width=3)
    for i, row in enumerate(rows):
        draw.text((scale // 2, scale // 4 + i * int(scale * 1.25)), row, fill="black", font=font)
    return np.asarray(cv2.cvtColor(np.asarray(card), cv2.COLOR_RGB2BGR), dtype=np.uint8)


def with_plate(vehicle: Image, rows: list[str], *, zoom: float, scale: int) -> Image:
    """The vehicle photo enlarged `zoom` times with a plate of `rows` on its lower front (a bumper)."""
    enlarged = cv2.resize(vehicle, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    big = np.asarray(enlarged, dtype=np.uint8)
    plate = plate_card(rows, scale)
    height, width = big.shape[:2]
    top, left = int(height * 0.62), int(width * 0.08)
    big[top : top + plate.shape[0], left : left + plate.shape[1]] = plate
    return big


def scene(background: Image, *objects: tuple[Image, tuple[float, float]]) -> Image:
    """The background with each object pasted with its bottom centre at (x, y), in fractions of the frame."""
    frame = background.copy()
    height, width = frame.shape[:2]
    for picture, (x, y) in objects:
        h, w = picture.shape[:2]
        left, top = round(x * width - w / 2), round(y * height - h)
        frame[top : top + h, left : left + w] = picture
    return frame


@dataclass(frozen=True)
class Pass:
    """A vehicle with `plate` driven across the view, starting `at_s` seconds into the clip."""

    plate: str
    at_s: float


@dataclass(frozen=True)
class PlateView:
    """An ANPR camera's view: the emptied square (mirrored: the vehicles drive right to left), its passes."""

    name: str
    passes: tuple[Pass, ...]
    mirrored: bool = False


PLATE_FPS = 10
PLATE_CLIP_S = 60  # the loop: each vehicle passes both cameras once a minute
DRIVE_S = 4.0  # a vehicle takes this long to cross the view
# One road seen by two cameras 220 m apart (see demo.toml): each vehicle reaches the exit some seconds after
# the entry, so the section measures its speed (16 s: 50 km/h, 20 s: 40 km/h, 8 s: 99 km/h, over 60).
STOLEN_PLATE = "LXR-9021"  # on the demo's stolen-vehicles list
PLATE_VIEWS = (
    PlateView("university-road-entry", (Pass("LEA-1234", 2), Pass("ABC-123", 22), Pass(STOLEN_PLATE, 42))),
    PlateView(
        "university-road-exit",
        (Pass("LEA-1234", 18), Pass("ABC-123", 42), Pass(STOLEN_PLATE, 50)),
        mirrored=True,
    ),
)


def empty_square(source: Path, every: int = 40) -> Image:
    """The footage's scene with its people taken out (the median of every `every`th frame), BGR."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        decoded = enumerate(container.decode(stream))
        frames = [f.to_ndarray(format="bgr24") for i, f in decoded if i % every == 0]
    square: Image = np.median(np.stack(frames), axis=0).astype(np.uint8)
    return square


def _plate_frames(view: PlateView, background: Image, pickup: Image) -> Iterator[Image]:
    """The view's frames: the square, and each pass's pickup crossing the near edge (plate upright)."""
    vehicles = {
        p.plate: with_plate(pickup[:, ::-1] if view.mirrored else pickup, [p.plate], zoom=1.8, scale=20)
        for p in view.passes
    }
    start, end = (0.7, 0.3) if view.mirrored else (0.3, 0.7)
    steps = int(DRIVE_S * PLATE_FPS)
    for index in range(PLATE_CLIP_S * PLATE_FPS):
        moment = index / PLATE_FPS
        now = next((p for p in view.passes if p.at_s <= moment < p.at_s + DRIVE_S), None)
        if now is None:
            yield background
            continue
        step = round((moment - now.at_s) * PLATE_FPS)
        x = start + (end - start) * step / (steps - 1)
        yield scene(background, (vehicles[now.plate], (x, 0.95)))


def make_plate_clips(
    out_dir: Path,
    *,
    source: Path | None = None,
    photo: Path | None = None,
    views: tuple[PlateView, ...] = PLATE_VIEWS,
) -> list[Path]:
    """Encode one H.264 MP4 per ANPR view (a key frame a second); existing files are kept."""
    source, photo = source or VTEST, photo or PHOTO
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{view.name}.mp4" for view in views]
    todo = [(view, path) for view, path in zip(views, paths, strict=True) if not path.exists()]
    if not todo:
        return paths
    for needed, package in ((source, "opencv-doc"), (photo, "darknet"), (FONT, "fonts-dejavu-core")):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} is missing: install Debian's {package} for the ANPR footage")
    square = empty_square(source)
    vehicle = cv2.imread(str(photo))
    if vehicle is None:
        raise FileNotFoundError(f"{photo} is not a picture")
    pickup = np.array(vehicle[PICKUP], dtype=np.uint8)
    for view, path in todo:
        background = np.ascontiguousarray(square[:, ::-1]) if view.mirrored else square
        height, width = background.shape[:2]
        partial = path.with_suffix(".part")
        with av.open(str(partial), "w", format="mp4") as out:
            encoder = out.add_stream("libx264", rate=PLATE_FPS)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.options = {"g": str(PLATE_FPS), "preset": "veryfast", "crf": "23", "bf": "0"}
            for image in _plate_frames(view, background, pickup):
                frame = av.video.frame.VideoFrame.from_ndarray(image, format="bgr24")
                out.mux(encoder.encode(frame))
            out.mux(encoder.encode(None))
        partial.rename(path)  # a half-written clip never looks finished
        logger.info("demo clip %s written", path.name)
    return paths
