"""The plate-reader plugin contract: a config with a `type` key, an engine class, a registry.

An engine only implements two steps, finding text lines (`_find_lines`) and recognising line crops
(`_recognise`); `PlateReader.read` does the rest the same way for all of them: plate-like lines kept
(aspect, A-Z0-9, length), two-row plates joined top then bottom, the text fitted to a layout, and a read
below the confidence floor reported as unreadable (text None) rather than guessed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from safecity.analytics.detectors.base import check_image
from safecity.analytics.plates import layouts
from safecity.analytics.plates.types import UNKNOWN, CharRead, PlateRead
from safecity.analytics.types import Image
from safecity.core.plugins import Registry

PLUGIN_MODULES = ("safecity.analytics.plates.rapidocr",)
MIN_CHARS, MAX_CHARS = 4, 12
TWO_ROW_ASPECT = 1.6  # a crop narrower than this (width / height) may hold two rows
RANK_FOREIGN, RANK_UNKNOWN = 0.1, 0.3  # rank penalties: another region's layout, no layout
MAX_FOREIGN_SHARE = 0.25  # more non-Latin characters than this: not a plate (Urdu, Chinese signs)

Quad = npt.NDArray[np.float32]  # 4 x 2 corner points, clockwise from top left


class PlateReaderConfig(BaseModel):
    """Settings every plate reader takes; each plugin narrows `type` to its own literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    region: str = Field(default="PK", pattern="^(PK|IN|AR|DZ|ANY)$")
    min_confidence: float = Field(default=0.6, ge=0, le=1)  # the floor: below it a plate is unreadable
    max_side: int = Field(default=1280, ge=320, le=4096)  # the text detector's input, longest side
    # (a picture smaller than that gets a second look, enlarged up to twice, when no plate was read)
    threads: int = Field(default=0, ge=0, le=64)  # inference threads; 0: the runtime's default


@dataclass(frozen=True)
class Line:
    """A recognised text line: its corners in the picture and its characters."""

    quad: Quad
    raw: str
    chars: tuple[CharRead, ...]


