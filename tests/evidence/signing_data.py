"""Real media and packages for the signing tests: a short H.264 MP4 encoded from scikit-image's astronaut
(panning, as a camera would see a scene), a JPEG snapshot of the coffee cup, a custody log, and ways to
tamper with a package the way someone might (a changed byte, a removed or added file, an edited entry).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from safecity.evidence import package
from safecity.evidence.package import PackageFile, Signer

FPS = 10
T0 = dt.datetime(2026, 12, 6, 10, 0, 0, tzinfo=dt.UTC)
VIDEO = "media/cam-gate-1/2026-12-06T10-00-00Z.mp4"
SNAPSHOT = "snapshots/cam-gate-1/2026-12-06T10-00-01Z.jpg"


@cache
def _astronaut_frames() -> tuple[np.ndarray, ...]:
    scene = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # 512x512
    return tuple(
        scene[40 + i * 4 : 40 + i * 4 + 240, 20 + i * 6 : 20 + i * 6 + 320].copy() for i in range(20)
    )


def encode_mp4(path: Path) -> Path:
    """Two seconds of H.264 (320x240, 10 fps, a key frame every second) panning across the astronaut."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "g": str(FPS)}
        for index, image in enumerate(_astronaut_frames()):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def snapshot_jpeg(path: Path) -> Path:
    """scikit-image's coffee cup as a JPEG (a still taken from a camera)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def media(directory: Path) -> list[PackageFile]:
    """The video (as recorded: one source segment) and a snapshot, ready to package."""
    directory.mkdir(parents=True, exist_ok=True)
    video = encode_mp4(directory / "segment-0001.mp4")
    still = snapshot_jpeg(directory / "still.jpg")
    return [
        PackageFile(
            name=VIDEO,
            source=video,
            kind="video",
            item_id="item-1",
            camera_id="cam-gate-1",
            camera_name="Gate 1",
            start=T0,
            end=T0 + dt.timedelta(seconds=2),
            source_segments=({"path": "recordings/cam-gate-1/segment-0001.mp4", "sha256": sha256_of(video)},),
        ),
        PackageFile(
            name=SNAPSHOT,
            source=still,
            kind="image",
            item_id="item-2",
            camera_id="cam-gate-1",
            camera_name="Gate 1",
            start=T0 + dt.timedelta(seconds=1),
            end=T0 + dt.timedelta(seconds=1),
        ),
    ]


CUSTODY = [
    {"at": T0 + dt.timedelta(hours=1), "who": "inspector.khan", "action": "added", "item_id": "item-1",
     "why": "the gate camera saw the snatching"},
    {"at": T0 + dt.timedelta(hours=2), "who": "si.ahmed", "action": "viewed", "item_id": "item-1",
     "why": "identify the motorcycle"},
    {"at": T0 + dt.timedelta(hours=3), "who": "inspector.khan", "action": "exported", "item_id": None,
     "why": "for the court"},
]  # fmt: skip


def build(
    destination: Path,
    signer: Signer,
    files: list[PackageFile],
    *,
    purpose: str = "for the court",
    exported_at: dt.datetime = T0 + dt.timedelta(hours=3),
    verifier_html: str | None = "<!doctype html><title>verifier</title>",
) -> package.PackageInfo:
    """A package of case FIR-123/2026 with `files`, signed by `signer`."""
    return package.build(
        destination=destination,
        case={"id": "case-1", "number": "FIR-123/2026", "title": "Snatching at the gate"},
        files=files,
        custody=CUSTODY,
        signer=signer,
        exported_by="inspector.khan",
        exported_at=exported_at,
        purpose=purpose,
        verifier_html=verifier_html,
    )


# --- tampering ----------------------------------------------------------------------------------


def data_offset(path: Path, name: str) -> int:
    """Where `name`'s bytes start inside the ZIP file."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def flip_one_byte(source: Path, destination: Path, name: str, at: int = 1000) -> Path:
    """A copy of the package with one byte of `name` changed (in place, nothing else touched)."""
    shutil.copyfile(source, destination)
    offset = data_offset(destination, name) + at
    with destination.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))
    return destination


def rewrite(
    source: Path,
    destination: Path,
    *,
    drop: frozenset[str] = frozenset(),
    replace: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of the package rebuilt entry by entry (STORED), some dropped, replaced or added."""
    replace = replace or {}
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            content = src.read(info)
            if info.filename in replace:
                content = replace[info.filename](content)
            dst.writestr(info.filename, content)
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return destination


def edit_json(change: Callable[[dict[str, object]], None]) -> Callable[[bytes], bytes]:
    """A replacer that edits a JSON entry and writes it back as the package does."""

    def apply(content: bytes) -> bytes:
        document = json.loads(content)
        change(document)
        return package.canonical_json(document)

    return apply
