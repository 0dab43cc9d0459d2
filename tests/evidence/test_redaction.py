"""Privacy redaction on real pictures: the astronaut's face and a plate rendered onto Debian's darknet photo,
a video encoded with PyAV in which the face walks across the photo; blurred copies measured, originals
hashed before and after.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from redaction_media import (
    ASTRONAUT_FACE,
    FPS,
    FRAMES,
    PLATE_AT,
    astronaut,
    photo_with_plate,
    true_face,
    write_walk,
)

from safecity.core.errors import InvalidInput
from safecity.evidence.redaction import (
    Detectors,
    RedactionPlan,
    Region,
    find_regions,
    plan_image,
    plan_video,
    preview,
    redact_image,
    redact_video,
    regions_of,
)
from safecity.video.demo import FONT, PHOTO

pytestmark = pytest.mark.skipif(not (PHOTO.is_file() and FONT.is_file()), reason="darknet/dejavu missing")


def _sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    gray = cv2.cvtColor(image[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inside(box: tuple[int, int, int, int], margin: float = 0.15) -> tuple[int, int, int, int]:
    """The box without its edges (blur bleeds a pixel or two, pixelation cells meet there)."""
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    return (x + dx, y + dy, w - 2 * dx, h - 2 * dy)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def detectors() -> Detectors:
    return Detectors()


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An H.264 MP4 (10 fps, 4 s, a key frame a second) of the astronaut's head crossing the photo."""
    return write_walk(tmp_path_factory.mktemp("walk") / "walk.mp4")


@pytest.fixture(scope="module")
def plan(walk: Path, detectors: Detectors) -> RedactionPlan:
    return plan_video(walk, sample_every_s=0.3, detectors=detectors)


def test_the_astronauts_face_is_found(detectors: Detectors) -> None:
    regions = find_regions(astronaut(), detectors=detectors)
    faces = [r for r in regions if r.kind == "face"]
    assert len(faces) == 1 and faces[0].blur and faces[0].score > 0.9
    x, y, w, h = faces[0].box
    fx, fy, fw, fh = ASTRONAUT_FACE
    assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh  # padded around the face
    assert w < 2 * fw and h < 2 * fh


def test_a_plate_on_a_vehicle_photo_is_found_and_the_photo_alone_has_none(detectors: Detectors) -> None:
    plates = [r for r in find_regions(photo_with_plate(), detectors=detectors) if r.kind == "plate"]
    assert len(plates) == 1
    x, y, w, h = plates[0].box
    assert x <= PLATE_AT[0] + 25 and y <= PLATE_AT[1] + 15 and w > 3 * h
    assert [r for r in find_regions(cv2.imread(str(PHOTO)), detectors=detectors) if r.kind == "plate"] == []


def test_redacted_image_blurs_the_face_and_leaves_the_rest_and_the_original(
    tmp_path: Path, detectors: Detectors
) -> None:
    src = tmp_path / "astronaut.png"
    cv2.imwrite(str(src), astronaut())
    before = _digest(src)
    regions = find_regions(cv2.imread(str(src)), detectors=detectors)
    dst = redact_image(src, tmp_path / "redacted.png", regions)
    assert _digest(src) == before
    original, redacted = cv2.imread(str(src)), cv2.imread(str(dst))
    assert redacted.shape == original.shape
    face = _inside(ASTRONAUT_FACE)
    assert _sharpness(redacted, face) < 0.05 * _sharpness(original, face)
    elsewhere = (330, 250, 150, 200)  # the suit and the flag, well away from the face
    assert _sharpness(redacted, elsewhere) == pytest.approx(_sharpness(original, elsewhere), rel=0.01)


