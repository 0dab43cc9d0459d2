"""The demo's ANPR footage: each pass's plate is readable by the real plate reader at both cameras, the exit
camera sees each vehicle after the entry camera, and the square between passes shows no plate.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import av

from conftest import missing_part
from safecity import seed
from safecity.analytics.plates import build_reader
from safecity.video.demo import (
    DRIVE_S,
    FONT,
    PHOTO,
    PLATE_CLIP_S,
    PLATE_FPS,
    PLATE_VIEWS,
    STOLEN_PLATE,
    VTEST,
    make_plate_clips,
)


def test_the_anpr_clips_show_each_plate_at_entry_then_exit(tmp_path: Path) -> None:
    for path, package in ((VTEST, "opencv-doc"), (PHOTO, "darknet"), (FONT, "fonts-dejavu-core")):
        if not path.is_file():  # skipped locally, a failure in CI
            missing_part(str(path), f"run `make test-deps` as root (apt-get install {package})")
    paths = make_plate_clips(tmp_path)
    assert [p.name for p in paths] == ["university-road-entry.mp4", "university-road-exit.mp4"]
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert make_plate_clips(tmp_path) == paths and [p.stat().st_mtime_ns for p in paths] == mtimes  # kept
    reader = build_reader({"type": "rapidocr"})
    entry, exit_ = PLATE_VIEWS
    for view, path in zip(PLATE_VIEWS, paths, strict=True):
        # Mid-pass for each vehicle, and a moment when the square is empty.
        wanted = {round((p.at_s + DRIVE_S / 2) * PLATE_FPS): p.plate for p in view.passes}
        empty = round((view.passes[0].at_s - 1) * PLATE_FPS)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == PLATE_FPS
            seen, count = {}, 0
            for index, frame in enumerate(container.decode(stream)):
                count += 1
                if index in wanted or index == empty:
                    seen[index] = [p.text for p in reader.read(frame.to_ndarray(format="bgr24"))]
        assert count == PLATE_CLIP_S * PLATE_FPS
        assert seen.pop(empty) == []
        assert seen == {i: [plate.replace("-", "")] for i, plate in wanted.items()}, view.name
    # Each vehicle reaches the exit after the entry, the stolen one among them, so the section pairs them.
    arrivals = {p.plate: p.at_s for p in entry.passes}
    assert STOLEN_PLATE in arrivals
    assert all(p.at_s > arrivals[p.plate] for p in exit_.passes)
    assert set(arrivals) == {p.plate for p in exit_.passes}
    # The stolen one is on the demo's stolen-vehicles list.
    (listed,) = tomllib.loads(seed.DEMO_FILE.read_text(encoding="utf-8"))["hotlists"]
    assert listed["kind"] == "stolen" and [e["plate"] for e in listed["entries"]] == [STOLEN_PLATE]
