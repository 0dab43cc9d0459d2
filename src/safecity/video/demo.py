"""Demo footage: real pedestrian CCTV (vtest.avi from Debian's opencv-doc) cut into camera views."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import av.video.frame

logger = logging.getLogger(__name__)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


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
