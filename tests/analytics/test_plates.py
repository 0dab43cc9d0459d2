"""Plate reading: Pakistani plates rendered with Debian's fonts onto a real photo, read by API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from typer.testing import CliRunner

from safecity.analytics.plates import PlateReader, build_reader
from safecity.analytics.plates.layouts import chars_of, correct, load_layouts
from safecity.cli import app
from safecity.video.demo import FONT, PHOTO, plate_card

pytestmark = pytest.mark.skipif(not (PHOTO.is_file() and FONT.is_file()), reason="darknet/dejavu missing")


def _on_photo(rows: list[str], at: tuple[int, int] = (460, 120)) -> np.ndarray:
    photo = cv2.imread(str(PHOTO))
    plate = plate_card(rows)
    x, y = at
    photo[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    return photo


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return build_reader({"type": "rapidocr"})


def test_rendered_punjab_plate_is_read_exactly_by_the_api(reader: PlateReader) -> None:
    plates = reader.read(_on_photo(["LEA-1234"]))
    assert [p.text for p in plates] == ["LEA1234"]
    assert plates[0].jurisdiction == "Punjab"
    assert len(plates[0].char_confidences) == 7
    x, y, w, h = plates[0].box
    assert 440 <= x <= 480 and 100 <= y <= 140 and w > 3 * h


def test_two_row_motorcycle_plate_is_read_top_then_bottom(reader: PlateReader) -> None:
    plates = reader.read(_on_photo(["LEB", "1234"]))
    assert [p.text for p in plates] == ["LEB1234"]


def test_the_regions_plate_comes_before_a_phone_number_read_as_well(reader: PlateReader) -> None:
    photo = _on_photo(["LEA-1234"])
    sticker = plate_card(["0300 1234567"], 30)  # a dealer's phone number: all digits, fits a foreign layout
    photo[300 : 300 + sticker.shape[0], 420 : 420 + sticker.shape[1]] = sticker
    plates = reader.read(photo, "PK")
    assert [p.text for p in plates] == ["LEA1234", "03001234567"]
    assert reader.read(photo, "DZ")[0].text == "03001234567"  # an all-digit Algerian plate there


def test_a_two_row_plate_crop_is_read_top_then_bottom(reader: PlateReader) -> None:
    crop = plate_card(["LEB", "1234"])
    plate = reader.read_crop(crop)
    assert plate is not None and plate.text == "LEB1234"
    one_row = reader.read_crop(plate_card(["LEA-1234"]))
    assert one_row is not None and one_row.text == "LEA1234"


def test_photo_without_a_plate_gives_no_plate(reader: PlateReader) -> None:
    assert reader.read(cv2.imread(str(PHOTO))) == []


def test_non_latin_text_is_not_a_plate(reader: PlateReader) -> None:
    photo = cv2.imread(str(PHOTO))
    card = PILImage.new("RGB", (360, 70), "white")
    ImageDraw.Draw(card).text((10, 8), "Привет мир 42", fill="black", font=ImageFont.truetype(str(FONT), 40))
    sign = cv2.cvtColor(np.asarray(card), cv2.COLOR_RGB2BGR)
    photo[130:200, 400:760] = sign
    assert reader.read(photo) == []


def test_lookalike_swaps_are_resolved_by_position() -> None:
    assert correct(chars_of("LEA-I2E4")).text != "LEA1234"  # E is no digit look-alike: not forced
    assert correct(chars_of("L5A-1234")).text == "LSA1234"
    assert correct(chars_of("BKM-I25")).text == "BKM125"
    assert correct(chars_of("AND1H1689"), "IN").text == "AN01H1689"
    assert correct(chars_of("5AU5341")).text == "5AU5341"  # a foreign layout keeps its shape
    assert correct(chars_of("XYWVKX"), "PK").layout == "unknown"


def test_an_emblem_read_as_a_character_is_trimmed_and_state_codes_are_preferred() -> None:
    # the "IND" strip at the left of an Indian plate is often read as one more letter
    assert correct(chars_of("FBR33M0001", 0.9), "IN", trim=True).text == "BR33M0001"
    assert correct(chars_of("FBR33M0001", 0.9), "IN").text != "BR33M0001"  # only when asked
    assert correct(chars_of("DL8CAU6883"), "IN", trim=True).layout == "india-delhi"
    assert correct(chars_of("KL34A7564"), "IN", trim=True).layout == "india"
    assert correct(chars_of("QX34A7564"), "IN", trim=True).layout == "india-other"  # no such state


def test_every_layout_file_loads() -> None:
    jurisdictions = {layout.jurisdiction for layout in load_layouts()}
    assert {
        "Punjab",
        "Sindh",
        "Khyber Pakhtunkhwa",
        "Balochistan",
        "Islamabad",
        "Personalised",
    } <= jurisdictions


def test_cli_reads_plates_and_reports_a_corrupt_file(tmp_path: Path) -> None:
    good = tmp_path / "car.png"
    cv2.imwrite(str(good), _on_photo(["LEA-1234"]))
    empty = tmp_path / "dog.jpg"
    cv2.imwrite(str(empty), cv2.imread(str(PHOTO)))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8not a jpeg")
    result = CliRunner().invoke(app, ["plates", "read", str(good), str(broken), str(empty), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["image"] == str(good)
    assert [p["text"] for p in lines[0]["plates"]] == ["LEA1234"]
    assert set(lines[0]["plates"][0]) == {"text", "confidence", "box", "layout", "jurisdiction"}
    assert lines[1] == {"image": str(empty), "plates": []}
    assert "broken.jpg" in result.stderr
