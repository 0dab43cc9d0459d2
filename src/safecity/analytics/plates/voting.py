"""One plate from many frames: the reads of one vehicle pass combined character by character.

A single frame's read of a passing vehicle is often wrong in a character or two (blur, glare, the angle);
different frames are wrong in different places. So the reads of a pass are combined: the reads of the best
supported length (summed confidence) are aligned position by position, and each position takes the
character with the most confidence behind it. A character's confidence is its mean support over those
reads (a read that disagrees adds nothing), so agreement across frames is what makes a plate confident.
The result is fitted to a layout again (as a single read is) and, below the confidence floor, reported as
unreadable (text None), never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from safecity.analytics.plates import layouts
from safecity.analytics.plates.types import UNKNOWN, CharRead, PlateRead

MAX_ALTERNATIVES = 3


@dataclass(frozen=True)
class Vote:
    """The combined plate of a pass; `best` indexes the read whose crop shows it best."""

    text: str | None
    confidence: float
    char_confidences: tuple[float, ...]
    layout: str
    jurisdiction: str
    alternatives: tuple[tuple[str, float], ...]
    frames: int  # reads combined (every read of the pass, readable or not)
    best: int


def combine(reads: Sequence[PlateRead], *, region: str, floor: float) -> Vote:
    """Combine a pass's reads into one plate.

    Args:
        reads: the reads of one plate over the frames of one pass (at least one).
        region: PK, IN, AR, DZ or ANY: whose layouts are preferred when the result is fitted.
        floor: the confidence below which the combined plate is unreadable.

    Returns:
        The vote; `text` None (unreadable) when no read was readable or the combination is below `floor`.
    """
    if not reads:
        raise ValueError("nothing to combine")
    best_overall = max(range(len(reads)), key=lambda i: reads[i].confidence)
    readable = [i for i, r in enumerate(reads) if r.text]
    if not readable:
        return _unreadable(reads, best_overall, ())
    by_length: dict[int, list[int]] = defaultdict(list)
    for i in readable:
        by_length[len(reads[i].text or "")].append(i)
    # The length with the most confidence behind it; a tie goes to the longer (a dropped character is
    # a commoner misread than an extra one).
    length, group = max(by_length.items(), key=lambda kv: (sum(reads[i].confidence for i in kv[1]), kv[0]))
    chars: list[CharRead] = []
    for pos in range(length):
        support: dict[str, float] = defaultdict(float)
        for i in group:
            support[(reads[i].text or "")[pos]] += _prob(reads[i], pos)
        char, weight = max(support.items(), key=lambda kv: kv[1])
        chars.append(CharRead(char, weight / len(group)))
    fit = layouts.correct(chars, region)
    probs = tuple(round(p, 3) for p in fit.probs)
    confidence = sum(fit.probs) / len(fit.probs) if fit.probs else 0.0
    agreeing = [i for i in readable if reads[i].text == fit.text]
    best = max(agreeing or group, key=lambda i: reads[i].confidence)
    alternatives = _alternatives(reads, exclude=fit.text)
    if confidence < floor:
        return _unreadable(reads, best, probs, confidence)
    return Vote(
        text=fit.text,
        confidence=round(confidence, 3),
        char_confidences=probs,
        layout=fit.layout,
        jurisdiction=fit.jurisdiction,
        alternatives=alternatives,
        frames=len(reads),
        best=best,
    )


def _prob(read: PlateRead, pos: int) -> float:
    """A read's confidence in its character at `pos` (its overall confidence where it gave none)."""
    if pos < len(read.char_confidences):
        return read.char_confidences[pos]
    return read.confidence


def _alternatives(reads: Sequence[PlateRead], *, exclude: str) -> tuple[tuple[str, float], ...]:
    """The runner-up texts: other reads' texts and their own alternatives, by support over all reads."""
    support: dict[str, float] = defaultdict(float)
    for read in reads:
        if read.text and read.text != exclude:
            support[read.text] += read.confidence
        for text, confidence in read.alternatives:
            if text != exclude:
                support[text] += confidence
    ranked = sorted(support.items(), key=lambda kv: -kv[1])[:MAX_ALTERNATIVES]
    return tuple((text, round(min(1.0, weight / len(reads)), 3)) for text, weight in ranked)


def _unreadable(
    reads: Sequence[PlateRead], best: int, probs: tuple[float, ...], confidence: float | None = None
) -> Vote:
    """An unreadable plate: no text, no layout and no runner-up guesses, only how unsure it was."""
    if confidence is None:
        confidence = max(r.confidence for r in reads)
    return Vote(
        text=None,
        confidence=round(confidence, 3),
        char_confidences=probs,
        layout=UNKNOWN,
        jurisdiction=UNKNOWN,
        alternatives=(),
        frames=len(reads),
        best=best,
    )
