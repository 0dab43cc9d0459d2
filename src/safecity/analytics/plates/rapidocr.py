"""RapidOCR's PP-OCRv6 text detector and recogniser (ONNX, inside the rapidocr wheel) as a plate reader.

Detection runs on the picture limited to `max_side` (full-size detection is slow); recognition is our
own CTC decode of the recogniser's output, so every character keeps its probability and the model's
best letter and best digit at the same place for the layout correction.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from safecity.analytics import catalog
from safecity.analytics.plates.base import PlateReader, PlateReaderConfig, Quad
from safecity.analytics.plates.types import CharRead
from safecity.analytics.types import Image

logger = logging.getLogger(__name__)


REC_HEIGHT = 48  # the recogniser's input height
MIN_ASPECT = 3.25  # narrower crops are stretched: CTC needs about 3 output columns (8 px) per character
PAD_ASPECT = 5.0  # inputs are padded to at least this width / height (the model reads worse unpadded)


def _rec_input(crop: Image) -> npt.NDArray[np.float32]:
    """A crop as the recogniser's input: 48 px high, stretched to MIN_ASPECT, padded to PAD_ASPECT.

    Bilinear resizing as in the model's training (sharper interpolation reads worse on small plates);
    the padding is the normalised zero (mid grey), as in training.
    """
    height, width = crop.shape[:2]
    w = max(round(REC_HEIGHT * width / height), round(MIN_ASPECT * REC_HEIGHT))
    total = -(-max(w, round(PAD_ASPECT * REC_HEIGHT)) // 8) * 8
    resized = cv2.resize(crop, (w, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, REC_HEIGHT, total), dtype=np.float32)
    out[:, :, :w] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return out


def _latin(symbol: str) -> str | None:
    """A-Z or 0-9 for a Latin character, accented or full-width ones included (Č → C); else None."""
    base = unicodedata.normalize("NFKD", symbol)[:1].upper()
    return base if base.isascii() and base.isalnum() else None


class RapidOcrConfig(PlateReaderConfig):
    """RapidOCR (PP-OCRv6 small) settings."""

    type: Literal["rapidocr"] = "rapidocr"


class RapidOcrReader(PlateReader):
    """Plates read by PP-OCRv6 through rapidocr + onnxruntime."""

    name = "rapidocr"
    config_class = RapidOcrConfig

    def __init__(self, config: PlateReaderConfig) -> None:
        super().__init__(config)
        from rapidocr import RapidOCR  # heavy: only when a reader is built

        det_path, rec_path = catalog.locate(catalog.spec("rapidocr"))
        threads = config.threads or -1
        self._engine: Any = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.model_path": str(det_path),
                "Det.limit_type": "max",
                "Det.limit_side_len": config.max_side,
                "Rec.model_path": str(rec_path),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": threads,
            }
        )
        self._det: Any = self._engine._load_det_model()  # type: ignore[no-untyped-call]
        self._rec: Any = self._engine._load_rec_model()  # type: ignore[no-untyped-call]
        table: list[str] = list(self._rec.postprocess_op.character)
        self._table = table
        self._letters = np.array(
            [i for i, c in enumerate(table) if len(c) == 1 and c.isascii() and c.isalpha()]
        )
        self._digits = np.array(
            [i for i, c in enumerate(table) if len(c) == 1 and c.isascii() and c.isdigit()]
        )

    def _find_lines(self, image: Image, side: int) -> list[Quad]:
        self._det.limit_side_len = side
        found = self._det(image)
        if found.boxes is None:
            return []
        return [np.asarray(box, dtype=np.float32) for box in found.boxes]

    def _recognise(self, crops: list[Image]) -> list[tuple[str, tuple[CharRead, ...]]]:
        out: list[tuple[str, tuple[CharRead, ...]]] = []
        for start in range(0, len(crops), 8):
            batch = [_rec_input(c) for c in crops[start : start + 8]]
            tensor = np.zeros((len(batch), 3, REC_HEIGHT, max(b.shape[2] for b in batch)), dtype=np.float32)
            for i, b in enumerate(batch):
                tensor[i, :, :, : b.shape[2]] = b
            preds = np.asarray(self._rec.session(tensor))
            out.extend(self._decode(p) for p in preds)
        return out

    def _decode(self, probs: npt.NDArray[np.float32]) -> tuple[str, tuple[CharRead, ...]]:
        """CTC greedy decode: runs of one class collapse, blanks drop; A-Z0-9 kept, upper-cased."""
        best = probs.argmax(axis=1)
        raw: list[str] = []
        chars: list[CharRead] = []
        t = 0
        while t < len(best):
            k = int(best[t])
            end = t
            while end + 1 < len(best) and best[end + 1] == k:
                end += 1
            if k != 0:
                peak = t + int(probs[t : end + 1, k].argmax())
                symbol = self._table[k] if k < len(self._table) else " "
                raw.append(symbol)
                row = probs[peak]
                letter = int(self._letters[row[self._letters].argmax()])
                digit = int(self._digits[row[self._digits].argmax()])
                char, prob = _latin(symbol), float(row[k])
                if char is None and symbol.isalnum():
                    # another script's look-alike (a stray CJK sign on a worn character): the model's
                    # best Latin letter or digit there, at its own (low) probability
                    pick = letter if row[letter] >= row[digit] else digit
                    char, prob = self._table[pick].upper(), float(row[pick])
                if char is not None:
                    chars.append(
                        CharRead(
                            char=char,
                            prob=prob,
                            letter=self._table[letter].upper(),
                            letter_prob=float(row[letter]),
                            digit=self._table[digit],
                            digit_prob=float(row[digit]),
                        )
                    )
            t = end + 1
        return "".join(raw), tuple(chars)
