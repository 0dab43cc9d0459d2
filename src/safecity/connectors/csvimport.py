"""Bulk CSV imports for connectors (registry extracts, the CT schedule): decode, read rows under a fixed
header, validate each row with a model, and report every bad row, so an import can be all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from safecity.core import csvfile
from safecity.core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

MAX_IMPORT_BYTES = 16 * 1024 * 1024  # the web upload limit; about 100,000 rows of a usual extract
MAX_IMPORT_ROWS = 100_000
MAX_REPORTED = 1000  # bad rows listed in a report (all are counted)


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
    csvfile.check_text(text, limit=limit)
    found_header, body = csvfile.read_csv(text)
    if found_header != list(header):
        raise InvalidInput(f"the header must be {','.join(header)}", code="bad_csv_header")
    checked: Checked[M] = Checked()
    seen: dict[str, int] = {}
    for line, cells in body:
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
            checked.bad.append(BadRow(row=line, shown=shown, problems=csvfile.problems(exc)))
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