def test_a_region_with_its_blur_removed_stays_sharp(tmp_path: Path) -> None:
    src = tmp_path / "astronaut.png"
    cv2.imwrite(str(src), astronaut())
    kept = Region(kind="face", box=ASTRONAUT_FACE, score=0.99, blur=False)
    manual = Region(kind="manual", box=(330, 250, 150, 200))
    dst = redact_image(src, tmp_path / "out.jpg", [kept, manual])
    original, redacted = cv2.imread(str(src)), cv2.imread(str(dst))
    face = _inside(ASTRONAUT_FACE)
    assert _sharpness(redacted, face) > 0.6 * _sharpness(original, face)  # JPEG at 95 only
    assert _sharpness(redacted, _inside(manual.box)) < 0.05 * _sharpness(original, _inside(manual.box))


def test_a_copy_never_replaces_its_original(tmp_path: Path) -> None:
    src = tmp_path / "astronaut.png"
    cv2.imwrite(str(src), astronaut())
    with pytest.raises(InvalidInput):
        redact_image(src, src, [Region(kind="manual", box=(0, 0, 50, 50))])


def test_the_walking_face_is_one_region_track_and_the_plate_another(plan: RedactionPlan) -> None:
    # every sample's detection of the walking face belongs to one track (the dog may be taken for a face
    # in a frame or two: a track of its own, which the reviewer would untick)
    walking = [
        t
        for t in plan.tracks
        if t.kind == "face" and any(_overlap(k.box, true_face(round(k.t * FPS))) > 0.3 for k in t.keys)
    ]
    assert len(walking) == 1, [(t.id, t.start, t.end) for t in walking]
    assert len([t for t in plan.tracks if t.kind == "plate"]) == 1
    face = walking[0]
    assert face.id == "f1" and face.blur and face.score > 0.95
    assert face.start == 0.0 and face.end >= (FRAMES - 1) / FPS - 0.01
    assert len(face.keys) >= 10 and [k.t for k in face.keys] == sorted(k.t for k in face.keys)
    assert face.keys[-1].box[0] - face.keys[0].box[0] > 300  # it followed the face across the picture
    assert face.thumbnail.startswith("data:image/jpeg;base64,")
    assert (plan.width, plan.height, plan.fps) == (768, 576, FPS)
    assert plan.samples >= 12


def test_interpolated_boxes_cover_the_face_in_every_frame(plan: RedactionPlan) -> None:
    face = plan.track("f1")
    for i in range(FRAMES):
        box = face.box_at(i / FPS)
        assert box is not None
        x, y, w, h = box
        tx, ty, tw, th = _inside(true_face(i), 0.05)
        assert x <= tx and y <= ty and x + w >= tx + tw and y + h >= ty + th, (i, box, true_face(i))


def test_a_plan_survives_json_and_is_editable(plan: RedactionPlan) -> None:
    stored = plan.model_dump(mode="json")
    again = RedactionPlan.model_validate(stored)
    assert again == plan
    again.set_blur("f1", False)
    manual = again.add_manual((300, 300, 80, 60), 1.0, 2.0)
    assert manual.id == "m1" and manual.box_at(1.5) == (300, 300, 80, 60) and manual.box_at(2.5) is None
    assert RedactionPlan.model_validate(again.model_dump(mode="json")).track("f1").blur is False
    with pytest.raises(InvalidInput):
        again.add_manual((900, 900, 10, 10), 0.0, 1.0)
    with pytest.raises(InvalidInput):
        again.remove_manual("f1")
    again.remove_manual("m1")
    assert [t.id for t in again.tracks] == [t.id for t in plan.tracks]


def test_redacted_video_blurs_the_face_in_every_frame_and_keeps_the_original(
    walk: Path, plan: RedactionPlan, tmp_path: Path
) -> None:
    before = _digest(walk)
    seen: list[float] = []
    out = redact_video(walk, tmp_path / "redacted.mp4", plan, progress=seen.append)
    assert _digest(walk) == before
    assert seen[-1] == 1.0 and seen == sorted(seen)
    original, redacted = _decode(walk), _decode(out)
    assert len(redacted) == len(original) == FRAMES
    assert redacted[0].shape == original[0].shape
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == FPS
    head = out.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    for i in range(0, FRAMES, 3):
        face = _inside(true_face(i))
        assert _sharpness(redacted[i], face) < 0.1 * _sharpness(original[i], face), i
        truck = (470, 90, 200, 30)  # above the plate, below nothing that moves
        assert _sharpness(redacted[i], truck) > 0.7 * _sharpness(original[i], truck), i


