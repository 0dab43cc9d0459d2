"""The face engine on real pictures from packages: detection, landmarks, the quality gate, scores."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from safecity.analytics.detectors.base import InvalidFrame
from safecity.analytics.faces.base import DETECTORS, build_detector
from safecity.analytics.faces.engine import FaceEngine
from safecity.analytics.faces.evaluation import evaluate
from safecity.analytics.faces.quality import assess, yaw_of

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
# Where the astronaut's face is in skimage's 512x512 picture (x, y, width, height), by eye.
ASTRONAUT_FACE = (170, 50, 110, 130)


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def _inside(point: tuple[float, float], box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def test_the_astronaut_is_found_with_her_landmarks(engine: FaceEngine, astronaut: np.ndarray) -> None:
    faces = engine.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
    assert _inside((cx, cy), ASTRONAUT_FACE)
    assert 70 <= face.box[2] <= 130
    assert len(face.landmarks) == 5
    (lx, ly), (rx, ry), nose, mouth_left, mouth_right = face.landmarks
    assert all(_inside(p, face.box) for p in face.landmarks)
    assert lx < nose[0] < rx  # the nose between the eyes, below them, above the mouth
    assert max(ly, ry) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_a_good_photo_passes_the_gate_with_a_unit_embedding(
    engine: FaceEngine, astronaut: np.ndarray
) -> None:
    seen = engine.analyse(astronaut)
    assert len(seen) == 1
    assert seen[0].quality.ok, seen[0].quality.as_json()
    assert seen[0].chip.shape == (150, 150, 3)
    assert seen[0].embedding is not None
    assert seen[0].embedding.shape == (128,)
    assert np.linalg.norm(seen[0].embedding) == pytest.approx(1.0, abs=1e-5)


def test_the_same_person_flipped_or_resized_scores_above_the_threshold(
    engine: FaceEngine, astronaut: np.ndarray
) -> None:
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    smaller = cv2.resize(astronaut, (300, 300), interpolation=cv2.INTER_AREA)
    for other in (flipped, smaller):
        result = engine.compare(astronaut, other)
        assert result.faces_found == (1, 1)
        assert result.score is not None
        assert result.score > engine.threshold
        assert result.same_person


@pytest.mark.skipif(not MESSI.is_file(), reason="Debian's opencv-doc is not installed")
def test_different_people_score_below_the_threshold(engine: FaceEngine, astronaut: np.ndarray) -> None:
    result = engine.compare(cv2.imread(str(MESSI)), astronaut)
    assert result.score is not None
    assert result.score < engine.threshold
    assert not result.same_person


def test_a_blurred_face_is_refused_with_the_reason(engine: FaceEngine, astronaut: np.ndarray) -> None:
    seen = engine.analyse(cv2.GaussianBlur(astronaut, (0, 0), 3))
    assert len(seen) == 1
    assert seen[0].quality.reasons == ("blurred",)
    assert seen[0].embedding is None
    ungated = engine.analyse(cv2.GaussianBlur(astronaut, (0, 0), 3), gate=False)
    assert ungated[0].embedding is not None  # still reported, and embedded when asked


def test_a_tiny_face_is_refused_as_too_small(engine: FaceEngine, astronaut: np.ndarray) -> None:
    seen = engine.analyse(cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA))
    assert len(seen) == 1
    assert "too_small" in seen[0].quality.reasons
    assert seen[0].embedding is None


def test_a_face_filling_the_frame_is_found_and_matched(engine: FaceEngine, astronaut: np.ndarray) -> None:
    # A portrait cut inside the face (72x47 px): RetinaFace finds it only with a border around the picture.
    portrait = np.ascontiguousarray(astronaut[80:152, 201:248])
    assert engine.detect(portrait, retry=False) == []
    faces = engine.detect(portrait)
    assert len(faces) == 1
    result = engine.compare(portrait, astronaut)
    assert result.score is not None
    assert result.score > engine.threshold


def test_a_small_face_is_found_in_the_enlarged_picture(engine: FaceEngine, astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (80, 80), interpolation=cv2.INTER_AREA)  # the face about 14 px wide
    assert engine.detect(small, retry=False) == []
    [face] = engine.detect(small)
    assert 10 <= face.box[2] <= 20
    assert all(_inside(p, face.box) for p in face.landmarks)


def test_a_picture_without_a_face_gives_no_score(engine: FaceEngine, astronaut: np.ndarray) -> None:
    coffee = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    assert engine.detect(coffee) == []
    result = engine.compare(coffee, astronaut)
    assert result.faces_found == (0, 1)
    assert result.score is None
    assert not result.same_person


@pytest.mark.parametrize(
    "garbage",
    [np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32), np.zeros((4, 4, 3), np.uint8), "x"],
)
def test_garbage_is_an_invalid_frame(engine: FaceEngine, garbage: object) -> None:
    with pytest.raises(InvalidFrame):
        engine.analyse(garbage)  # type: ignore[arg-type]
    with pytest.raises(InvalidFrame):
        engine.detect(garbage)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["retinaface", "mtcnn"])
def test_each_detector_plugin_finds_the_astronaut(kind: str, astronaut: np.ndarray) -> None:
    assert kind in DETECTORS.types()
    faces = build_detector({"type": kind}).detect(astronaut)
    assert len(faces) == 1
    centre = (faces[0].box[0] + faces[0].box[2] / 2, faces[0].box[1] + faces[0].box[3] / 2)
    assert _inside(centre, ASTRONAUT_FACE)
    assert len(faces[0].landmarks) == 5
    assert all(_inside(p, faces[0].box) for p in faces[0].landmarks)


def test_the_subject_in_the_centre_is_the_most_prominent_face(
    engine: FaceEngine, astronaut: np.ndarray
) -> None:
    # The astronaut centred in a frame (as in LFW), a smaller mirrored copy of her in a corner behind.
    canvas = np.full((700, 700, 3), 90, np.uint8)
    canvas[94:606, 94:606] = astronaut
    corner = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)[:, ::-1]
    canvas[0:200, 500:700] = corner
    seen = engine.analyse(canvas, gate=False)
    assert len(seen) == 2
    x, _, w, _ = seen[0].face.box
    assert 94 + ASTRONAUT_FACE[0] <= x + w / 2 <= 94 + ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]
    assert engine.best(canvas)[0] == 2


def test_evaluation_figures_on_known_scores() -> None:
    # Ten genuine pairs (0.91-0.99, one without a face), ten impostor pairs (0.80-0.88, and one at 0.95).
    genuine: list[float | None] = [0.91 + 0.01 * i for i in range(9)] + [None]
    impostor: list[float | None] = [0.80 + 0.01 * i for i in range(9)] + [0.95]
    result = evaluate(genuine + impostor, [True] * 10 + [False] * 10, threshold=0.92, groups=["a"] * 20)
    assert result.pairs == 20
    assert result.pairs_without_face == 1
    assert result.fmr == pytest.approx(0.1)  # 0.95
    assert result.fnmr == pytest.approx(0.2)  # 0.91 and the face not found
    assert result.accuracy == pytest.approx(0.85)
    assert result.tar_at_far_1pct is None  # 10 impostor pairs cannot measure 1 %
    assert result.groups[0].group == "a"
    assert result.groups[0].fmr == pytest.approx(0.1)
    assert set(result.as_json()) >= {"cv_accuracy", "tar_at_far_0_1pct", "fmr", "fnmr", "groups"}


def test_tar_at_far_takes_the_lowest_threshold_within_the_rate() -> None:
    impostor = [i / 1000 for i in range(1000)]  # 0.000 .. 0.999
    genuine = [0.9985, 0.9995, 0.995, 0.95, 0.5]
    result = evaluate(genuine + impostor, [True] * 5 + [False] * 1000, threshold=0.5)
    assert result.threshold_at_far_0_1pct is not None
    assert 0.998 < result.threshold_at_far_0_1pct < 0.9985  # only the 0.999 impostor at or above it
    assert result.tar_at_far_0_1pct == pytest.approx(0.4)
    assert result.threshold_at_far_1pct is not None
    assert 0.989 < result.threshold_at_far_1pct < 0.990  # ten impostors (0.990-0.999) at or above it
    assert result.tar_at_far_1pct == pytest.approx(0.6)
    assert result.cv_accuracy > 0.99


def test_a_face_turned_away_is_refused(engine: FaceEngine, astronaut: np.ndarray) -> None:
    # No packaged photo shows a profile: the gate is fed the astronaut's chip with landmarks of a turned head
    # (the nose level with the far eye), as the landmarks of a real profile place it.
    chip = engine.analyse(astronaut)[0].chip
    yaw = yaw_of(((60.0, 70.0), (90.0, 70.0)), (92.0, 85.0))
    assert yaw == 1.0
    quality = assess(chip, size=95, yaw=yaw, settings=engine.settings.quality)
    assert quality.reasons == ("turned_away",)
    assert assess(
        chip,
        size=95,
        yaw=yaw_of(((60.0, 70.0), (90.0, 70.0)), (76.0, 85.0)),
        settings=engine.settings.quality,
    ).ok
