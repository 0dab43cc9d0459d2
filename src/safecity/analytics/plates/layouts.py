"""Plate layouts as data, and the correction of look-alike characters by position.

Each file in `layouts/` is one jurisdiction (TOML): its `jurisdiction`, `region` (PK, IN, AR, DZ …),
`priority` (lower wins a tie), optional `extra_cost` (catch-all buckets) and a list of `[[layout]]`
tables with `patterns`: strings of character
classes, L letter, D digit, A any, each optionally followed by `{m,n}` or `{n}` (separators dropped), and
optionally `prefixes` the text must start with and a `cost` (a rarer layout of the jurisdiction pays it).
Adding a jurisdiction is adding a file.

A reading is fitted to every pattern of its length: a character of the wrong class is swapped for its
look-alike (O/0, I/1, B/8, S/5, Z/2, D/0, G/6, Q/0 …, cost 1) or, failing that, for the model's own best
character of the wanted class when the model gave it a fair chance (cost 2); a pattern that needs anything
else does not fit. The cheapest fit wins; layouts outside the chosen region pay a little, so a plate of
another country still reads by its own layout. With `trim`, a reading may also drop one character at
either end (a plate's emblem, border or screw read as a character) for TRIM_COST and more when the
model was sure of that character.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from safecity.analytics.plates.types import UNKNOWN, CharRead

REGIONS = ("PK", "IN", "AR", "DZ", "ANY")
FOREIGN_COST = 0.3  # a layout outside the region: a perfect fit there still beats one swap at home
MODEL_SWAP_COST = 2.0
MODEL_SWAP_MIN_PROB = 0.1
TRIM_COST = 0.75  # one end character dropped: a confident one costs up to twice this
LOOKALIKE_PROB = 0.85  # a look-alike swap keeps most of the character's confidence

TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "Z": "2", "S": "5",
            "B": "8", "G": "6", "T": "7", "A": "4"}  # fmt: skip
TO_LETTER = {"0": "ODQ", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"}

_TOKEN = re.compile(r"([LDA])(?:\{(\d+)(?:,(\d+))?\})?")


class LayoutError(ValueError):
    """A layout file that cannot be used."""


@dataclass(frozen=True)
class Layout:
    """One layout of one jurisdiction: its concrete patterns by length."""

    name: str
    jurisdiction: str
    region: str
    priority: int
    patterns: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    extra_cost: float = 0.0  # a catch-all bucket pays this, so a plate that fits a real series reads as it


@dataclass(frozen=True)
class Fit:
    """A reading fitted to a layout."""

    text: str
    probs: tuple[float, ...]
    cost: float
    layout: str
    jurisdiction: str
    priority: int


def expand(pattern: str) -> list[str]:
    """Every concrete pattern (only L, D, A) a pattern with `{m,n}` repeats stands for."""
    pos, parts = 0, []
    for match in _TOKEN.finditer(pattern):
        if match.start() != pos:
            raise LayoutError(f"bad pattern {pattern!r} at {pattern[pos:]!r}")
        pos = match.end()
        low = int(match.group(2) or 1)
        high = int(match.group(3) or match.group(2) or 1)
        parts.append([match.group(1) * n for n in range(low, high + 1)])
    if pos != len(pattern) or not parts:
        raise LayoutError(f"bad pattern {pattern!r}")
    out = [""]
    for choices in parts:
        out = [head + tail for head in out for tail in choices]
    return out


def parse(text: str, source: str) -> list[Layout]:
    """The layouts of one jurisdiction file."""
    try:
        data = tomllib.loads(text)
        jurisdiction, region = str(data["jurisdiction"]), str(data["region"])
        priority = int(data.get("priority", 0))
        layouts = [
            Layout(
                name=str(entry["name"]),
                jurisdiction=jurisdiction,
                region=region,
                priority=priority,
                patterns=tuple(p for raw in entry["patterns"] for p in expand(str(raw))),
                prefixes=tuple(str(p).upper() for p in entry.get("prefixes", [])),
                extra_cost=float(data.get("extra_cost", 0.0)) + float(entry.get("cost", 0.0)),
            )
            for entry in data["layout"]
        ]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"{source}: {exc}") from exc
    if region not in REGIONS:
        raise LayoutError(f"{source}: region {region!r} is not one of {', '.join(REGIONS)}")
    return layouts


@cache
def load_layouts() -> tuple[Layout, ...]:
    """Every layout shipped in `layouts/`, file by file in name order."""
    folder = resources.files("safecity.analytics.plates") / "layouts"
    found: list[Layout] = []
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".toml"):
            found.extend(parse(item.read_text(encoding="utf-8"), item.name))
    return tuple(found)


@cache
def regions_of(jurisdiction: str) -> frozenset[str]:
    """The regions whose layouts name this jurisdiction (empty for "unknown")."""
    return frozenset(layout.region for layout in load_layouts() if layout.jurisdiction == jurisdiction)


def _lookalike_cost(model_agrees: bool, prob: float) -> float:
    """A look-alike swap costs 0.5 to 1: less when the model itself rated the swapped character."""
    return 1.0 - 0.5 * min(prob * 2, 1.0) if model_agrees else 1.0


def _swap(char: CharRead, wanted: str) -> tuple[str, float, float] | None:
    """The character as class `wanted` (L or D): (char, prob, cost), or None if it cannot be."""
    c = char.char
    if wanted == "A" or (wanted == "L" and c.isalpha()) or (wanted == "D" and c.isdigit()):
        return c, char.prob, 0.0
    if wanted == "D" and c in TO_DIGIT:
        digit = TO_DIGIT[c]
        return digit, char.prob * LOOKALIKE_PROB, _lookalike_cost(char.digit == digit, char.digit_prob)
    if wanted == "L" and c in TO_LETTER:
        options = TO_LETTER[c]
        letter = char.letter if char.letter and char.letter in options else options[0]
        return letter, char.prob * LOOKALIKE_PROB, _lookalike_cost(char.letter == letter, char.letter_prob)
    alt, prob = (char.letter, char.letter_prob) if wanted == "L" else (char.digit, char.digit_prob)
    if alt and prob >= MODEL_SWAP_MIN_PROB:
        return alt, prob, MODEL_SWAP_COST
    return None


def _fit(chars: list[CharRead], layout: Layout, pattern: str, region: str) -> Fit | None:
    out, probs, cost = [], [], 0.0
    for char, wanted in zip(chars, pattern, strict=True):
        swapped = _swap(char, wanted)
        if swapped is None:
            return None
        out.append(swapped[0])
        probs.append(swapped[1])
        cost += swapped[2]
    text = "".join(out)
    if layout.prefixes and not text.startswith(layout.prefixes):
        return None
    cost += layout.extra_cost
    if layout.region == "ANY" or (region != "ANY" and layout.region != region):
        cost += FOREIGN_COST
    return Fit(text, tuple(probs), cost, layout.name, layout.jurisdiction, layout.priority)


def fits(chars: list[CharRead], region: str = "PK", *, trim: bool = False) -> list[Fit]:
    """Every layout the reading fits, best first (fewest swaps, home region, priority, file order).

    With `trim`, the reading without its first or last character is fitted too (at TRIM_COST and up).
    """
    readings = [(chars, 0.0)]
    if trim and len(chars) > 4:
        readings += [(chars[1:], _trim_cost(chars[0])), (chars[:-1], _trim_cost(chars[-1]))]
    best: dict[int, Fit] = {}  # by layout, in file order
    for reading, extra in readings:
        for index, layout, pattern in _patterns_of_length(len(reading)):
            fit = _fit(reading, layout, pattern, region)
            if fit is not None and (index not in best or fit.cost + extra < best[index].cost):
                best[index] = replace(fit, cost=fit.cost + extra) if extra else fit
    return sorted((best[i] for i in sorted(best)), key=lambda f: (f.cost, f.priority))


@cache
def _patterns_of_length(length: int) -> tuple[tuple[int, Layout, str], ...]:
    """Every (layout number, layout, pattern) whose pattern has this many characters."""
    return tuple(
        (i, layout, pattern)
        for i, layout in enumerate(load_layouts())
        for pattern in layout.patterns
        if len(pattern) == length
    )


def _trim_cost(char: CharRead) -> float:
    """Dropping an end character: cheap when the model itself doubted it."""
    return TRIM_COST * (1.0 + char.prob)


def correct(chars: list[CharRead], region: str = "PK", *, trim: bool = False) -> Fit:
    """The best fit of a reading, or the reading as it is under the layout "unknown"."""
    found = fits(chars, region, trim=trim)
    if found:
        return found[0]
    return Fit("".join(c.char for c in chars), tuple(c.prob for c in chars), 0.0, UNKNOWN, UNKNOWN, 99)


def chars_of(text: str, prob: float = 1.0) -> list[CharRead]:
    """A plain string as characters without model alternatives (tests, readings from elsewhere)."""
    return [CharRead(c, prob) for c in text.upper() if c.isascii() and c.isalnum()]
