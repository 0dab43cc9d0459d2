"""A prison event as the prisons department's feed gives it, and as the records pages show it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from safecity.core.identifiers import format_cnic
from safecity.core.schemas import OutModel

EVENTS = ("released", "escaped", "transferred")


def plain(value: str) -> str:
    """Text with its runs of spaces made one; ValueError for control characters, NUL or lone surrogates."""
    if any(ord(c) < 32 or ord(c) == 127 or "\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("holds characters that are not text")
    return " ".join(value.split())


class PrisonEventIn(BaseModel):
    """One event of the feed (`GET <url>/events?since=<ISO time>` answers a JSON list of these)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=64)
    cnic: str
    name: str = Field(min_length=1, max_length=120)
    prison: str = Field(min_length=1, max_length=120)
    event: Literal["released", "escaped", "transferred"]
    at: dt.datetime
    district: str = Field(default="", max_length=8)  # the prison's district code, if the feed gives it

    @field_validator("cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return format_cnic(value)

    @field_validator("id", "name", "prison", "district")
    @classmethod
    def _plain(cls, value: str) -> str:
        return plain(value)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time without its zone (write 2026-12-01T10:00:00+05:00)")
        return value.astimezone(dt.UTC)


class PrisonEventOut(OutModel):
    """A release, escape or transfer on a person's record."""

    cnic: str
    name: str
    prison: str
    event: str
    at: dt.datetime
    source: str
    received_at: dt.datetime


class PollReport(BaseModel):
    """What one poll of a prisons feed brought: new events, events already held, events refused."""

    source: str
    since: dt.datetime
    new: int
    known: int
    refused: int  # events that did not validate (logged by field, never by value)
    escapes: int
