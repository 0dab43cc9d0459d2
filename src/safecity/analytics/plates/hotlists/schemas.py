"""Pydantic shapes of hotlists, their entries, CSV imports, hits and per-list precision."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field, field_validator, model_validator

from safecity.analytics.plates.hotlists.models import HitStatus, ListKind, MatchMode
from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.events.alerts.schemas import LINE_PATTERN, NOTE_PATTERN

MAX_ENTRY_PLATE = 16
_SEPARATORS = str.maketrans("", "", " -./")


def normalise_plate(text: str) -> str:
    """A plate as the cameras read it: A-Z0-9 only (`leb-1234` → `LEB1234`); ValueError says what is wrong."""
    plate = text.translate(_SEPARATORS).upper()
    if not plate:
        raise ValueError("the plate is empty")
    if not plate.isascii():
        # Urdu or other scripts: cameras read Latin letters and digits, so such a plate never matches.
        raise ValueError("the plate is not in Latin letters and digits")
    if not plate.isalnum():
        raise ValueError("the plate may hold only letters A-Z and digits (spaces and dashes are dropped)")
    if len(plate) > MAX_ENTRY_PLATE:
        raise ValueError(f"the plate is longer than {MAX_ENTRY_PLATE} characters")
    return plate


DismissReason = Literal["misread", "different_vehicle", "list_out_of_date", "other"]


class HotlistIn(InModel):
    """A new list: who keeps it, why, what the operator must do, where and how it matches."""

    kind: ListKind
    name: str = Field(min_length=2, max_length=120, pattern=LINE_PATTERN)
    agency: str = Field(min_length=2, max_length=120, pattern=LINE_PATTERN)
    reason: str = Field(default="", max_length=500, pattern=NOTE_PATTERN)
    legal_reference: str = Field(default="", max_length=200, pattern=LINE_PATTERN)
    instructions: str = Field(default="", max_length=1000, pattern=NOTE_PATTERN)
    expires_at: IsoDateTime | None = None
    # None: every district of the one who creates it (the whole province for a province-wide account).
    district_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    match_mode: MatchMode = MatchMode.EXACT
    max_edits: int = Field(default=0, ge=0, le=1)
    severity: int = Field(default=3, ge=0, le=4)
    enabled: bool = True

    @model_validator(mode="after")
    def _edits_need_fuzzy(self) -> HotlistIn:
        if self.max_edits and self.match_mode != MatchMode.FUZZY:
            raise ValueError("one edit apart is a fuzzy match: set match_mode to fuzzy")
        return self


class HotlistUpdate(InModel):
    """A change of some of a list's fields (the districts it covers are set anew when given)."""

    name: str | None = Field(default=None, min_length=2, max_length=120, pattern=LINE_PATTERN)
    agency: str | None = Field(default=None, min_length=2, max_length=120, pattern=LINE_PATTERN)
    reason: str | None = Field(default=None, max_length=500, pattern=NOTE_PATTERN)
    legal_reference: str | None = Field(default=None, max_length=200, pattern=LINE_PATTERN)
    instructions: str | None = Field(default=None, max_length=1000, pattern=NOTE_PATTERN)
    expires_at: IsoDateTime | None = None
    clear_expiry: bool = False
    district_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    match_mode: MatchMode | None = None
    max_edits: int | None = Field(default=None, ge=0, le=1)
    severity: int | None = Field(default=None, ge=0, le=4)
    enabled: bool | None = None


class HotlistOut(OutModel):
    """A list as the API shows it, with how many plates it holds."""

    id: uuid.UUID
    kind: ListKind
    name: str
    agency: str
    owner_id: uuid.UUID | None
    owner_name: str
    reason: str
    legal_reference: str
    instructions: str
    expires_at: dt.datetime | None
    province_wide: bool
    district_ids: list[uuid.UUID]
    match_mode: MatchMode
    max_edits: int
    severity: int
    enabled: bool
    entries: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EntryIn(InModel):
    """A plate to add to a list; spaces, dashes and dots are dropped, letters upper-cased."""

    plate: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=500, pattern=NOTE_PATTERN)
    reference: str = Field(default="", max_length=120, pattern=LINE_PATTERN)
    description: str = Field(default="", max_length=200, pattern=LINE_PATTERN)
    expires_at: IsoDateTime | None = None

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        return normalise_plate(value)


class EntryOut(OutModel):
    """A listed plate."""

    id: uuid.UUID
    hotlist_id: uuid.UUID
    plate: str
    reason: str
    reference: str
    description: str
    added_by_name: str
    expires_at: dt.datetime | None
    created_at: dt.datetime


class ImportIn(InModel):
    """A CSV of plates (header: plate,reason,reference,description,expires_at) as text."""

    csv: str


class RowResult(OutModel):
    """One row's outcome: ok, or the problems found in it (row 1 is the header)."""

    row: int
    plate: str
    ok: bool
    problems: list[str]


class ImportReport(OutModel):
    """What an import found; with any bad row nothing is stored, even on a real run."""

    dry_run: bool
    rows: int
    imported: int
    errors: int
    results: list[RowResult]  # every bad row, and the good ones on a dry run


class HitOut(OutModel):
    """A sighting that matched a listed plate, and what the operator made of it."""

    id: uuid.UUID
    sighting_id: uuid.UUID
    entry_id: uuid.UUID | None
    hotlist_id: uuid.UUID | None
    hotlist_name: str
    hotlist_kind: str
    read_plate: str
    listed_plate: str
    matched: str
    camera_id: uuid.UUID | None
    district_id: uuid.UUID | None
    seen_at: dt.datetime
    alert_id: uuid.UUID | None
    status: HitStatus
    handled_by_name: str | None
    handled_at: dt.datetime | None
    reason: str | None
    incident_id: uuid.UUID | None


class DismissHitIn(InModel):
    """Why a hit is not the listed vehicle."""

    reason: DismissReason
    note: str = Field(default="", max_length=400, pattern=NOTE_PATTERN)


class OpenIncidentIn(InModel):
    """The incident to open from a confirmed hit (its details come from the hit)."""

    priority: int = Field(default=2, ge=1, le=4)


class PrecisionOut(OutModel):
    """How often the hits of a list (or at a camera) were confirmed: confirmed / (confirmed + dismissed)."""

    key: uuid.UUID | None
    name: str
    confirmed: int
    dismissed: int
    pending: int
    precision: float | None  # None until some hit was judged


class IncidentOpenedOut(OutModel):
    """The incident opened from a hit."""

    id: uuid.UUID
    number: str
