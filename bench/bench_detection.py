"""Detection accuracy on real labelled street and highway frames, and its CPU cost, against the baseline.

Run: `python -m bench.bench_detection [DATA_DIR] [--limit N]` (or set SAFECITY_BENCH_DATA). DATA_DIR holds the
labelled sets (read each one's PROVENANCE.md; they are never copied into this repository):

- `kathmandu_street/`: 1280x720 frames of dense South-Asian traffic (many motorcycles), labels.csv
  `file,class,x,y,w,h` with car, bus, motorcycle, truck, person, bicycle.
- `highway_ngsim_m30/`: high, steep highway views (NGSIM 640x480, M-30 1200x720); every vehicle is labelled
  `car`, so it is scored class-agnostically.
- `video_dhaka_overhead/`: an unlabelled elevated clip; only what each detector reports per frame is printed.

Each set runs through the baseline (SSD-MobileNet-v2 on the whole frame squeezed to 300x300, min_score 0.45,
as the pipeline ran before tiling) and through the configured pipeline (`configured_detector` with the
default AnalyticsSettings: tiles, road-user classes, rider merge, colour), in the same process.

Figures:
- Recall at IoU 0.3 and 0.5, per labelled class and by box size (sqrt of the area: <32, 32-64, 64-128,
  >=128 px). A labelled vehicle is found by a detection of any motor-vehicle class (bicycle too for a
  motorcycle); a person by a person; a bicycle by a bicycle or motorcycle. Greedy one-to-one matching,
  best score first.
- Precision on clearly wrong boxes: a detection of a class the set labels counts as wrong only when it
  overlaps no labelled object at all (intersection below 10 % of its own area), its centre lies inside
  the area the frame's labels cover, and it is at least as big as the 5th percentile of the set's
  labelled boxes. Unlabelled far vehicles, parked cars outside the labelled carriageway and partly
  labelled crowds are therefore not held against the detector; every other extra box is.
- CPU: process time per frame (all threads), and cameras per core at 5 fps (1000 / (5 x ms)).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics.detectors import Detector, build_detector
from safecity.analytics.flows import configured_detector
from safecity.analytics.types import CLASS_IDS, PERSON, VEHICLES, Detections, class_name
from safecity.config import AnalyticsSettings

FPS = 5
SIZES = ((0, 32, "<32"), (32, 64, "32-64"), (64, 128, "64-128"), (128, 1_000_000, ">=128"))
VEHICLE_NAMES = {class_name(c) for c in VEHICLES}
BICYCLE = CLASS_IDS["bicycle"]
Box = tuple[float, float, float, float]


@dataclass
class Label:
    """One labelled object."""

    name: str
    box: Box


def matches(label: str, class_id: int) -> bool:
    """Whether a detection of this class finds an object labelled so."""
    if label in VEHICLE_NAMES:
        return class_id in VEHICLES or (label == "motorcycle" and class_id == BICYCLE)
    if label == "person":
        return class_id == PERSON
    if label == "bicycle":
        return class_id in (BICYCLE, CLASS_IDS["motorcycle"])
    return False


def iou(a: Box | npt.NDArray[np.float32], b: Box) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def size_bucket(box: Box) -> str:
    """The size bucket of a box, by the square root of its area."""
    side = math.sqrt(max(0.0, (box[2] - box[0]) * (box[3] - box[1])))
    return next(name for low, high, name in SIZES if low <= side < high)


@dataclass
class Score:
    """Counts of one detector on one set."""

    found: dict[float, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    total: Counter[str] = field(default_factory=Counter)
    wrong: int = 0
    judged: int = 0
    cpu_s: float = 0.0
    frames: int = 0
    reported: Counter[str] = field(default_factory=Counter)


def score_frame(
    score: Score, labels: list[Label], found: Detections, scored: set[str], min_side: float
) -> None:
    """Add one frame's matches, misses and clearly-wrong boxes to the score."""
    for thr in (0.3, 0.5):
        taken: set[int] = set()
        hit = [False] * len(labels)
        for box, class_id in zip(found.boxes, found.classes, strict=True):  # best score first
            best, best_iou = -1, thr
            for k, label in enumerate(labels):
                if hit[k] or not matches(label.name, int(class_id)):
                    continue
                overlap = iou(box, label.box)
                if overlap >= best_iou:
                    best, best_iou = k, overlap
            if best >= 0:
                hit[best] = True
                taken.add(best)
        for label, ok in zip(labels, hit, strict=True):
            for key in (
                label.name,
                f"size {size_bucket(label.box)}",
                "all vehicles" if label.name in VEHICLE_NAMES else "",
            ):
                if key:
                    score.found[thr][key] += ok
    for label in labels:
        for key in (
            label.name,
            f"size {size_bucket(label.box)}",
            "all vehicles" if label.name in VEHICLE_NAMES else "",
        ):
            if key:
                score.total[key] += 1
    if not labels:
        return
    area = np.array([[lb.box[0], lb.box[1], lb.box[2], lb.box[3]] for lb in labels])
    x1, y1, x2, y2 = area[:, 0].min(), area[:, 1].min(), area[:, 2].max(), area[:, 3].max()
    for box, class_id in zip(found.boxes, found.classes, strict=True):
        score.reported[class_name(int(class_id))] += 1
        if not any(matches(name, int(class_id)) for name in scored):
            continue  # a class this set does not label
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if (
            not (x1 <= cx <= x2 and y1 <= cy <= y2)
            or math.sqrt((box[2] - box[0]) * (box[3] - box[1])) < min_side
        ):
            continue  # outside what the labels cover
        score.judged += 1
        own = max(1e-6, float((box[2] - box[0]) * (box[3] - box[1])))
        touching = max(
            (
                max(0.0, min(box[2], lb.box[2]) - max(box[0], lb.box[0]))
                * max(0.0, min(box[3], lb.box[3]) - max(box[1], lb.box[1]))
                / own
                for lb in labels
            ),
            default=0.0,
        )
        score.wrong += touching < 0.1


