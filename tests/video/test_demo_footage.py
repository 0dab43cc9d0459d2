"""The demo's ANPR footage: each pass's plate is readable by the real plate reader at both cameras, the exit
camera sees each vehicle after the entry camera, and the square between passes shows no plate; the entry
camera's signal head shows the light its cycle says in every frame, as the real lamp reader reads it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import av

from conftest import missing_part
from safecity import seed
from safecity.analytics.plates import build_reader
from safecity.traffic.violations.signals import read_lamp
from safecity.video.demo import (
    DRIVE_S,
    FONT,
    PHOTO,
    PLATE_CLIP_S,
    PLATE_FPS,
    PLATE_VIEWS,
    STOLEN_PLATE,
    VTEST,
    lights_at_stop_line,
    make_plate_clips,
)


def _require_media() -> None:
    for path, package in ((VTEST, "opencv-doc"), (PHOTO, "darknet"), (FONT, "fonts-dejavu-core")):
        if not path.is_file():  # skipped locally, a failure in CI
            missing_part(str(path), f"run `make test-deps` as root (apt-get install {package})")


def test_the_anpr_clips_show_each_plate_at_entry_then_exit(tmp_path: Path) -> None:
    _require_media()
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
            seen, count, lamps = {}, 0, []
            for index, frame in enumerate(container.decode(stream)):
                count += 1
                picture = frame.to_ndarray(format="bgr24")
                if index in wanted or index == empty:
                    seen[index] = [p.text for p in reader.read(picture)]
                if view.signal is not None:
                    lamps.append((read_lamp(picture, view.signal.region).light.value, index))
        assert count == PLATE_CLIP_S * PLATE_FPS
        if view.signal is not None:  # every frame's lit lamp, through H.264, as its cycle says
            assert lamps == [(view.signal.light_at(i / PLATE_FPS), i) for i in range(count)]
            assert {light for light, _ in lamps} == {"red", "amber", "green"}
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


def test_the_red_light_camera_sees_one_vehicle_run_the_red_and_its_clip_is_made_again_when_stale(
    tmp_path: Path,
) -> None:
    entry = PLATE_VIEWS[0]
    assert entry.signal is not None and PLATE_CLIP_S % entry.signal.cycle_s == 0  # loops without a jump
    # At the stop line (the picture's middle): one runs the red, one clears on amber, one has green.
    assert lights_at_stop_line(entry) == {"LEA-1234": "green", "ABC-123": "red", STOLEN_PLATE: "amber"}
    assert all(view.signal is None for view in PLATE_VIEWS[1:])
    # A clip made before the signal head was drawn (or from any other view) is made again; a current one kept.
    _require_media()
    stale = tmp_path / f"{entry.name}.mp4"
    stale.write_bytes(b"an older demo's clip")
    (path,) = make_plate_clips(tmp_path, views=(entry,))
    assert path == stale and path.stat().st_size > 100_000
    with av.open(str(path)) as container:
        assert container.metadata["comment"] == f"safecity-demo {entry.digest}"
    made = path.stat().st_mtime_ns
    assert make_plate_clips(tmp_path, views=(entry,)) == [path] and path.stat().st_mtime_ns == made
