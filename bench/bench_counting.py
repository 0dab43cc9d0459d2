"""Counting lines on real overhead traffic: what a counting line counts, against the old line rule.

Run: `python -m bench.bench_counting [--video PATH] [--line-y 0.6] [--loops 1]`. Footage: the shared Dhaka
overhead clip (`../shared/data/video_dhaka_overhead/`, 10 s, 720x1080, hand-held above a busy junction;
unlabelled, for internal tuning only: read its PROVENANCE.md; it is never copied into this repository).
The benchmark is skipped with a message when the clip is not there.

One replay (the live pipeline: motion gate, configured detector, ByteTrack, rule engine; `--loops` plays the
clip that many times, as the issue's measurement did) runs two rules on the same horizontal line across
the whole frame at `--line-y`, for vehicles, bicycles and people:

- the counting line: every track once per direction, by class (judged along its path, late-detected
  vehicles included);
- the baseline, measured in the same run: a line-crossing rule as they were before, whose 30 s cool-down
  applied to the whole rule (emulated: its firings thinned to one per 30 s of video).

It prints the crossings per direction and class, the baseline's events, and CPU ms per frame. The clip has
no labels: a person checks the crossings against the picture (`--list` prints each with its time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from safecity.analytics.flows import configured_detector
from safecity.analytics.pipeline import CameraInfo
from safecity.analytics.replay import Picture, ReplayEvent, file_pictures, replay
from safecity.analytics.schemas import CountingLine, LineCrossing, RuleConfig
from safecity.config import Settings

CLIP = (
    Path(__file__).resolve().parents[2]
    / "shared/data/video_dhaka_overhead/dhaka_intersection_overhead_10s.mp4"
)
CLASSES = ["bicycle", "bus", "car", "motorcycle", "person", "truck"]
OLD_COOLDOWN_S = 30.0


def looped(video: Path, loops: int, fps: float) -> Iterator[Picture]:
    """The clip's sampled frames `loops` times over, on one continuous clock (each loop a new scene)."""
    start = dt.datetime.now(dt.UTC)
    offset = 0.0
    for _ in range(loops):
        last = 0.0
        for picture in file_pictures(video, fps=fps, start=start):
            last = picture.offset_s
            yield Picture(
                offset + picture.offset_s,
                start + dt.timedelta(seconds=offset + picture.offset_s),
                picture.image,
            )
        offset += last + 1.0 / fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=CLIP)
    parser.add_argument("--line-y", type=float, default=0.6)
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="print every crossing")
    args = parser.parse_args()
    if not args.video.exists():
        print(f"skipped: {args.video} is not there (see ../shared/data/video_dhaka_overhead/PROVENANCE.md)")
        return
    settings = Settings()
    fps = settings.video.analytics_fps
    line = ((0.0, args.line_y), (1.0, args.line_y))
    counting_id, old_id = uuid.uuid4(), uuid.uuid4()
    rules: list[tuple[uuid.UUID, RuleConfig]] = [
        (counting_id, CountingLine(name="counting", line=line, classes=CLASSES)),
        (old_id, LineCrossing(name="line", line=line, classes=CLASSES, cooldown_s=0)),
    ]
    events: list[ReplayEvent] = []
    detector = configured_detector(settings.analytics)
    camera = CameraInfo(uuid.uuid4(), "bench", None)
    cpu, wall = time.process_time(), time.perf_counter()
    result = replay(
        looped(args.video, args.loops, settings.video.analytics_fps),
        camera=camera,
        rules=rules,
        detector=detector,
        settings=settings,
        on_event=events.append,
        speed=0,
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counted = [e for e in events if e.rule_id == counting_id]
    # The old rule: one event per 30 s for the whole rule, whichever vehicle crossed.
    old_events, quiet_until = 0, -1.0
    for event in (e for e in events if e.rule_id == old_id):
        if event.offset_s >= quiet_until:
            old_events, quiet_until = old_events + 1, event.offset_s + OLD_COOLDOWN_S
    print(
        f"clip {args.video.name} x{args.loops}: {result.frames} frames at {fps} fps, "
        f"detector {detector.name}, line y={args.line_y} (left_to_right = moving down the picture)"
    )
    print(f"counting line: {len(counted)} crossings: {result.totals(counting_id)}")
    print(
        f"baseline (line rule, per-rule 30 s cool-down): {old_events} events "
        f"-> counting line reports {len(counted) / max(old_events, 1):.1f}x as many crossings"
    )
    print(
        f"CPU {1000 * cpu / max(result.frames, 1):.0f} ms per frame, {wall:.1f} s wall "
        f"({result.frames / settings.video.analytics_fps / wall:.2f}x real time)"
    )
    if args.list:
        for e in counted:
            print(f"  {e.offset_s:6.1f} s  track {e.track_id:4d}  {e.class_name:10s}  {e.direction}")


if __name__ == "__main__":
    main()
