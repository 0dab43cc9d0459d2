"""What the vehicle registry holds and answers: a registration as an extract row or a REST answer gives it,
the look-up's answer, the import report and the connector's health; and the normalisers behind them
(plate keys, CNIC, phones, vehicle classes, colours).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safecity.analytics.plates.hotlists.schemas import normalise_plate
from safecity.analytics.plates.service import fold
from safecity.core.identifiers import format_cnic, mobile
from safecity.core.schemas import InModel, OutModel

# The columns of an Excise extract, in this order (the header row must name them).
CSV_HEADER = (
    "plate", "province", "owner_name", "owner_cnic", "owner_phone", "owner_email", "owner_address",
    "make", "model", "colour", "class", "status", "registered_on",
)  # fmt: skip

FINE_CLASSES = ("motorcycle", "rickshaw", "car", "large")  # the fine schedule's vehicle classes
# How registries write a vehicle's class (Excise body types and plain words) -> the fine class.
_MOTORCYCLES = ("motorcycle", "motor cycle", "motorbike", "bike", "scooter", "m/cycle", "mc")
_RICKSHAWS = ("rickshaw", "auto rickshaw", "motor rickshaw", "loader rickshaw", "qingqi")
_CARS = ("car", "motor car", "jeep", "suv", "station wagon", "taxi", "van", "pickup", "pick up", "ltv")
_LARGE = (
    "large", "bus", "mini bus", "minibus", "coaster", "truck", "lorry", "trailer", "tanker", "dumper",
    "tractor", "prime mover", "htv",
)  # fmt: skip
_CLASS_WORDS: dict[str, str] = {
    **dict.fromkeys(_MOTORCYCLES, "motorcycle"),
    **dict.fromkeys(_RICKSHAWS, "rickshaw"),
    **dict.fromkeys(_CARS, "car"),
    **dict.fromkeys(_LARGE, "large"),
}
# Colour names as registries write them -> the names the cameras measure (analytics.attributes.COLOURS).
_COLOUR_WORDS: dict[str, str] = {
    "white": "white", "off white": "white", "cream": "white", "pearl": "white", "pearl white": "white",
    "black": "black", "grey": "grey", "gray": "grey", "graphite": "grey", "silver": "silver",
    "red": "red", "maroon": "red", "burgundy": "red", "wine": "red", "blue": "blue", "navy": "blue",
    "navy blue": "blue", "sky blue": "blue", "green": "green", "yellow": "yellow", "gold": "yellow",
    "golden": "yellow", "orange": "orange", "brown": "brown", "beige": "brown", "bronze": "brown",
    "khaki": "brown",
}  # fmt: skip
_SHADES = ("light ", "dark ", "metallic ", "pearl ")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")


def plate_key(text: str) -> str:
    """The registry's key of a plate: A-Z0-9 with look-alike characters folded (`LEB-1O5` -> `LE8105`).

    ValueError (saying what is wrong) when it is no plate.
    """
    return fold(normalise_plate(text))


def fine_class(text: str | None) -> str | None:
    """The fine class (motorcycle, rickshaw, car, large) of a registry's class word; None: unknown."""
    if not text:
        return None
    return _CLASS_WORDS.get(" ".join(text.lower().replace("_", " ").replace("-", " ").split()))


def canonical_colour(text: str | None) -> str | None:
    """A registry's colour as a colour the cameras name (`Navy Blue` -> blue); None: unknown or none."""
    if not text:
        return None
    word = " ".join(text.lower().replace("-", " ").split())
    if word in _COLOUR_WORDS:
        return _COLOUR_WORDS[word]
    for shade in _SHADES:
        if word.startswith(shade) and word.removeprefix(shade) in _COLOUR_WORDS:
            return _COLOUR_WORDS[word.removeprefix(shade)]
    return None


def _plain(value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"too long ({len(value)} characters; at most {limit})")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("holds control characters")
    return value


def _parse_day(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    match = _DATE_DMY.fullmatch(text)
    if match:  # 31/01/2020 and 31-01-2020, as Pakistani extracts write dates
        day, month, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise ValueError(f"{text!r} is not a date") from None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:20]!r} is not a date such as 2020-01-31 or 31/01/2020") from None


