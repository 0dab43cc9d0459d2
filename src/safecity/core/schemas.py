"""Base classes of every API schema: strict in, plain out; and the one way an API takes a moment in time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from safecity.core.errors import InvalidInput

ISO_EXAMPLE = "2026-01-31T08:00:00+05:00"


def has_nul(value: object) -> bool:
    """Whether a NUL character hides in `value` (text, or the keys and items of JSON containers)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class InModel(BaseModel):
    """Input: unknown fields are refused, text is trimmed, and strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL in text (SQLite can): refused alike on both, never a 500.
        if has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class Area(InModel):
    """A rectangle of the map (WGS 84 degrees): the cameras inside it are searched."""

    south: float = Field(ge=-90, le=90)
    west: float = Field(ge=-180, le=180)
    north: float = Field(ge=-90, le=90)
    east: float = Field(ge=-180, le=180)

    @classmethod
    def from_text(cls, text: str) -> Area | None:
        """ "south,west,north,east" (as a page's map draws it) as an area; None when none was drawn."""
        if not text:
            return None
        try:
            south, west, north, east = (float(v) for v in text.split(","))
        except ValueError:
            raise InvalidInput("the area drawn is not valid; draw it again", field="area") from None
        return cls(south=south, west=west, north=north, east=east)

    @model_validator(mode="after")
    def _ordered(self) -> Area:
        if self.north <= self.south or self.east <= self.west:
            raise ValueError("the area's north must be above its south, its east right of its west")
        return self


class OutModel(BaseModel):
    """Output, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _iso_8601_with_zone(value: object) -> dt.datetime:
    """ISO 8601 text with its time zone, nothing else.

    Pydantic alone would also read `0.5` or `1700000000` as unix times and take naive times, whose zone
    the server would have to guess.
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case t and z
        except ValueError:
            raise ValueError(f"expected an ISO 8601 date and time such as {ISO_EXAMPLE}") from None
    else:
        raise ValueError(f"expected an ISO 8601 date and time such as {ISO_EXAMPLE}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"give the time zone too, as in {ISO_EXAMPLE} or with Z for UTC")
    return moment


# A moment given to the API (query parameters such as `since` and `until`): ISO 8601 with a time zone.
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_8601_with_zone)]
