"""Combining a pass's plate reads: per character, weighted by confidence; unreadable stays unreadable."""

from __future__ import annotations

import pytest

from safecity.analytics.plates.types import UNKNOWN, PlateRead
from safecity.analytics.plates.voting import combine

FLOOR = 0.6


def read(text: str | None, probs: list[float], alternatives: tuple[tuple[str, float], ...] = ()) -> PlateRead:
    confidence = sum(probs) / len(probs) if probs else 0.3
    return PlateRead(
        text=text,
        confidence=confidence,
        char_confidences=tuple(probs),
        box=(10, 20, 120, 30),
        layout="punjab" if text else UNKNOWN,
        jurisdiction="Punjab" if text else UNKNOWN,
        raw=text or "?",
        alternatives=alternatives,
    )


def sure(text: str, doubtful: dict[int, float] | None = None) -> PlateRead:
    """A read of `text`, sure of every character but the `doubtful` positions (position: confidence)."""
    return read(text, [(doubtful or {}).get(i, 0.95) for i in range(len(text))])


def test_noisy_reads_each_wrong_somewhere_combine_into_the_right_plate() -> None:
    reads = [sure("LEA1284", {5: 0.5}), sure("LEB1234", {2: 0.45}), sure("LEA1734", {4: 0.4})]
    assert all(r.text != "LEA1234" for r in reads)  # no single frame read it right
    vote = combine(reads, region="PK", floor=FLOOR)
    assert vote.text == "LEA1234"
    assert vote.jurisdiction == "Punjab" and vote.layout != UNKNOWN
    assert vote.frames == 3
    assert len(vote.char_confidences) == 7
    # Where all agreed the character is sure; where one disagreed it is worth two thirds of the reads.
    assert vote.char_confidences[0] == pytest.approx(0.95)
    assert vote.char_confidences[5] == pytest.approx(2 * 0.95 / 3, abs=1e-3)
    assert FLOOR <= vote.confidence < 0.95
    assert {text for text, _ in vote.alternatives} == {"LEA1284", "LEB1234", "LEA1734"}
    assert all(0 < c <= 1 for _, c in vote.alternatives)


def test_a_confident_read_outweighs_two_doubtful_ones_at_a_position() -> None:
    reads = [sure("LEA1234", {4: 0.95}), sure("LEA1834", {4: 0.3}), sure("LEA1834", {4: 0.3})]
    assert combine(reads, region="PK", floor=FLOOR).text == "LEA1234"


def test_the_best_supported_length_wins_and_its_best_read_is_the_picture() -> None:
    reads = [sure("LEA1234"), sure("LEA123", {0: 0.99}), read("LEA1234", [0.99] * 7), sure("LEA1234")]
    vote = combine(reads, region="PK", floor=FLOOR)
    assert vote.text == "LEA1234"
    assert vote.best == 2  # the most confident read of the winning text
    assert "LEA123" in {text for text, _ in vote.alternatives}


def test_unreadable_reads_stay_unreadable() -> None:
    vote = combine([read(None, [0.4] * 7), read(None, [0.5] * 7)], region="PK", floor=FLOOR)
    assert vote.text is None
    assert vote.layout == UNKNOWN and vote.jurisdiction == UNKNOWN
    assert vote.alternatives == ()
    assert vote.frames == 2 and vote.best == 1


def test_reads_that_disagree_everywhere_are_unreadable_not_guessed() -> None:
    reads = [sure("LEA1234", dict.fromkeys(range(7), 0.5)), sure("KHB5678", dict.fromkeys(range(7), 0.5))]
    vote = combine(reads, region="PK", floor=FLOOR)
    assert vote.text is None
    assert vote.confidence < FLOOR
    assert vote.alternatives == ()


def test_a_single_read_is_kept_as_it_was() -> None:
    vote = combine([sure("LEA1234")], region="PK", floor=FLOOR)
    assert vote.text == "LEA1234"
    assert vote.confidence == pytest.approx(0.95)
    assert vote.alternatives == ()


def test_nothing_to_combine_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        combine([], region="PK", floor=FLOOR)
