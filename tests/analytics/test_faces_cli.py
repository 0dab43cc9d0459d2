"""`safecity faces compare` and `safecity faces evaluate` on real pictures from packages."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from safecity.cli import app

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
KEYS = {"a", "b", "score", "same_person", "threshold", "faces_found"}

pytestmark = pytest.mark.skipif(not MESSI.is_file(), reason="Debian's opencv-doc is not installed")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """astronaut.png, its mirror image, a smaller copy, messi.jpg and its mirror, a broken file."""
    folder = tmp_path_factory.mktemp("faces")
    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    messi = cv2.imread(str(MESSI))
    cv2.imwrite(str(folder / "astronaut.png"), astronaut)
    cv2.imwrite(str(folder / "astronaut_mirror.png"), astronaut[:, ::-1])
    cv2.imwrite(str(folder / "astronaut_small.jpg"), cv2.resize(astronaut, (300, 300)))
    cv2.imwrite(str(folder / "messi.jpg"), messi)
    cv2.imwrite(str(folder / "messi_mirror.jpg"), messi[:, ::-1])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    return folder


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_compare_two_pictures(pictures: Path) -> None:
    a, b = str(pictures / "astronaut.png"), str(pictures / "astronaut_mirror.png")
    result = CliRunner().invoke(app, ["faces", "compare", a, b, "--json"])
    assert result.exit_code == 0, result.output
    [line] = _lines(result.stdout)
    assert set(line) == KEYS
    assert line["a"] == a
    assert line["b"] == b
    assert isinstance(line["score"], float)
    assert line["score"] > line["threshold"]
    assert line["same_person"] is True
    assert line["threshold"] == 0.92
    assert line["faces_found"] == [1, 1]


def test_compare_pairs_with_a_header_and_relative_paths(pictures: Path, tmp_path: Path) -> None:
    listing = pictures / "pairs_header.csv"
    listing.write_text(
        "image_a,image_b,note\n"
        "astronaut.png,astronaut_small.jpg,same\n"
        "messi.jpg,astronaut.png,different\n"
        "messi.jpg,messi_mirror.jpg,same\n"
    )
    result = CliRunner().invoke(app, ["faces", "compare", "--pairs", str(listing), "--json"])
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert [(line["a"], line["b"]) for line in lines] == [
        ("astronaut.png", "astronaut_small.jpg"),
        ("messi.jpg", "astronaut.png"),
        ("messi.jpg", "messi_mirror.jpg"),
    ]
    assert all(set(line) == KEYS for line in lines)
    assert [line["same_person"] for line in lines] == [True, False, True]
    assert all(line["faces_found"] == [1, 1] for line in lines)


def test_compare_pairs_without_a_header_and_an_unreadable_picture(pictures: Path, tmp_path: Path) -> None:
    listing = tmp_path / "pairs.csv"  # in another folder: absolute paths, and one that is no picture
    listing.write_text(
        f"{pictures / 'astronaut.png'},{pictures / 'astronaut_mirror.png'}\n"
        f"{pictures / 'broken.jpg'},{pictures / 'astronaut.png'}\n"
        f"{pictures / 'astronaut_small.jpg'},{pictures / 'messi.jpg'}\n"
    )
    result = CliRunner().invoke(app, ["faces", "compare", "--pairs", str(listing), "--json"])
    assert result.exit_code == 1
    lines = _lines(result.stdout)
    assert len(lines) == 3  # every pair has its line, the unreadable one included
    assert lines[0]["same_person"] is True
    assert lines[1] == {
        "a": str(pictures / "broken.jpg"),
        "b": str(pictures / "astronaut.png"),
        "score": None,
        "same_person": False,
        "threshold": 0.92,
        "faces_found": [-1, 1],
    }
    assert lines[2]["same_person"] is False
    assert isinstance(lines[2]["score"], float)
    assert "broken.jpg" in result.stderr


def test_compare_as_a_table_and_refuses_wrong_arguments(pictures: Path) -> None:
    a, b = str(pictures / "astronaut.png"), str(pictures / "messi.jpg")
    result = CliRunner().invoke(app, ["faces", "compare", a, b])
    assert result.exit_code == 0, result.output
    assert "threshold 0.920" in result.stdout
    assert "no" in result.stdout
    assert CliRunner().invoke(app, ["faces", "compare", a]).exit_code == 2


def test_evaluate_a_labelled_folder(pictures: Path, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    rows = ["file,identity,group"]
    for name, identity in (
        ("astronaut.png", "eileen"),
        ("astronaut_mirror.png", "eileen"),
        ("astronaut_small.jpg", "eileen"),
        ("messi.jpg", "lionel"),
        ("messi_mirror.jpg", "lionel"),
    ):
        (folder / name).write_bytes((pictures / name).read_bytes())
        rows.append(f"{name},{identity},{identity[0]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(app, ["faces", "evaluate", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["genuine_pairs"] == 4  # three of her, one of him
    assert figures["impostor_pairs"] == 4
    assert figures["pairs_without_face"] == 0
    assert figures["accuracy"] == 1.0
    assert figures["fmr"] == 0.0
    assert figures["fnmr"] == 0.0
    assert figures["tar_at_far_1pct"] is None  # four impostor pairs cannot measure 1 %
    assert [g["group"] for g in figures["groups"]] == ["e", "l"]
    assert figures["groups"][0]["genuine_pairs"] == 3
    table = CliRunner().invoke(app, ["faces", "evaluate", str(folder)])
    assert "10-fold accuracy" in table.stdout
    assert CliRunner().invoke(app, ["faces", "evaluate", str(tmp_path)]).exit_code == 2


def test_a_picture_too_large_to_be_a_photo_is_refused(pictures: Path, tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    cv2.imwrite(str(huge), np.zeros((16, 9000, 3), np.uint8))  # small file, 9000 px wide
    result = CliRunner().invoke(
        app, ["faces", "compare", str(huge), str(pictures / "astronaut.png"), "--json"]
    )
    assert result.exit_code == 1
    [line] = _lines(result.stdout)
    assert line["score"] is None
    assert line["faces_found"] == [-1, 1]
    assert "huge.png" in result.stderr


def test_evaluate_publishes_its_figures_on_the_rates_page(
    pictures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    rows = ["file,identity"]
    for name, identity in (("astronaut.png", "e"), ("astronaut_small.jpg", "e"), ("messi.jpg", "l")):
        (folder / name).write_bytes((pictures / name).read_bytes())
        rows.append(f"{name},{identity}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("SAFECITY_DATABASE_URL", f"sqlite:///{tmp_path / 'safecity.db'}")
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    assert CliRunner().invoke(app, ["migrate"]).exit_code == 0
    result = CliRunner().invoke(app, ["faces", "evaluate", str(folder), "--publish", "Packaged photos"])
    assert result.exit_code == 0, result.output

    from safecity.config import load_settings
    from safecity.core.db import create_db_engine, create_session_factory
    from safecity.faces import service as faces

    engine = create_db_engine(load_settings().effective_database_url)
    try:
        with create_session_factory(engine)() as session:
            published = faces.latest_evaluation(session=session)
            assert published is not None
            assert (published.dataset, published.pairs, published.published_by) == (
                "Packaged photos",
                2,
                "system",
            )
            assert published.accuracy == 1.0 and published.threshold == 0.92
    finally:
        engine.dispose()
