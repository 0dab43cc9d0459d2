"""What goes into and out of the records' data quality: import requests and reports, duplicate proposals,
merges, and the values two sources disagree on."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from safecity.core.schemas import InModel, OutModel

Kind = Literal["persons", "vehicles", "firs"]


class CsvImportIn(InModel):
    """A CSV file's text to import into a district; its header names the fields (see the import page)."""

    kind: Kind
    district_id: uuid.UUID
    csv: str = Field(max_length=16 * 1024 * 1024)
    file_name: str = Field(default="import.csv", max_length=200)


class SourceIn(InModel):
    """Another department's database to import from: a read-only SQLAlchemy URL and one SELECT."""

    name: str = Field(min_length=2, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    kind: Kind
    district_id: uuid.UUID
    url: str = Field(min_length=8, max_length=500)
    query: str = Field(min_length=8, max_length=10_000)


class SourceOut(OutModel):
    """A configured source; its URL without credentials."""

    id: uuid.UUID
    name: str
    kind: str
    url_shown: str
    query: str
    district_id: uuid.UUID
    created_by: str
    created_at: dt.datetime


class RowProblem(BaseModel):
    """A bad row of an import: its line (CSV) or row number (SQL), what identifies it, every problem."""

    line: int
    key: str
    problems: list[str]


class ImportReport(BaseModel):
    """What an import found, and (unless a dry run or a bad row) stored."""

    kind: Kind
    source: str  # import:<file or source name>
    dry_run: bool
    rows: int
    new: int
    updated: int
    imported: int
    errors: int
    results: list[RowProblem]


class MergeIn(InModel):
    """Merge `merged_id` into `kept_id`, saying why."""

    kept_id: uuid.UUID
    merged_id: uuid.UUID
    reason: str = Field(min_length=4, max_length=2000)


class UndoIn(InModel):
    """Undo a merge, saying why."""

    reason: str = Field(min_length=4, max_length=2000)


class MergeOut(OutModel):
    """A merge: who into whom, what moved (row ids per table), by whom and why; undone or not."""

    id: uuid.UUID
    kept_id: uuid.UUID
    merged_id: uuid.UUID
    moved: dict[str, Any]
    reason: str
    by: str
    at: dt.datetime
    undone_by: str
    undone_at: dt.datetime | None
    undo_reason: str


class SourcedValue(BaseModel):
    """One value of a field and every source that gave it (when), and whether the record holds it now."""

    value: Any
    in_force: bool
    sources: list[tuple[str, dt.datetime]]
    fact_id: uuid.UUID  # the newest fact with this value: what to choose


class FieldComparison(BaseModel):
    """One field of two persons side by side, each value with its sources."""

    field: str
    left: Any
    right: Any
    left_sources: list[str]
    right_sources: list[str]
    same: bool


class PersonBrief(BaseModel):
    """Enough of a person to tell two records apart: the fields, and what hangs on the record."""

    id: uuid.UUID
    district_id: uuid.UUID
    name: str
    father_name: str
    cnic: str | None
    date_of_birth: dt.date | None
    phones: list[str]
    firs: int
    vehicles: int


class Proposal(BaseModel):
    """Two persons that are probably the same, why, and their fields side by side."""

    reason: Literal["same_cnic", "same_name_father_birth"]
    left: PersonBrief
    right: PersonBrief
    fields: list[FieldComparison]


class FieldConflict(BaseModel):
    """A field of a person on which sources disagree: every value with its sources."""

    field: str
    values: list[SourcedValue]


class ChooseIn(InModel):
    """The value to put in force for a field: the fact that holds it."""

    field: str = Field(max_length=40)
    fact_id: uuid.UUID
