"""`safecity analytics detect`: one JSON line per picture in the documented shape; exit 1 on a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from safecity.cli import app

runner = CliRunner()


def test_detect_prints_one_json_line_per_picture_and_fails_on_a_file_that_is_not_one(
    tmp_path: Path, dog_image: np.ndarray
) -> None:
    picture = tmp_path / "dog.png"
    cv2.imwrite(str(picture), dog_image)
    broken = tmp_path / "notes.jpg"
    broken.write_text("not a picture")
    result = runner.invoke(
        app, ["analytics", "detect", "--json", str(broken), str(picture), str(tmp_path / "gone.png")]
    )
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert list(line) == ["image", "width", "height", "detections"]
    assert (line["image"], line["width"], line["height"]) == (str(picture), 768, 576)
    for found in line["detections"]:
        assert list(found) == ["class", "score", "box", "colour", "colour_confidence"]
        assert all(isinstance(v, int) for v in found["box"])
        assert 0 <= found["box"][0] < found["box"][2] <= 768 and 0 <= found["box"][1] < found["box"][3] <= 576
    classes = {f["class"] for f in line["detections"]}
    assert "bicycle" in classes and classes & {"car", "truck"}
    assert "dog" not in classes  # the pipeline reports road users, not everything the model knows
    pickup = next(f for f in line["detections"] if f["class"] in ("car", "truck"))
    assert pickup["colour"] == "white"
    assert str(broken) in result.stderr and "gone.png" in result.stderr


def test_detect_without_json_prints_a_table(tmp_path: Path, dog_image: np.ndarray) -> None:
    picture = tmp_path / "dog.jpg"
    cv2.imwrite(str(picture), dog_image)
    result = runner.invoke(app, ["analytics", "detect", str(picture)])
    assert result.exit_code == 0, result.output
    assert "bicycle" in result.stdout and "white" in result.stdout
