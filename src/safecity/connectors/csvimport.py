"""Bulk CSV imports for connectors (registry extracts, the CT schedule): decode, read rows under a fixed
header, validate each row with a model, and report every bad row, so an import can be all or nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from safecity.core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

MAX_IMPORT_BYTES = 16 * 1024 * 1024  # the web upload limit; about 100,000 rows of a usual extract
MAX_IMPORT_ROWS = 100_000
MAX_REPORTED = 1000  # bad rows listed in a report (all are counted)
MAX_FILE_NAME = 48


@dataclass(frozen=True)
class BadRow:
    """A bad row: its line (1 is the header), its key as written and what is wrong with it."""

    row: int
    shown: str
    problems: list[str]


@dataclass
class Checked(Generic[M]):
    """Every row of a file checked: the good ones (validated) and the bad ones (all of them)."""

    rows: int = 0
    good: list[M] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def _too_large(limit: int) -> InvalidInput:
    return InvalidInput(f"the file is larger than {limit / 1048576:g} MiB: split it", code="import_too_large")


def decode_csv(raw: bytes, *, limit: int = MAX_IMPORT_BYTES) -> str:
    """An uploaded file as text: UTF-8 (a byte-order mark dropped) within the size limit, or a refusal."""
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (byte {exc.start + 1}): save it as 'CSV UTF-8'", code="bad_encoding"
        ) from None


def file_name(name: str, default: str) -> str:
    """An uploaded file's name fit to store and show: printable, at most MAX_FILE_NAME characters."""
    return "".join(c for c in name if c.isprintable())[-MAX_FILE_NAME:] or default


def problems(exc: ValidationError) -> list[str]:
    """A row's validation errors as "field: what is wrong" (never the values)."""
    found = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "row"
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(f"{where}: {message}")
    return found


def _rows(text: str, header: Sequence[str]) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) for each non-empty row after the header, or (line, problem) where CSV breaks."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        found = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvalidInput(f"line 1 is not valid CSV: {exc}", code="bad_csv") from None
    if found != list(header):
        raise InvalidInput(f"the header must be {','.join(header)}", code="bad_csv_header")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # A field over the csv module's limit (128 KiB) or a broken quote: the rest cannot be read.
            yield (
                reader.line_num,
                "a field is too long" if "field limit" in str(exc) else f"not valid CSV: {exc}",
            )
            return
        if any(c.strip() for c in cells):
            yield reader.line_num, cells


def check_rows(
    text: str,
    *,
    header: Sequence[str],
    model: type[M],
    key: Callable[[M], str],
    what: str,
    limit: int = MAX_IMPORT_BYTES,
) -> Checked[M]:
    """Validate every row of `text` (CSV under `header`) as `model`; a key seen twice is a bad row.

    Raises InvalidInput for a file that cannot be an import at all: too large, NUL bytes (a spreadsheet),
    a wrong header, too many rows, or no rows (`what` names them: "vehicles", "listings").
    """
    if len(text) > limit:
        raise _too_large(limit)
    if "\x00" in text:
        raise InvalidInput(
            "the file holds NUL bytes: is it a spreadsheet rather than CSV?", code="bad_encoding"
        )
    checked: Checked[M] = Checked()
    seen: dict[str, int] = {}
    for line, cells in _rows(text.removeprefix("\ufeff"), header):
        if isinstance(cells, str):
            checked.bad.append(BadRow(row=line, shown="", problems=[cells]))
            break
        checked.rows += 1
        if checked.rows > MAX_IMPORT_ROWS:
            raise InvalidInput(
                f"import at most {MAX_IMPORT_ROWS} rows at a time: split the file", code="import_too_large"
            )
        shown = cells[0].strip()[:20]
        if len(cells) != len(header):
            problem = f"has {len(cells)} cells; expected {len(header)} ({','.join(header)})"
            checked.bad.append(BadRow(row=line, shown=shown, problems=[problem]))
            continue
        try:
            record = model.model_validate(dict(zip(header, cells, strict=True)))
        except ValidationError as exc:
            checked.bad.append(BadRow(row=line, shown=shown, problems=problems(exc)))
            continue
        found = key(record)
        if found in seen:
            checked.bad.append(
                BadRow(row=line, shown=shown, problems=[f"{header[0]}: {found} is also on row {seen[found]}"])
            )
            continue
        seen[found] = line
        checked.good.append(record)
    if checked.rows == 0 and not checked.bad:
        raise InvalidInput(f"the file has no {what}", code="empty_import")
    return checked
