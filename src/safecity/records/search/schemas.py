"""What the records search answers: ranked hits with why they matched, and an officer's quick check."""

from __future__ import annotations

import uuid
from typing import Literal

from safecity.core.schemas import OutModel

QueryKind = Literal["cnic", "phone", "fir", "plate", "name"]


class SearchHit(OutModel):
    """One person or vehicle found, with the reasons it matched (best first)."""

    kind: Literal["person", "vehicle"]
    id: uuid.UUID
    title: str  # the name (and its Urdu spelling), or the registration
    subtitle: str  # s/o the father, or make, model and colour
    district_id: uuid.UUID
    score: float
    why: list[str]
    url: str


class SearchOut(OutModel):
    """The hits within the reader's districts, and how many more there are beyond them (no names)."""

    kinds: list[QueryKind]
    hits: list[SearchHit]
    elsewhere: int  # matches in other districts: opening one needs break-glass


class CheckOut(OutModel):
    """An officer's quick check of a CNIC or a plate: the flags, and the record only when within scope."""

    kind: Literal["cnic", "plate"]
    found: bool
    wanted: bool  # an active warrant (not executed, not expired) against the person
    missing: bool  # reported missing and not found
    stolen: bool  # a stolen-vehicle report not recovered
    hotlists: list[str]  # kinds of enabled hotlists the plate is on
    record_id: uuid.UUID | None  # the person or vehicle, when the checker may open it