class PlateReader(ABC):
    """Reads number plates in BGR pictures; instances are used by one thread at a time."""

    name: ClassVar[str]
    config_class: ClassVar[type[PlateReaderConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        READERS.add(cls.name, cls)

    def __init__(self, config: PlateReaderConfig) -> None:
        self.config = config

    def read(self, image: Image, region: str | None = None, *, retry: bool = True) -> list[PlateRead]:
        """Every plate in a picture (a whole scene or a vehicle's box), best confidence first.

        Args:
            image: a BGR picture (anything else raises InvalidFrame).
            region: PK, IN, AR, DZ or ANY: whose layouts are preferred; default the config's.
            retry: False skips the second look at a small picture enlarged (video sampled many times a
                second, where a frame without a plate would otherwise cost a second, larger pass).

        Returns:
            One read per plate-like text; unreadable ones (below the floor) with text None.
        """
        picture = check_image(image)
        region = region or self.config.region
        side = min(max(picture.shape[:2]), self.config.max_side)
        found = self._read_lines(picture, side, region)
        bigger = min(2 * side, self.config.max_side)
        if retry and bigger > 1.2 * side and _score(found) == 0.0:
            # small text is missed at this size: look again at the picture enlarged (the detector's
            # cost stays within max_side, so frames without a plate cost at most one more pass)
            again = self._read_lines(picture, bigger, region)
            if _score(again) > _score(found):
                found = again
        return sorted(found, key=lambda p: -_rank(p, region))

    def _read_lines(self, picture: Image, side: int, region: str) -> list[PlateRead]:
        """The plates in a picture, its text lines looked for with its longest side at `side` pixels."""
        scale = side / max(picture.shape[:2])
        if scale > 1.0:  # the detector only shrinks pictures
            bigger = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            quads = [q / scale for q in self._find_lines(np.asarray(bigger, dtype=np.uint8), side)]
        else:
            quads = self._find_lines(picture, side)
        if not quads:
            return []
        crops = [_crop(picture, q) for q in quads]
        lines = [Line(q, raw, chars) for q, (raw, chars) in zip(quads, self._recognise(crops), strict=True)]
        plates = [_plate(group, region, self.config) for group in _group(lines)]
        return [p for p in plates if p is not None]

    def read_crop(self, crop: Image, region: str | None = None) -> PlateRead | None:
        """A plate crop read as one line; None if not plate-like.

        A squarish crop may be a two-row plate (motorcycles, square rear plates): its text lines are
        looked for too, and their reading is kept when it ranks above the whole crop's.
        """
        checked = check_image(crop)
        region = region or self.config.region
        height, width = checked.shape[:2]
        quad = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        raw, chars = self._recognise([checked])[0]
        whole = _plate([Line(quad, raw, chars)], region, self.config)
        if width >= TWO_ROW_ASPECT * height:
            return whole
        rows = [p for p in self._read_lines(checked, 2 * max(height, width), region) if p.text]
        best = max(rows, key=lambda p: _rank(p, region), default=None)
        if best is not None and (whole is None or _rank(best, region) > _rank(whole, region)):
            return best
        return whole

    @abstractmethod
    def _find_lines(self, image: Image, side: int) -> list[Quad]:
        """Text lines in the picture as corner quads (its pixels), top to bottom.

        `side`: the longest side the detector looks at (a larger picture is shrunk to it).
        """

    @abstractmethod
    def _recognise(self, crops: list[Image]) -> list[tuple[str, tuple[CharRead, ...]]]:
        """Each crop's raw text and its characters (upper-cased A-Z0-9, separators dropped)."""


def _rank(plate: PlateRead, region: str) -> float:
    """Which plate of a picture comes first: the confident one, a little less so outside the region.

    A phone number or a dealer's code read as a foreign or unknown layout gives way to a plate of the
    region read almost as surely; an unreadable plate comes last.
    """
    if plate.text is None:
        return plate.confidence - 1.0
    home = layouts.regions_of(plate.jurisdiction)
    if plate.layout == UNKNOWN:
        penalty = RANK_UNKNOWN
    elif region in home or (region == "ANY" and "ANY" not in home):
        penalty = 0.0
    else:
        penalty = RANK_FOREIGN
    return plate.confidence - penalty


def _score(plates: list[PlateRead]) -> float:
    """How sure the best plate read is: its confidence if it fits a layout, else 0."""
    return max((p.confidence for p in plates if p.text and p.layout != UNKNOWN), default=0.0)


def _crop(image: Image, quad: Quad) -> Image:
    """The quad straightened into an upright rectangle."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width, height = max(width, 8), max(height, 8)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    out = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


def _bounds(quad: Quad) -> tuple[float, float, float, float]:
    xs, ys = quad[:, 0], quad[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _stacked(top: Line, bottom: Line) -> bool:
    """Whether two lines are the two rows of one plate (motorcycles, square plates)."""
    tx1, ty1, tx2, ty2 = _bounds(top.quad)
    bx1, by1, bx2, by2 = _bounds(bottom.quad)
    height = max(ty2 - ty1, by2 - by1)
    overlap = min(tx2, bx2) - max(tx1, bx1)
    narrower = min(tx2 - tx1, bx2 - bx1)
    return (
        ty1 < by1
        and -0.3 * height <= by1 - ty2 <= 0.8 * height
        and overlap >= 0.5 * narrower
        and 0.5 <= (ty2 - ty1) / max(by2 - by1, 1.0) <= 2.0
        and len(top.chars) <= 5
        and len(top.chars) + len(bottom.chars) <= MAX_CHARS
    )


def _group(lines: list[Line]) -> list[list[Line]]:
    """Lines as plates: a short line directly above another joins it, top then bottom."""
    ordered = sorted(lines, key=lambda line: _bounds(line.quad)[1])
    used: set[int] = set()
    groups: list[list[Line]] = []
    for i, top in enumerate(ordered):
        if i in used:
            continue
        for j in range(i + 1, len(ordered)):
            if j not in used and _stacked(top, ordered[j]):
                merged = [*top.chars, *ordered[j].chars]
                if layouts.fits(merged, "ANY"):  # join only when the two rows make a known plate
                    groups.append([top, ordered[j]])
                    used.update((i, j))
                    break
        else:
            groups.append([top])
            used.add(i)
    return groups


def _plate(group: list[Line], region: str, config: PlateReaderConfig) -> PlateRead | None:
    """One plate from its line(s), or None when the text is not plate-like."""
    raw = " / ".join(line.raw for line in group)
    latin = sum(c.isascii() for c in raw if not c.isspace())
    if sum(not c.isspace() for c in raw) - latin > MAX_FOREIGN_SHARE * max(len(raw.replace(" ", "")), 1):
        return None
    chars = [c for line in group for c in line.chars]
    if not MIN_CHARS <= len(chars) <= MAX_CHARS:
        return None
    if not any(c.char.isdigit() for c in chars):  # a word or a brand badge (BOLERO), not a registration
        return None
    found = layouts.fits(chars, region, trim=True)
    best = found[0] if found else layouts.correct(chars, region)
    x1, y1, x2, y2 = (
        min(_bounds(line.quad)[0] for line in group),
        min(_bounds(line.quad)[1] for line in group),
        max(_bounds(line.quad)[2] for line in group),
        max(_bounds(line.quad)[3] for line in group),
    )
    aspect = (x2 - x1) / max(y2 - y1, 1.0)
    if not 0.8 <= aspect <= 14:
        return None
    confidence = float(np.mean(best.probs)) if best.probs else 0.0
    alternatives = tuple(
        (f.text, round(float(np.mean(f.probs)), 3)) for f in found[1:4] if f.text != best.text
    )
    box = (round(x1), round(y1), round(x2 - x1), round(y2 - y1))
    readable = confidence >= config.min_confidence
    return PlateRead(
        text=best.text if readable else None,
        confidence=confidence,
        char_confidences=tuple(round(p, 3) for p in best.probs),
        box=box,
        layout=best.layout if readable else UNKNOWN,
        jurisdiction=best.jurisdiction if readable else UNKNOWN,
        raw=raw,
        alternatives=alternatives,
    )


def reader_types() -> list[str]:
    """The `type` of every plate reader that could be loaded."""
    return READERS.types()


def build_reader(config: dict[str, Any] | PlateReaderConfig) -> PlateReader:
    """A plate reader from its config (a dict with `type`, or a config object)."""
    kind = config.type if isinstance(config, PlateReaderConfig) else config.get("type")
    cls = READERS.get(kind)
    data = config.model_dump() if isinstance(config, PlateReaderConfig) else config
    return cls(cls.config_class.model_validate(data))


READERS: Registry[PlateReader] = Registry("plate reader", PLUGIN_MODULES)
