"""The face engine: detect, align, gate on quality, embed, compare.

    picture ─ detector plugin (RetinaFace) ─▶ boxes ─ dlib 5-point landmarks ─▶ aligned 150 px face
            ─ quality gate ─▶ dlib ResNet (128-d, LFW 99.38 % published) ─▶ L2-normalised embedding

Two faces' score is the cosine similarity of their embeddings; the same person when it reaches the
threshold. One engine is used by one thread at a time (dlib's models are not shared across threads).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import dlib
import numpy as np

from safecity.analytics import catalog
from safecity.analytics.detectors.base import check_image
from safecity.analytics.faces.base import FaceDetector, build_detector
from safecity.analytics.faces.quality import assess, yaw_of
from safecity.analytics.faces.types import Comparison, Embedding, Face, FaceSeen
from safecity.analytics.types import Image
from safecity.config import FaceSettings

CHIP_SIZE = 150  # what dlib's ResNet was trained on
CHIP_PADDING = 0.25
PORTRAIT_BORDER = 0.25  # of the picture's longer side, around a picture in which no face was found
UPSCALE = 2.0  # then the picture enlarged this much (at most to the detector's working size)


class FaceEngine:
    """Finds, aligns, checks and embeds faces; compares two pictures."""

    def __init__(self, settings: FaceSettings | None = None, detector: FaceDetector | None = None) -> None:
        self.settings = settings or FaceSettings()
        self.detector = detector or build_detector(self.settings.detector)
        landmarks, resnet = catalog.locate(catalog.spec("dlib_resnet"))
        self._landmarks = dlib.shape_predictor(str(landmarks))
        self._resnet = dlib.face_recognition_model_v1(str(resnet))

    @property
    def threshold(self) -> float:
        """The score at or above which two faces are taken for the same person."""
        return self.settings.threshold

    def detect(self, image: Image, *, retry: bool = True) -> list[Face]:
        """Every face in a BGR picture, best score first.

        When the detector finds none and `retry` is on, it tries again on the picture framed by a black
        border (a portrait whose face fills the frame gives the detector no context around the face), then
        on the picture enlarged (faces too small for the detector's anchors). Live video passes
        retry=False: most frames hold no face, and each retry costs about one more detection.
        """
        picture = check_image(image)
        found = self.detector.detect(picture)
        if found or not retry:
            return found
        height, width = picture.shape[:2]
        border = round(max(height, width) * PORTRAIT_BORDER)
        framed = cv2.copyMakeBorder(picture, border, border, border, border, cv2.BORDER_CONSTANT, value=0)
        found = [_moved(f, -border, 1.0) for f in self.detector.detect(np.asarray(framed))]
        if found:
            return found
        factor = min(UPSCALE, self.detector.config.max_side / max(height, width))
        if factor < 1.5:  # the detector would scale it straight back down
            return []
        size = (round(width * factor), round(height * factor))
        larger = np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
        return [_moved(f, 0, 1 / factor) for f in self.detector.detect(larger)]

    def analyse(
        self, image: Image, faces: list[Face] | None = None, *, gate: bool = True, retry: bool = True
    ) -> list[FaceSeen]:
        """Each face aligned, assessed and (when it passes the gate, or `gate` is off) embedded.

        Args:
            image: a BGR picture.
            faces: faces already found in it (default: detect them).
            gate: False embeds faces the quality gate refused too (their reasons are still reported).
            retry: False for live video frames (see `detect`).

        Returns:
            One FaceSeen per face, the most prominent (largest, nearest the centre) first.
        """
        return [
            replace(seen, embedding=self.embedding(seen)) if seen.quality.ok or not gate else seen
            for seen in self.assess(image, faces, retry=retry)
        ]

    def assess(self, image: Image, faces: list[Face] | None = None, *, retry: bool = True) -> list[FaceSeen]:
        """Each face aligned and assessed, not embedded (a few ms a face; the embedding costs about 80):
        as `analyse`, for callers that choose which faces to embed.
        """
        picture = check_image(image)
        found = self.detect(picture, retry=retry) if faces is None else faces
        height, width = picture.shape[:2]
        rgb = np.ascontiguousarray(picture[:, :, ::-1])
        ranked = sorted(found, key=lambda f: -_prominence(f, width, height))
        return [self._assess(rgb, face) for face in ranked]

    def embedding(self, seen: FaceSeen) -> Embedding:
        """A face's embedding, from its aligned crop (whatever its quality)."""
        rgb = np.ascontiguousarray(seen.chip[:, :, ::-1])
        vector = np.asarray(self._resnet.compute_face_descriptor(rgb), dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def best(self, image: Image) -> tuple[int, Embedding | None]:
        """How many faces a picture shows, and the embedding of the most prominent (quality gate off).

        Only that face is aligned and embedded, so a crowd behind the subject costs detection only.
        """
        picture = check_image(image)
        found = self.detect(picture)
        if not found:
            return 0, None
        height, width = picture.shape[:2]
        subject = max(found, key=lambda f: _prominence(f, width, height))
        return len(found), self.embedding(self.assess(picture, [subject])[0])

    def compare(self, a: Image, b: Image) -> Comparison:
        """The most prominent face of each picture compared (quality gate off: a score is always given)."""
        (found_a, first), (found_b, second) = self.best(a), self.best(b)
        score = None if first is None or second is None else self.score(first, second)
        return Comparison(score=score, threshold=self.threshold, faces_found=(found_a, found_b))

    @staticmethod
    def score(a: Embedding, b: Embedding) -> float:
        """Cosine similarity of two embeddings: 1 identical; different people measured 0.82-0.89 on ORL."""
        return float(np.dot(a, b))

    def _assess(self, rgb: Image, face: Face) -> FaceSeen:
        x, y, w, h = face.box
        shape = self._landmarks(rgb, dlib.rectangle(x, y, x + w, y + h))
        parts = [(float(p.x), float(p.y)) for p in shape.parts()]
        eyes = (_mid(parts[0], parts[1]), _mid(parts[2], parts[3]))  # dlib's 5 points: eye corners, nose
        chip = np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        quality = assess(chip[:, :, ::-1], size=w, yaw=yaw_of(eyes, parts[4]), settings=self.settings.quality)
        return FaceSeen(
            face=face, quality=quality, chip=np.ascontiguousarray(chip[:, :, ::-1]), embedding=None
        )


def _moved(face: Face, shift: int, factor: float) -> Face:
    """A face found in a framed or scaled copy, in the original picture's pixels."""
    x, y, w, h = face.box
    box = (round((x + shift) * factor), round((y + shift) * factor), round(w * factor), round(h * factor))
    points = tuple(((px + shift) * factor, (py + shift) * factor) for px, py in face.landmarks)
    return Face(box, face.score, points)


def _mid(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def _prominence(face: Face, width: int, height: int) -> float:
    """Bigger and nearer the centre is more prominent (the subject of a portrait, not a bystander)."""
    x, y, w, h = face.box
    off = np.hypot((x + w / 2) / width - 0.5, (y + h / 2) / height - 0.5)
    return float(w * h * (1.0 - off))
