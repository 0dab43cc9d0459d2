"""Reading an uploaded CSV file for an import: its text within a size limit, its rows with their line
numbers, and a validation error as one message per problem (shared by the registry and records imports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from pydantic import ValidationError

from safecity.core.errors import InvalidInput

MAX_FILE_NAME = 48


def decode_csv(raw: bytes, *, limit: int) -> str:
    """An uploaded file as text: UTF-8 (a byte-order mark dropped) within `limit` bytes, or a refusal."""
    if len(raw) > limit:
        raise InvalidInput(
            f"the file is larger than {limit / 1048576:g} MiB: split it",
            code="import_too_large",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (byte {exc.start + 1}): save it as 'CSV UTF-8'", code="bad_encoding"
        ) from None


def check_text(text: str, *, limit: int) -> None:
    """Refuse text over `limit` characters, or holding NUL bytes (a spreadsheet saved as is, not as CSV)."""
    if len(text) > limit:
        raise InvalidInput(
            f"the file is larger than {limit / 1048576:g} MiB: split it",
            code="import_too_large",
        )
    if "\x00" in text:
        raise InvalidInput(
            "the file holds NUL bytes: is it a spreadsheet rather than CSV?", code="bad_encoding"
        )


def file_label(file_name: str, default: str) -> str:
    """A file name fit to name a source (`import:<name>`): printable, its last MAX_FILE_NAME characters."""
    return "".join(c for c in file_name if c.isprintable())[-MAX_FILE_NAME:] or default


def problems(exc: ValidationError) -> list[str]:
    """One `field: message` per problem pydantic found."""
    found = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "row"
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(f"{field}: {message}")
    return found


def read_csv(text: str) -> tuple[list[str], Iterator[tuple[int, list[str] | str]]]:
    """The header (trimmed, lower case) and (line, cells) for each non-empty row after it, or (line, problem)
    where the CSV breaks (the rest cannot be read)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvalidInput(f"line 1 is not valid CSV: {exc}", code="bad_csv") from None

    def body() -> Iterator[tuple[int, list[str] | str]]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # A field over the csv module's limit (128 KiB) or a broken quote.
                yield (
                    reader.line_num,
                    "a field is too long" if "field limit" in str(exc) else f"not valid CSV: {exc}",
                )
                return
            if any(c.strip() for c in cells):
                yield reader.line_num, cells

    return header, body()
