"""A listing of the counter-terrorism schedule as its list or an import file gives it, as shown, and the
import report."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.connectors.prisons.schemas import plain
from safecity.core.identifiers import format_cnic
from safecity.core.schemas import OutModel

CSV_HEADER = ("cnic", "name", "father_name", "district", "listed_on", "delisted_on")
_DATE_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")


def day(value: object) -> object:
    """2020-01-31 or 31/01/2020 (as Pakistani lists write dates) as a date; "" as None."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    match = _DATE_DMY.fullmatch(text)
    if match:
        d, m, y = (int(g) for g in match.groups())
        try:
            return dt.date(y, m, d)
        except ValueError:
            raise ValueError(f"{text!r} is not a date") from None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:20]!r} is not a date such as 2020-01-31 or 31/01/2020") from None


class ListingIn(BaseModel):
    """One person on the schedule (the CSV's columns; the list's JSON objects carry the same fields)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    cnic: str
    name: str = Field(min_length=1, max_length=120)
    father_name: str = Field(default="", max_length=120)
    district: str = Field(default="", max_length=120)
    listed_on: dt.date
    delisted_on: dt.date | None = None

    @field_validator("cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return format_cnic(value)

    @field_validator("name", "father_name", "district")
    @classmethod
    def _plain(cls, value: str) -> str:
        return plain(value)

    @field_validator("listed_on", "delisted_on", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return day(value)

    @model_validator(mode="after")
    def _order(self) -> ListingIn:
        if self.delisted_on is not None and self.delisted_on < self.listed_on:
            raise ValueError("delisted_on is before listed_on")
        return self

    def row(self) -> dict[str, Any]:
        return self.model_dump()


class ListingOut(OutModel):
    """A person's listing on the schedule (delisted_on: None while listed)."""

    cnic: str
    name: str
    father_name: str
    district: str
    listed_on: dt.date
    delisted_on: dt.date | None
    source: str
    updated_at: dt.datetime


class ImportIn(BaseModel):
    """The schedule as CSV text (header cnic,name,father_name,district,listed_on,delisted_on)."""

    model_config = ConfigDict(extra="forbid")

    csv: str


class RowResult(BaseModel):
    """A bad row: its line (1 is the header), its CNIC as written and what is wrong with it."""

    row: int
    cnic: str
    problems: list[str]


class ImportReport(BaseModel):
    """What an import found and did; with any bad row nothing is stored, even on a real run."""

    dry_run: bool
    file_name: str
    rows: int
    new: int
    updated: int
    imported: int
    errors: int
    results: list[RowResult]


class SyncReport(BaseModel):
    """What one fetch of the schedule's list changed."""

    source: str
    listed: int
    new: int
    delisted: int  # held as listed, absent from the list now: marked delisted today
    refused: int
