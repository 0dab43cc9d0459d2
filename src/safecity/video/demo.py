"""Demo footage: real pedestrian CCTV (vtest.avi from Debian's opencv-doc) cut into camera views, and ANPR
views of a real pickup (darknet's dog.jpg) with Pakistani plates (DejaVu Sans Bold) driven across the same
square, emptied of its people, one of them with a traffic signal head whose lamps cycle (the demo's red-light
camera). The plate rendering is also what the tests read plates from.
"""

from __future__ import annotations

import hashlib
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


PLATE_FPS = 10
PLATE_CLIP_S = 60  # the loop: each vehicle passes both cameras once a minute
DRIVE_S = 4.0  # a vehicle takes this long to cross the view
STOP_LINE_S = DRIVE_S / 2  # and reaches the middle of the picture (a red-light camera's stop line) halfway
LAMPS = ("red", "amber", "green")  # top to bottom, as a signal head has them
LAMP_BGR = {"red": (30, 30, 235), "amber": (20, 190, 255), "green": (90, 220, 40)}  # lit, as LEDs look


@dataclass(frozen=True)
class SignalHead:
    """A traffic signal head drawn in `region` (a rectangle: fractions of the picture, corners clockwise from
    the top left) whose lit lamp follows `phases` ((light, seconds), ...) from the clip's start, round and
    round; the cycle divides the clip, so the loop shows no jump.
    """

    region: tuple[tuple[float, float], ...]
    phases: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if any(light not in LAMPS for light, _ in self.phases):
            raise ValueError(f"a signal head lights {', '.join(LAMPS)}")
        cycle_frames = round(self.cycle_s * PLATE_FPS)
        if cycle_frames <= 0 or (PLATE_CLIP_S * PLATE_FPS) % cycle_frames:
            raise ValueError(f"the signal's cycle ({self.cycle_s} s) must divide the {PLATE_CLIP_S} s clip")

    @property
    def cycle_s(self) -> float:
        return sum(seconds for _, seconds in self.phases)

    def light_at(self, moment: float) -> str:
        """The lamp lit `moment` seconds into the clip."""
        into = moment % self.cycle_s
        for light, seconds in self.phases:
            if into < seconds:
                return light
            into -= seconds
        return self.phases[-1][0]


@dataclass(frozen=True)
class PlateView:
    """An ANPR camera's view: the emptied square (mirrored: the vehicles drive right to left), its passes,
    and the signal head it watches, if any.
    """

    name: str
    passes: tuple[Pass, ...]
    mirrored: bool = False
    signal: SignalHead | None = None

    @property
    def digest(self) -> str:
        """What the clip is made of (passes, signal, drawing): a clip made from another is made again."""
        return hashlib.sha256(f"{FOOTAGE_VERSION} {self!r}".encode()).hexdigest()[:16]


# One road seen by two cameras 220 m apart (see demo.toml): each vehicle reaches the exit some seconds after
# the entry, so the section measures its speed (16 s: 50 km/h, 20 s: 40 km/h, 8 s: 99 km/h, over 60).
STOLEN_PLATE = "LXR-9021"  # on the demo's stolen-vehicles list
FOOTAGE_VERSION = 2  # of how the ANPR clips are drawn; a change makes existing clips be made again
# Tehkal's signal over the entry camera's lane, in the picture's top left corner: a 30 s cycle, twice a
# clip. Each vehicle's bottom centre reaches the stop line STOP_LINE_S into its pass: LEA-1234 at 4 s on
# green, ABC-123 at 24 s, 7 s into red (a red-light violation every minute), LXR-9021 at 44 s (14 s into the
# cycle) on amber, which is no offence. Each crossing is seconds away from a change, so a busy machine that
# notices a crossing late (its analytics skip frames) still dates it in the same light; amber's crossing
# comes early in the amber, because late is the only way it can drift.
TEHKAL_SIGNAL = SignalHead(
    region=((0.03, 0.04), (0.1, 0.04), (0.1, 0.34), (0.03, 0.34)),
    phases=(("green", 13.0), ("amber", 4.0), ("red", 13.0)),
)
PLATE_VIEWS = (
    PlateView(
        "university-road-entry",
        (Pass("LEA-1234", 2), Pass("ABC-123", 22), Pass(STOLEN_PLATE, 42)),
        signal=TEHKAL_SIGNAL,
    ),
    PlateView(
        "university-road-exit",
        (Pass("LEA-1234", 18), Pass("ABC-123", 42), Pass(STOLEN_PLATE, 50)),
        mirrored=True,
    ),
)


