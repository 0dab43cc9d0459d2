"""Pydantic shapes of watchlists, their entries, enrolment reports, authorisations and error rates."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from safecity.core.schemas import InModel, IsoDateTime, OutModel
from safecity.events.alerts.schemas import LINE_PATTERN, NOTE_PATTERN
from safecity.faces.models import AuthorisationKind, WatchlistKind

MAX_ENROL_PHOTO_BYTES = 5 * 1024 * 1024
MAX_ENROL_PHOTOS = 10  # photos in one enrolment request
MAX_AUTHORISATION_DAYS = 31  # a longer need is asked for again, and judged again
MIN_TEXT = 10  # a legal basis, a purpose or a reason says what, not "x"


class WatchlistIn(InModel):
    """A new watchlist: what it is for, under which legal basis, in which district, until when."""

    name: str = Field(min_length=2, max_length=120, pattern=LINE_PATTERN)
    kind: WatchlistKind
    legal_basis: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    district_id: uuid.UUID | None = None  # None: the creator's only district
    review_at: IsoDateTime
    expires_at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _review_before_expiry(self) -> WatchlistIn:
        if self.expires_at is not None and self.review_at > self.expires_at:
            raise ValueError("the review date must come before the expiry")
        return self


class WatchlistUpdate(InModel):
    """A change of a watchlist: its name, legal basis, review date or expiry (now: it stops matching)."""

    name: str | None = Field(default=None, min_length=2, max_length=120, pattern=LINE_PATTERN)
    legal_basis: str | None = Field(default=None, min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    review_at: IsoDateTime | None = None
    expires_at: IsoDateTime | None = None


class WatchlistOut(OutModel):
    """A watchlist as the API shows it."""

    id: uuid.UUID
    name: str
    kind: WatchlistKind
    legal_basis: str
    district_id: uuid.UUID
    owner_name: str
    review_at: dt.datetime
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class EntryIn(InModel):
    """A person of the records put on a watchlist: why, under what legal reference, until when."""

    person_id: uuid.UUID
    reason: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    legal_reference: str = Field(default="", max_length=200, pattern=LINE_PATTERN)
    expires_at: IsoDateTime | None = None


class EntryRemove(InModel):
    """Why a person is taken off a watchlist (found, warrant executed, no longer needed)."""

    reason: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)


class EntryOut(OutModel):
    """A watchlist entry as the API shows it, with how many photos are enrolled."""

    id: uuid.UUID
    watchlist_id: uuid.UUID
    person_id: uuid.UUID
    reason: str
    legal_reference: str
    added_by: str
    added_at: dt.datetime
    expires_at: dt.datetime | None
    removed_at: dt.datetime | None
    removed_by: str
    removal_reason: str
    enrolments: int = 0


class PhotoResult(OutModel):
    """One photo of an enrolment: accepted (and its enrolment) or refused with a stable code and why."""

    name: str
    accepted: bool
    code: str | None = None  # no_face, several_faces, poor_quality, duplicate, too_large, unreadable …
    message: str = ""
    sha256: str | None = None
    quality: dict[str, Any] | None = None  # the most prominent face's quality report
    faces: int = 0  # faces found in the photo
    enrolment_id: uuid.UUID | None = None


class EnrolmentReport(OutModel):
    """What became of each photo of one enrolment request."""

    entry_id: uuid.UUID
    results: list[PhotoResult]

    @property
    def accepted(self) -> int:
        """How many photos were enrolled."""
        return sum(1 for r in self.results if r.accepted)


class PhotoIn(InModel):
    """One photo to enrol, base64 in JSON (the API speaks JSON only): a JPEG or PNG of at most 5 MB."""

    name: str = Field(default="photo", max_length=200, pattern=LINE_PATTERN)
    data_base64: str = Field(min_length=1, max_length=(MAX_ENROL_PHOTO_BYTES * 4) // 3 + 4)


class EnrolIn(InModel):
    """Photos of one person to enrol (several views make a better gallery)."""

    photos: list[PhotoIn] = Field(min_length=1, max_length=MAX_ENROL_PHOTOS)


class EnrolmentOut(OutModel):
    """An enrolled photo as listed (never its biometric data)."""

    id: uuid.UUID
    entry_id: uuid.UUID
    sha256: str
    quality: dict[str, Any]
    created_by: str
    created_at: dt.datetime


class AuthorisationIn(InModel):
    """A request to use face recognition on some watchlists and (live) cameras, from when to when."""

    kind: AuthorisationKind
    legal_basis: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    purpose: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)
    district_id: uuid.UUID | None = None  # None: the requester's only district
    watchlist_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    camera_ids: list[uuid.UUID] = Field(default_factory=list, max_length=2000)
    starts_at: IsoDateTime
    ends_at: IsoDateTime

    @model_validator(mode="after")
    def _period(self) -> AuthorisationIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("the authorisation must end after it starts")
        if self.ends_at - self.starts_at > dt.timedelta(days=MAX_AUTHORISATION_DAYS):
            raise ValueError(f"an authorisation lasts {MAX_AUTHORISATION_DAYS} days at most")
        if self.kind == AuthorisationKind.LIVE and not self.camera_ids:
            raise ValueError("name the cameras live matching may run on")
        return self


class RevokeIn(InModel):
    """Why an authorisation is ended before its time."""

    reason: str = Field(min_length=MIN_TEXT, max_length=500, pattern=NOTE_PATTERN)


class AuthorisationOut(OutModel):
    """An authorisation as the API shows it, with its state now."""

    id: uuid.UUID
    kind: AuthorisationKind
    status: str  # pending, approved (current or not yet started), expired, revoked
    district_id: uuid.UUID
    legal_basis: str
    purpose: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    requested_by: str
    requested_at: dt.datetime
    approved_by: str
    approved_at: dt.datetime | None
    revoked_by: str
    revoked_at: dt.datetime | None
    revoke_reason: str
    watchlist_ids: list[uuid.UUID]
    camera_ids: list[uuid.UUID]


class MonthOut(OutModel):
    """One month of the oversight report."""

    month: str
    counts: dict[str, int]


class EvaluationOut(OutModel):
    """Published error rates of the engine."""

    id: uuid.UUID
    dataset: str
    pairs: int
    accuracy: float | None
    tar_at_far_1: float | None
    tar_at_far_01: float | None
    fmr: float | None
    fnmr: float | None
    threshold: float
    groups: dict[str, Any]
    published_by: str
    published_at: dt.datetime


class RatesOut(OutModel):
    """The threshold in force and the published error rates, newest first."""

    threshold: float
    evaluations: list[EvaluationOut]
