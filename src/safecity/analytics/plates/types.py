"""What a plate reader returns: one PlateRead per plate found, its text already fitted to a layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN = "unknown"  # the layout and jurisdiction of a reading that fits no known layout


@dataclass(frozen=True)
class CharRead:
    """One recognised character, with the model's best letter and best digit at the same place.

    The alternatives let the layout correction pick, say, the letter the model itself rated highest
    where a digit was read but the layout wants a letter.
    """

    char: str
    prob: float
    letter: str | None = None
    letter_prob: float = 0.0
    digit: str | None = None
    digit_prob: float = 0.0


@dataclass(frozen=True)
class PlateRead:
    """One plate: its text (None when below the confidence floor: unreadable, never guessed).

    `box` is x, y, width, height in the picture's pixels; `text` is upper case without separators;
    `alternatives` are the runner-up readings (other layouts' fits) with their confidence.
    """

    text: str | None
    confidence: float
    char_confidences: tuple[float, ...]
    box: tuple[int, int, int, int]
    layout: str
    jurisdiction: str
    raw: str  # what the recogniser read, separators kept
    alternatives: tuple[tuple[str, float], ...] = field(default=())

    @property
    def unreadable(self) -> bool:
        """True when the read was below the confidence floor."""
        return self.text is None

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape for one plate."""
        return {
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "box": list(self.box),
            "layout": self.layout,
            "jurisdiction": self.jurisdiction,
        }
