"""Plate reading accuracy on real labelled photos and crops, and recognition speed, against the baseline.

Run: `python -m bench.bench_plates [DATA_DIR] [--limit N] [--errors]` (or set SAFECITY_BENCH_DATA).
DATA_DIR holds the labelled sets (read each one's PROVENANCE.md; they are never copied into this repository):

- `plates_india_vehicles/`: whole-vehicle photos, labels.csv `file,plate_text,x,y,w,h,country`
  (labels_suspect.csv, labels that fail the Indian format, is left out: several are wrong).
- `plate_crops_argentina/`, `plate_crops_algeria/`: plate crops; recognition only (no text detection).

Baseline: the same PP-OCRv6 models, the raw text (A-Z0-9 kept, upper-cased) without the layout
correction. Configured: `safecity plates read` as shipped (layouts, region bias per set, floor).
Figures: exact whole-plate reads (a photo counts when its best plate equals the label), and crops read per
second per core (one inference thread, process time).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from safecity.analytics.plates import PlateReader, build_reader
from safecity.analytics.plates.types import PlateRead

SETS = (("plates_india_vehicles", "IN", False), ("plate_crops_argentina", "AR", True),
        ("plate_crops_algeria", "DZ", True))  # fmt: skip


def _raw(plate: PlateRead | None) -> str | None:
    if plate is None:
        return None
    return "".join(c for c in plate.raw.upper() if c.isascii() and c.isalnum())


def run_set(
    reader: PlateReader, root: Path, region: str, crops: bool, limit: int | None, errors: bool = False
) -> None:
    """Print the baseline and configured exact-read rates of one set (and the speed on crops).

    With `errors`, every misread too: file, label, what was read and the recogniser's raw text.
    """
    rows = list(csv.DictReader((root / "labels.csv").open(encoding="utf-8")))[:limit]
    base = conf = pk = 0
    started = time.process_time()
    for row in rows:
        image = cv2.imread(str(root / row["file"]), cv2.IMREAD_COLOR)
        if image is None:
            continue
        picture = np.asarray(image, dtype=np.uint8)
        if crops:
            best = reader.read_crop(picture, region)
            best_pk = reader.read_crop(picture, "PK")
        else:
            plates = reader.read(picture, region)
            best = plates[0] if plates else None
            found_pk = reader.read(picture, "PK")
            best_pk = found_pk[0] if found_pk else None
        label = row["plate_text"]
        base += _raw(best) == label
        conf += best is not None and best.text == label
        pk += best_pk is not None and best_pk.text == label
        if errors and (best is None or best.text != label):
            print(f"  misread {row['file']}: {label} read {best.text if best else None} raw {_raw(best)}")
    seconds = time.process_time() - started
    n = max(len(rows), 1)
    print(f"{root.name}: {len(rows)} labelled")
    print(f"  exact reads  baseline (raw OCR) {base / n:.3f}   configured (--region {region}) {conf / n:.3f}"
          f"   configured (--region PK) {pk / n:.3f}   ratio {conf / max(base, 1):.2f}x")  # fmt: skip
    if crops:
        print(f"  speed        {2 * len(rows) / seconds:.1f} crops/s per core (recognition + layouts)")


def main() -> None:
    """Run every set found under the data directory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", default=os.environ.get("SAFECITY_BENCH_DATA", "../shared/data"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--errors", action="store_true", help="print every misread (label, read, raw)")
    args = parser.parse_args()
    data = Path(args.data)
    present = [(data / name, region, crops) for name, region, crops in SETS if (data / name).is_dir()]
    if not present:
        print(f"no plate data under {data}: skipped")
        sys.exit(0)
    reader = build_reader({"type": "rapidocr", "threads": 1})
    for root, region, crops in present:
        run_set(reader, root, region, crops, args.limit, args.errors)


if __name__ == "__main__":
    main()