def load_labels(folder: Path) -> dict[str, list[Label]]:
    """labels.csv of a set: file -> its labelled objects (boxes as corners)."""
    out: dict[str, list[Label]] = defaultdict(list)
    with (folder / "labels.csv").open() as stream:
        for row in csv.DictReader(stream):
            x, y, w, h = (float(row[k]) for k in "xywh")
            out[row["file"]].append(Label(row["class"], (x, y, x + w, y + h)))
    return out


def run_set(name: str, folder: Path, detectors: dict[str, Detector], limit: int | None) -> dict[str, Score]:
    """Every detector over one labelled set."""
    labels = load_labels(folder)
    files = sorted(labels)[:limit]
    scored = {lb.name for f in files for lb in labels[f]}
    sides = sorted(
        math.sqrt((lb.box[2] - lb.box[0]) * (lb.box[3] - lb.box[1])) for f in files for lb in labels[f]
    )
    min_side = sides[len(sides) // 20] if sides else 0.0
    scores = {d: Score() for d in detectors}
    for file in files:
        read = cv2.imread(str(folder / "images" / file))
        if read is None:
            print(f"  {name}: {file} unreadable, skipped", file=sys.stderr)
            continue
        image = np.asarray(read, dtype=np.uint8)
        for key, detector in detectors.items():  # interleaved: both see the same machine load
            started = time.process_time()
            found = detector.detect(image)
            scores[key].cpu_s += time.process_time() - started
            scores[key].frames += 1
            score_frame(scores[key], labels[file], found, scored, min_side)
    return scores


def report(name: str, scores: dict[str, Score]) -> None:
    """Print one set's figures, ours as a ratio of the baseline's."""
    base, ours = scores["baseline"], scores["pipeline"]
    labelled = sum(v for k, v in base.total.items() if not k.startswith(("size", "all")))
    print(f"\n== {name}: {ours.frames} frames, {labelled} labelled objects")
    print(
        f"{'recall':<22}{'n':>6}  {'base@.3':>8}{'ours@.3':>8}{'x':>6}  {'base@.5':>8}{'ours@.5':>8}{'x':>6}"
    )
    keys = [
        "all vehicles",
        *sorted(k for k in base.total if k in VEHICLE_NAMES),
        "person",
        "bicycle",
        *(f"size {s[2]}" for s in SIZES),
    ]
    for key in keys:
        n = base.total.get(key, 0)
        if not n:
            continue
        row = f"{key:<22}{n:>6}  "
        for thr in (0.3, 0.5):
            b, o = base.found[thr][key] / n, ours.found[thr][key] / n
            row += f"{b:>8.3f}{o:>8.3f}{(o / b if b else math.inf):>6.2f}  "
        print(row)
    for key, s in scores.items():
        precision = 1 - s.wrong / s.judged if s.judged else 1.0
        ms = 1000 * s.cpu_s / max(1, s.frames)
        print(
            f"{key:<9} precision on clearly-wrong boxes {precision:.3f} ({s.wrong} of {s.judged} judged)"
            f"  CPU {ms:.0f} ms/frame  cameras/core at {FPS} fps {1000 / (FPS * ms):.2f}"
        )
    print(f"CPU ratio pipeline/baseline: {ours.cpu_s / max(1e-9, base.cpu_s):.2f}")


def run_video(folder: Path, detectors: dict[str, Detector], every: int = 15) -> None:
    """What each detector reports on an unlabelled elevated clip (classes per frame)."""
    import av

    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        return
    counts: dict[str, Counter[str]] = {k: Counter() for k in detectors}
    frames = 0
    with av.open(str(clips[0])) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every:
                continue
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            frames += 1
            for key, detector in detectors.items():
                counts[key].update(class_name(int(c)) for c in detector.detect(image).classes)
    print(f"\n== {folder.name}: {frames} frames (every {every}th), unlabelled: detections per frame by class")
    for key, c in counts.items():
        print(f"{key:<9} " + ", ".join(f"{n} {v / frames:.1f}" for n, v in c.most_common(8)))


def main(argv: list[str] | None = None, *, make: Callable[[], dict[str, Detector]] | None = None) -> int:
    """Run every labelled set found in the data directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("SAFECITY_BENCH_DATA", "../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="frames per set (default: all)")
    parser.add_argument(
        "--threads", type=int, default=1, help="OpenCV threads (1: CPU per frame at its least)"
    )
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"no labelled data at {data}: pass its folder or set SAFECITY_BENCH_DATA; skipped")
        return 0
    cv2.setNumThreads(args.threads)
    detectors = (make or _detectors)()
    for name in ("kathmandu_street", "highway_ngsim_m30"):
        folder = data / name
        if (folder / "labels.csv").is_file():
            report(name, run_set(name, folder, detectors, args.limit))
        else:
            print(f"\n== {name}: not found under {data}, skipped")
    if (data / "video_dhaka_overhead").is_dir():
        run_video(data / "video_dhaka_overhead", detectors)
    return 0


def _detectors() -> dict[str, Detector]:
    return {
        "baseline": build_detector(
            {"type": "ssd_mobilenet_v2", "tiling": False, "merge_riders": False, "colour": False}
        ),
        "pipeline": configured_detector(AnalyticsSettings()),
    }


if __name__ == "__main__":
    sys.exit(main())