class RegistrationIn(BaseModel):
    """One vehicle as an extract row or the live registry gives it (fields as the CSV columns)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    plate: str
    province: str = Field(default="", max_length=8)
    owner_name: str = Field(min_length=1)
    owner_cnic: str
    owner_phone: str = ""
    owner_email: str = ""
    owner_address: str = ""
    make: str = ""
    model: str = ""
    colour: str = ""
    vehicle_class: str = Field(alias="class")
    status: str = "registered"
    registered_on: dt.date | None = None

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        # NUL and lone surrogates (JSON allows "\ud800") cannot be stored in PostgreSQL: refused, never a 500.
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in value):
                    raise ValueError(f"{str(key)[:24]} holds characters that are not text")
        return data

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        return plate_key(value)

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        return _plain(value.upper(), 8)

    @field_validator("owner_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _plain(" ".join(value.split()), 120)

    @field_validator("owner_cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return format_cnic(value)

    @field_validator("owner_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return mobile(value) if value else ""

    @field_validator("owner_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("owner_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _plain(" ".join(value.split()), 300)

    @field_validator("make", "model")
    @classmethod
    def _short(cls, value: str) -> str:
        return _plain(value, 40)

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str) -> str:
        return _plain(value.lower(), 24)

    @field_validator("vehicle_class")
    @classmethod
    def _class(cls, value: str) -> str:
        found = fine_class(value)
        if found is None:
            raise ValueError(
                f"{value[:24]!r} is no vehicle class we know (motorcycle, rickshaw, car, large, bus, truck …)"
            )
        return found

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        return _plain(value.lower() or "registered", 24)

    @field_validator("registered_on", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return _parse_day(value)

    def row(self, *, source: str, now: dt.datetime) -> dict[str, Any]:
        """The registration as the columns of its table row."""
        return {
            "plate": self.plate,
            "province_code": self.province,
            "owner_name": self.owner_name,
            "owner_cnic": self.owner_cnic,
            "owner_phone": self.owner_phone,
            "owner_email": self.owner_email,
            "owner_address": self.owner_address,
            "make": self.make,
            "model": self.model,
            "colour": self.colour,
            "vehicle_class": self.vehicle_class,
            "status": self.status,
            "registered_on": self.registered_on,
            "source": source[:64],
            "updated_at": now,
        }


class VehicleOut(OutModel):
    """The vehicle as registered."""

    plate: str
    province_code: str
    make: str
    model: str
    colour: str
    vehicle_class: str
    status: str
    registered_on: dt.date | None


class OwnerOut(BaseModel):
    """The registered owner (personal data: every look-up is audited with its purpose)."""

    name: str
    cnic: str
    phone: str
    email: str
    address: str


class LookupOut(BaseModel):
    """What the registry says of a plate (found or not), from where and as of when."""

    plate: str  # the key looked up (folded)
    found: bool
    source: str  # the connector, or "import:<file>" for an extract row
    checked_at: dt.datetime
    updated_at: dt.datetime | None  # when the registry's answer was fetched or imported
    vehicle: VehicleOut | None
    owner: OwnerOut | None
    # The registry could not answer now: this is its last answer, fetched at `updated_at`, and why.
    stale: bool = False
    stale_reason: str | None = None


class ImportIn(InModel):
    """An Excise extract as CSV text (header: plate,province,owner_name,…,registered_on)."""

    csv: str


class RowResult(OutModel):
    """A bad row: its line (1 is the header), its plate as written and what is wrong with it."""

    row: int
    plate: str
    problems: list[str]


class ImportReport(OutModel):
    """What an import found and did; with any bad row nothing is stored, even on a real run."""

    dry_run: bool
    file_name: str
    rows: int
    new: int  # plates not yet in the registry
    updated: int  # plates whose registration the file replaces
    imported: int  # stored (0 on a dry run or when any row is bad)
    errors: int
    results: list[RowResult]  # the bad rows (the first MAX_REPORTED of them)


class HealthOut(BaseModel):
    """The registry connector as an administrator sees it."""

    type: str
    name: str
    endpoint: str
    state: Literal["closed", "open", "half_open", "local"]
    failures: int
    last_error: str | None
    last_error_at: dt.datetime | None
    last_success_at: dt.datetime | None
    opened_until: dt.datetime | None
    registrations: int  # rows held (imported and cached)
    last_import_at: dt.datetime | None