def lights_at_stop_line(view: PlateView) -> dict[str, str]:
    """Each pass's plate and the light its vehicle meets at the stop line (demo.toml's line across the middle
    of the picture, reached STOP_LINE_S into the pass); empty without a signal head.
    """
    head = view.signal
    return {p.plate: head.light_at(p.at_s + STOP_LINE_S) for p in view.passes} if head else {}


def empty_square(source: Path, every: int = 40) -> Image:
    """The footage's scene with its people taken out (the median of every `every`th frame), BGR."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        decoded = enumerate(container.decode(stream))
        frames = [f.to_ndarray(format="bgr24") for i, f in decoded if i % every == 0]
    square: Image = np.median(np.stack(frames), axis=0).astype(np.uint8)
    return square


def with_signal_head(background: Image, head: SignalHead, light: str) -> Image:
    """The picture with the signal head drawn in its region: a dark housing on a pole, three lamps, `light`
    lit with a glow and the others dim.
    """
    picture = background.copy()
    height, width = picture.shape[:2]
    (left, top), (right, bottom) = head.region[0], head.region[2]
    x1, y1, x2, y2 = round(left * width), round(top * height), round(right * width), round(bottom * height)
    middle = (x1 + x2) // 2
    cv2.rectangle(picture, (middle - 3, y2), (middle + 3, min(height - 1, y2 + (y2 - y1))), (70, 70, 70), -1)
    cv2.rectangle(picture, (x1, y1), (x2, y2), (25, 25, 25), -1)
    cv2.rectangle(picture, (x1, y1), (x2, y2), (60, 60, 60), 2)
    radius = max(3, min(x2 - x1, (y2 - y1) // 3) // 2 - 4)
    for i, lamp in enumerate(LAMPS):
        centre = (middle, y1 + (2 * i + 1) * (y2 - y1) // 6)
        colour = LAMP_BGR[lamp]
        if lamp == light:
            glow = np.zeros_like(picture)
            cv2.circle(glow, centre, radius + 3, colour, -1)
            picture = np.maximum(picture, cv2.GaussianBlur(glow, (7, 7), 0))
            cv2.circle(picture, centre, radius, colour, -1)
        else:
            cv2.circle(picture, centre, radius, tuple(int(c * 0.18) + 20 for c in colour), -1)
    return picture


def _plate_frames(view: PlateView, background: Image, pickup: Image) -> Iterator[Image]:
    """The view's frames: the square (with its signal head), and each pass's pickup crossing the near edge
    (plate upright).
    """
    vehicles = {
        p.plate: with_plate(pickup[:, ::-1] if view.mirrored else pickup, [p.plate], zoom=1.8, scale=20)
        for p in view.passes
    }
    head = view.signal
    backgrounds = {light: with_signal_head(background, head, light) for light in LAMPS} if head else {}
    start, end = (0.7, 0.3) if view.mirrored else (0.3, 0.7)
    steps = int(DRIVE_S * PLATE_FPS)
    for index in range(PLATE_CLIP_S * PLATE_FPS):
        moment = index / PLATE_FPS
        square = backgrounds[head.light_at(moment)] if head else background
        now = next((p for p in view.passes if p.at_s <= moment < p.at_s + DRIVE_S), None)
        if now is None:
            yield square
            continue
        step = round((moment - now.at_s) * PLATE_FPS)
        x = start + (end - start) * step / (steps - 1)
        yield scene(square, (vehicles[now.plate], (x, 0.95)))


def _made_from(path: Path) -> str | None:
    """The digest of the view a clip was made from (its MP4 comment), or None for an older or broken one."""
    try:
        with av.open(str(path)) as container:
            comment = container.metadata.get("comment", "")
    except (av.error.FFmpegError, OSError):
        return None
    name, _, digest = comment.partition(" ")
    return digest if name == "safecity-demo" else None


def make_plate_clips(
    out_dir: Path,
    *,
    source: Path | None = None,
    photo: Path | None = None,
    views: tuple[PlateView, ...] = PLATE_VIEWS,
) -> list[Path]:
    """Encode one H.264 MP4 per ANPR view (a key frame a second); existing files made from the same view are
    kept, others are made again (replaced at once: a camera playing one picks up the new one as it loops).
    """
    source, photo = source or VTEST, photo or PHOTO
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{view.name}.mp4" for view in views]
    todo = [
        (view, path)
        for view, path in zip(views, paths, strict=True)
        if not path.exists() or _made_from(path) != view.digest
    ]
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
            out.metadata["comment"] = f"safecity-demo {view.digest}"
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