def test_a_region_kept_sharp_and_a_manual_box_blurred_in_its_span_only(
    walk: Path, plan: RedactionPlan, tmp_path: Path
) -> None:
    edited = plan.model_copy(deep=True)
    edited.set_blur("f1", False)
    manual = edited.add_manual((60, 420, 200, 120), 1.0, 2.0)  # the bicycle's lower part
    out = redact_video(walk, tmp_path / "edited.mp4", edited)
    original, redacted = _decode(walk), _decode(out)
    for i in (5, 15, 25, 35):
        face = _inside(true_face(i))
        assert _sharpness(redacted[i], face) > 0.6 * _sharpness(original[i], face), i
    box = _inside(manual.keys[0].box)
    for i in range(FRAMES):
        ratio = _sharpness(redacted[i], box) / _sharpness(original[i], box)
        if 1.0 <= i / FPS <= 2.0:
            assert ratio < 0.1, (i, ratio)
        else:
            assert ratio > 0.6, (i, ratio)


def test_progress_runs_to_one_and_a_preview_draws_the_regions(walk: Path, detectors: Detectors) -> None:
    seen: list[float] = []
    plan = plan_video(walk, sample_every_s=1.0, progress=seen.append, detectors=detectors)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 4
    face = plan.track("f1")
    jpeg = preview(walk, plan, face.key_t)
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (576, 768, 3)
    x, y, w, _ = face.box_at(face.key_t) or (0, 0, 0, 0)
    edge = picture[y, x + w // 2]
    assert edge[2] > 150 and edge[1] < 120  # the red outline of a blurred region


def test_a_pictures_plan_is_reviewed_like_a_videos(tmp_path: Path, detectors: Detectors) -> None:
    picture = photo_with_plate()
    plan = plan_image(picture, detectors=detectors)
    assert [t.id for t in plan.tracks] == ["p1"] and plan.duration == 0
    plan.set_blur("p1", False)
    plan.add_manual((60, 420, 200, 120), 0.0, 0.0)
    regions = regions_of(plan)
    assert [(r.kind, r.blur) for r in regions] == [("plate", False), ("manual", True)]
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), picture)
    out = cv2.imread(str(redact_image(src, tmp_path / "out.png", regions)))
    plate, manual = _inside(regions[0].box), _inside(regions[1].box)
    assert _sharpness(out, plate) == pytest.approx(_sharpness(picture, plate))
    assert _sharpness(out, manual) < 0.05 * _sharpness(picture, manual)


def test_something_not_a_video_is_refused(tmp_path: Path, detectors: Detectors) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InvalidInput):
        plan_video(bad, detectors=detectors)


def test_a_cameras_privacy_masks_are_black_in_every_exported_frame(
    walk: Path, plan: RedactionPlan, tmp_path: Path
) -> None:
    window = ((0.0, 0.0), (0.25, 0.0), (0.25, 0.25), (0.0, 0.25))  # a home's window, top left
    out = redact_video(walk, tmp_path / "masked.mp4", plan, masks=(window,))
    original, redacted = _decode(walk), _decode(out)
    height, width = original[0].shape[:2]
    inside = (slice(4, height // 4 - 4), slice(4, width // 4 - 4))
    for i in range(0, FRAMES, 5):
        assert redacted[i][inside].max() < 40, i  # black, whatever the recording shows there
        assert original[i][inside].std() > 10  # and there was a picture there
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), original[0])
    still = cv2.imread(str(redact_image(picture, tmp_path / "still-masked.png", [], masks=(window,))))
    assert still is not None and still[inside].max() == 0
