"""What goes into and out of the records: persons and vehicles as entered, imported or fetched."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from pydantic import Field, field_validator

from safecity.connectors.vehicles.schemas import plate_key
from safecity.core.identifiers import cnic_digits, mobile
from safecity.core.schemas import InModel
from safecity.records.models import Sensitivity

# Control and format characters (bidi overrides, zero-width joiners used to hide text) are never a name.
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_URDU = re.compile(r"^[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff\s.'-]*$")


def clean_name(value: str, *, limit: int = 120) -> str:
    """A name with spaces collapsed, NFC-normalised, without control characters; ValueError if too long."""
    text = " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", value)).split())
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


class PersonIn(InModel):
    """A person's record as someone enters it (or a connector or an import gives it)."""

    cnic: str | None = None
    name: str = Field(min_length=1, max_length=200)
    name_ur: str = Field(default="", max_length=200)
    father_name: str = Field(default="", max_length=200)
    father_name_ur: str = Field(default="", max_length=200)
    relation: str = Field(default="s/o", pattern=r"^(s/o|d/o|w/o)$")
    gender: str = Field(default="", pattern=r"^[mfx]?$")
    date_of_birth: dt.date | None = None
    identifying_marks: str = Field(default="", max_length=2000)
    sensitivity: Sensitivity = Sensitivity.NONE
    aliases: list[str] = Field(default_factory=list, max_length=20)
    phones: list[str] = Field(default_factory=list, max_length=10)
    addresses: list[str] = Field(default_factory=list, max_length=10)
    notes: str = Field(default="", max_length=5000)

    @field_validator("cnic")
    @classmethod
    def _cnic(cls, value: str | None) -> str | None:
        return cnic_digits(value) if value else None

    @field_validator("name", "father_name", "aliases")
    @classmethod
    def _latin(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            return [n for n in (clean_name(v) for v in value) if n]
        return clean_name(value)

    @field_validator("name_ur", "father_name_ur")
    @classmethod
    def _urdu(cls, value: str) -> str:
        text = clean_name(value)
        if not _URDU.match(text):
            raise ValueError("write this in Urdu script")
        return text

    @field_validator("phones")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(mobile(v) for v in value if v.strip()))

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [a for a in (clean_name(v, limit=300) for v in value) if a]

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= dt.datetime.now(dt.UTC).date():
            raise ValueError("a date of birth between 1900 and today")
        return value


class VehicleIn(InModel):
    """A vehicle's record: its plate, its numbers, what it looks like, its owner when known."""

    registration: str = Field(min_length=1, max_length=24)
    chassis_no: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9-]*$")
    engine_no: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9-]*$")
    make: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=40)
    colour: str = Field(default="", max_length=24)
    vehicle_class: str = Field(default="", max_length=24)

    @field_validator("registration")
    @classmethod
    def _registration(cls, value: str) -> str:
        plate_key(value)  # ValueError, saying why, when it is no plate
        return " ".join(value.upper().split())

    @field_validator("chassis_no", "engine_no")
    @classmethod
    def _number(cls, value: str) -> str:
        return value.upper()
