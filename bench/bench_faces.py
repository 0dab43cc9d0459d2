"""Face engine speed on one core against dlib's own pipeline, the detectors compared, live-matching capacity.

Run: `python -m bench.bench_faces [DATA_DIR] [--rounds N]` (or set SAFECITY_BENCH_DATA). Everything runs on
one thread (OpenCV's and onnxruntime's pools limited to one), timed in process CPU time, so the figures are
"per core" even on a busy machine.

Baseline, measured in the same run: dlib's own pipeline as the `face_recognition` package runs it (HOG
detector with one upsampling, 5-point landmarks, `compute_face_descriptor` on the whole picture).
Figures:
- embedding ms per face: ours (dlib landmarks, aligned 150 px chip, quality gate, ResNet, normalised)
  against dlib's `compute_face_descriptor` on the same face (goal ≤ 120 ms);
- detection ms per picture for each detector plugin and for dlib's HOG, and the faces each found, on the
  packaged pictures (astronaut, messi5, person.jpg, vtest.avi frames where faces are small);
- live matching for 20 cameras at 2 fps: frames (one face each) per second one core sustains against the
  40 needed;
- when DATA_DIR/faces_orl exists: the verification figures of `safecity faces evaluate` on it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import dlib
import numpy as np
from skimage import data as skdata

from safecity.analytics import catalog
from safecity.analytics.faces import evaluation
from safecity.analytics.faces.base import DETECTORS, build_detector
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.types import Image

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
DARKNET_DATA = Path("/usr/share/darknet/data")
CAMERAS, FPS = 20, 2


def cpu_ms(work: Callable[[], object], rounds: int) -> float:
    """Process CPU milliseconds per call of `work` (after one warm-up call)."""
    work()
    started = time.process_time()
    for _ in range(rounds):
        work()
    return (time.process_time() - started) * 1000 / rounds


def pictures() -> dict[str, Image]:
    """The packaged pictures that are installed, by name."""
    found = {"astronaut": np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])}  # type: ignore[no-untyped-call]
    for name, path in (("messi5", OPENCV_DATA / "messi5.jpg"), ("person", DARKNET_DATA / "person.jpg")):
        image = cv2.imread(str(path))
        if image is not None:
            found[name] = np.asarray(image, dtype=np.uint8)
    video = cv2.VideoCapture(str(OPENCV_DATA / "vtest.avi"))
    for index in (0, 200, 400):
        video.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = video.read()
        if ok:
            found[f"vtest#{index}"] = np.asarray(frame, dtype=np.uint8)
    return found


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", default=os.environ.get("SAFECITY_BENCH_DATA", "../shared/data"))
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rounds = args.rounds

    engine = FaceEngine()
    landmarks_path, resnet_path = catalog.locate(catalog.spec("dlib_resnet"))
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(landmarks_path))
    resnet = dlib.face_recognition_model_v1(str(resnet_path))
    shown = pictures()
    astronaut = shown["astronaut"]
    rgb = np.ascontiguousarray(astronaut[:, :, ::-1])

    print("embedding, one face (astronaut, 512x512), one core:")
    face = engine.detect(astronaut)
    rect = hog(rgb, 1)[0]
    shape = predictor(rgb, rect)
    base_embed = cpu_ms(lambda: resnet.compute_face_descriptor(rgb, shape), rounds)
    ours_embed = cpu_ms(lambda: engine.analyse(astronaut, face), rounds)
    print(f"  dlib compute_face_descriptor (baseline)  {base_embed:6.1f} ms")
    verdict = "met" if ours_embed <= 120 else "NOT met"
    print(f"  ours: align, gate, embed, normalise      {ours_embed:6.1f} ms"
          f"   ratio {ours_embed / base_embed:.2f}x   goal ≤ 120 ms: {verdict}")  # fmt: skip

    def dlib_pipeline() -> list[object]:
        return [resnet.compute_face_descriptor(rgb, predictor(rgb, r)) for r in hog(rgb, 1)]

    base_full = cpu_ms(dlib_pipeline, rounds)
    ours_full = cpu_ms(lambda: engine.analyse(astronaut), rounds)
    print(f"  whole picture, dlib HOG pipeline         {base_full:6.1f} ms")
    print(
        f"  whole picture, ours (RetinaFace)         {ours_full:6.1f} ms   ratio {ours_full / base_full:.2f}x"
    )

    print("\ndetection ms per picture (faces found), one core:")
    detectors = {kind: build_detector({"type": kind}) for kind in DETECTORS.types()}
    header = "  " + "picture".ljust(22) + "".join(name.rjust(18) for name in ["dlib HOG", *detectors])
    print(header)
    for name, image in shown.items():
        rgb_copy = np.ascontiguousarray(image[:, :, ::-1])
        cells = [f"{cpu_ms(partial(hog, rgb_copy, 1), rounds):7.1f} ({len(hog(rgb_copy, 1))})"]
        for detector in detectors.values():
            ms = cpu_ms(partial(detector.detect, image), rounds)
            cells.append(f"{ms:7.1f} ({len(detector.detect(image))})")
        label = f"{name} {image.shape[1]}x{image.shape[0]}"
        print("  " + label.ljust(22) + "".join(c.rjust(18) for c in cells))

    frame = shown.get("vtest#200", astronaut)
    detect_frame = cpu_ms(lambda: engine.detect(frame, retry=False), rounds)
    detect_still = cpu_ms(lambda: engine.detect(frame), rounds)
    sustained = 1000 / (ours_embed + detect_frame)
    needed = CAMERAS * FPS
    print(f"\nlive matching, {CAMERAS} cameras at {FPS} fps = {needed} frames/s:")
    print(f"  detection {detect_frame:.1f} ms per {frame.shape[1]}x{frame.shape[0]} frame (live, no retry;"
          f" {detect_still:.1f} ms with the stills' retries on a frame without a face)")  # fmt: skip
    cores = needed * detect_frame / 1000
    print(f"  frames without a face: {1000 / detect_frame:.1f}/s per core → {cores:.2f} cores for {needed}/s")
    print(f"  one face embedded per frame: {sustained:.1f}/s per core against {needed} needed →"
          f" {needed / sustained:.1f} cores")  # fmt: skip

    orl = Path(args.data) / "faces_orl"
    if not (orl / "labels.csv").is_file():
        print(f"\nno faces_orl under {args.data}: verification figures skipped")
        return
    dataset = evaluation.load_set(orl)
    best = {
        name: engine.best(np.asarray(cv2.imread(str(orl / name)), dtype=np.uint8))[1]
        for name in dataset.files()
    }
    scores: list[float | None] = []
    for pair in dataset.pairs:
        first, second = best[pair.a], best[pair.b]
        scores.append(None if first is None or second is None else engine.score(first, second))
    result = evaluation.evaluate(scores, [p.same for p in dataset.pairs], threshold=engine.threshold)
    print(f"\nverification on {orl} ({result.pairs} pairs, {result.genuine_pairs} genuine):")
    for key, value in result.as_json().items():
        if key != "groups":
            print(f"  {key:26} {value}")


if __name__ == "__main__":
    main()
