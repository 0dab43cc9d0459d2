"""What an identity service answers of a CNIC, validated before anyone sees it: names in English and Urdu
script, the father's or husband's name, date of birth, gender, addresses and a photo that really is a JPEG.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from safecity.core.identifiers import format_cnic

MAX_PHOTO_BYTES = 256 * 1024  # a NADRA card photo is a few tens of KiB
MAX_PHOTO_SIDE = 2000
# Arabic-script letters and marks (Urdu), with spaces and the few marks names carry.
_URDU = re.compile(r"^[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF .\-]+$")
_LATIN = re.compile(r"^[A-Za-z][A-Za-z .'\-]*$")
# A photo in JSON: standard base64 (as the service sends it), not pydantic's URL-safe flavour.
Jpeg = Annotated[
    bytes, PlainSerializer(lambda b: base64.b64encode(b).decode(), return_type=str, when_used="json")
]
_GENDERS = {
    "m": "male",
    "male": "male",
    "f": "female",
    "female": "female",
    "x": "transgender",
    "t": "transgender",
}


def jpeg(data: bytes, *, limit: int = MAX_PHOTO_BYTES) -> bytes:
    """The bytes when they are a JPEG that decodes to an image of sane size; ValueError saying why not."""
    if len(data) > limit:
        raise ValueError(f"the photo is larger than {limit // 1024} KiB")
    if not data.startswith(b"\xff\xd8\xff"):
        raise ValueError("the photo is not a JPEG")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the photo does not decode")
    height, width = image.shape[:2]
    if not (16 <= width <= MAX_PHOTO_SIDE and 16 <= height <= MAX_PHOTO_SIDE):
        raise ValueError(f"the photo is {width}x{height}; expected 16 to {MAX_PHOTO_SIDE} pixels a side")
    return data


class IdentityIn(BaseModel):
    """An identity as the service's JSON gives it (`photo`: base64 of a JPEG)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    cnic: str
    name_en: str = Field(min_length=1, max_length=120)
    name_ur: str = Field(default="", max_length=120)
    guardian_name: str = Field(default="", max_length=120)
    guardian_relation: Literal["father", "husband", ""] = ""
    date_of_birth: dt.date | None = None
    gender: str = ""
    present_address: str = Field(default="", max_length=300)
    permanent_address: str = Field(default="", max_length=300)
    photo: str = ""

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        # NUL and lone surrogates cannot be stored or shown: refused as a bad answer, never a 500.
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and any(
                    c == "\x00" or "\ud800" <= c <= "\udfff" or (ord(c) < 32 and c not in "\t") for c in value
                ):
                    raise ValueError(f"{str(key)[:24]} holds characters that are not text")
        return data

    @field_validator("cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return format_cnic(value)

    @field_validator("name_en", "guardian_name")
    @classmethod
    def _latin(cls, value: str) -> str:
        value = " ".join(value.split())
        if value and not _LATIN.fullmatch(value):
            raise ValueError("not a name in English letters")
        return value

    @field_validator("name_ur")
    @classmethod
    def _urdu(cls, value: str) -> str:
        value = " ".join(value.split())
        if value and not _URDU.fullmatch(value):
            raise ValueError("not a name in Urdu script")
        return value

    @field_validator("gender")
    @classmethod
    def _gender(cls, value: str) -> str:
        if not value:
            return ""
        found = _GENDERS.get(value.lower())
        if found is None:
            raise ValueError("gender is male, female or transgender")
        return found

    @field_validator("present_address", "permanent_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return " ".join(value.split())

    def out(self, *, source: str, checked_at: dt.datetime, photo_limit: int = MAX_PHOTO_BYTES) -> IdentityOut:
        """The verified identity; the photo decoded and checked (ValueError when it is no usable JPEG)."""
        photo = None
        if self.photo:
            try:
                raw = base64.b64decode(self.photo, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("the photo is not base64") from None
            photo = jpeg(raw, limit=photo_limit)
        addresses = list(dict.fromkeys(a for a in (self.present_address, self.permanent_address) if a))
        return IdentityOut(
            cnic=self.cnic,
            name_en=self.name_en,
            name_ur=self.name_ur,
            guardian_name=self.guardian_name,
            guardian_relation=self.guardian_relation,
            date_of_birth=self.date_of_birth,
            gender=self.gender,
            addresses=addresses,
            photo=photo,
            source=source,
            checked_at=checked_at,
        )


class IdentityOut(BaseModel):
    """A person as the identity service knows them (personal data: every verification states its purpose)."""

    model_config = ConfigDict(frozen=True)

    cnic: str  # NNNNN-NNNNNNN-N
    name_en: str
    name_ur: str  # Urdu script; "" when the service gave none
    guardian_name: str  # the father's or (for a married woman) the husband's name
    guardian_relation: Literal["father", "husband", ""]
    date_of_birth: dt.date | None
    gender: str  # male, female, transgender; "" when not given
    addresses: list[str]  # present, then permanent (when different)
    photo: Jpeg | None  # a JPEG that decodes (base64 in JSON)
    source: str  # the connector's name
    checked_at: dt.datetime


class VerificationOut(BaseModel):
    """The answer to a verification: whether an identity service is configured, and what it said."""

    cnic: str
    configured: bool  # False: no identity service is configured here (found is then False)
    found: bool
    identity: IdentityOut | None
