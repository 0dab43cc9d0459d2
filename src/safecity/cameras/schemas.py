"""API schemas of the camera registry: cameras, premises, imports, compliance and reviews.

Credentials go in, never out: outputs carry only the username and `has_credentials`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from safecity.cameras.models import AccessScope, Approval, Camera, Owner, Sharing
from safecity.core.schemas import InModel, OutModel

TAG_PATTERN = re.compile(r"^[\w][\w .:-]{0,31}$")
MAX_TAGS = 20
WORKER_ID = r"^[-_.A-Za-z0-9]{1,100}$"  # a worker's id as `safecity worker --worker-id` takes it


def normalise_tags(tags: list[str]) -> list[str]:
    """Tags lower-cased, de-duplicated in order; each 1-32 letters, digits, spaces or `_.:-`."""
    seen: dict[str, None] = {}
    for raw in tags:
        tag = raw.strip().lower()
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f"tag {raw!r}: use 1-32 letters, digits, spaces or _ . : -")
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return list(seen)


class _Point(InModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class _View(InModel):
    bearing: float | None = Field(default=None, ge=0, lt=360, description="degrees clockwise from north")
    field_of_view: float | None = Field(default=None, gt=0, le=360, description="degrees")


class _Streams(InModel):
    stream_url: str = Field(
        min_length=1, max_length=500, description="rtsp://, rtsps://, http(s):// or a file path (demos)"
    )
    substream_url: str | None = Field(default=None, max_length=500)
    username: str | None = Field(default=None, max_length=120)
    password: SecretStr | None = Field(default=None, max_length=200)


class CameraIn(_Point, _View, _Streams):
    """A camera registered by the authority. Credentials may come in the fields or inside the URL."""

    name: str = Field(min_length=2, max_length=120)
    district_id: uuid.UUID
    site_id: uuid.UUID | None = None
    owner: Owner = Owner.POLICE
    owner_organisation: str = Field(default="", max_length=160)
    sharing: Sharing = Sharing.CONTINUOUS
    tags: list[str] = Field(default_factory=list)
    retention_days: int = Field(default=30, ge=1, le=3650)
    enabled: bool = True
    recording: bool = True
    pinned_worker: str | None = Field(default=None, pattern=WORKER_ID)

    _tags = field_validator("tags")(normalise_tags)


class CameraUpdate(InModel):
    """A partial change: fields left out stay as they are; `clear_credentials` removes stored ones."""

    name: str | None = Field(default=None, min_length=2, max_length=120)
    district_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    bearing: float | None = Field(default=None, ge=0, lt=360)
    field_of_view: float | None = Field(default=None, gt=0, le=360)
    stream_url: str | None = Field(default=None, min_length=1, max_length=500)
    substream_url: str | None = Field(default=None, max_length=500)
    username: str | None = Field(default=None, max_length=120)
    password: SecretStr | None = Field(default=None, max_length=200)
    clear_credentials: bool = False
    owner: Owner | None = None
    owner_organisation: str | None = Field(default=None, max_length=160)
    sharing: Sharing | None = None
    tags: list[str] | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    enabled: bool | None = None
    recording: bool | None = None
    pinned_worker: str | None = Field(default=None, pattern=WORKER_ID)  # null: not pinned

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else normalise_tags(tags)


ItemStatus = Literal["passed", "failed", "not_measurable"]


class ComplianceItem(OutModel):
    """One requirement of the compliance check, with a reason a person can act on."""

    key: str
    title: str
    status: ItemStatus
    reason: str


class ComplianceReport(OutModel):
    """The outcome of one automated compliance check of a camera."""

    checked_at: dt.datetime
    passed: bool  # no item failed ("not measurable" is shown, but does not fail the camera)
    items: list[ComplianceItem]


class CameraOut(OutModel):
    id: uuid.UUID
    name: str
    district_id: uuid.UUID
    site_id: uuid.UUID | None
    premises_id: uuid.UUID | None
    latitude: float
    longitude: float
    bearing: float | None
    field_of_view: float | None
    stream_url: str
    substream_url: str | None
    username: str | None
    has_credentials: bool
    owner: Owner
    owner_organisation: str
    sharing: Sharing
    approval: Approval
    review_reason: str | None
    reviewed_at: dt.datetime | None
    tags: list[str]
    enabled: bool
    recording: bool
    pinned_worker: str | None
    retention_days: int
    compliance: ComplianceReport | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, camera: Camera) -> CameraOut:
        """The public view of a camera: never its password."""
        return cls(
            id=camera.id,
            name=camera.name,
            district_id=camera.district_id,
            site_id=camera.site_id,
            premises_id=camera.premises_id,
            latitude=camera.latitude,
            longitude=camera.longitude,
            bearing=camera.bearing,
            field_of_view=camera.field_of_view,
            stream_url=camera.stream_url,
            substream_url=camera.substream_url,
            username=camera.username,
            has_credentials=camera.password_encrypted is not None,
            owner=camera.owner,
            owner_organisation=camera.owner_organisation,
            sharing=camera.sharing,
            approval=camera.approval,
            review_reason=camera.review_reason,
            reviewed_at=camera.reviewed_at,
            tags=list(camera.tags),
            enabled=camera.enabled,
            recording=camera.recording,
            pinned_worker=camera.pinned_worker,
            retention_days=camera.retention_days,
            compliance=None
            if camera.compliance is None
            else ComplianceReport.model_validate(camera.compliance),
            created_at=camera.created_at,
            updated_at=camera.updated_at,
        )


class ImportIn(InModel):
    """A CSV file sent as JSON text (see service.CSV_HEADER for the columns)."""

    csv: str = Field(max_length=1_000_000)


class RowProblem(OutModel):
    row: int  # the line in the file (the header is line 1)
    field: str
    problem: str


class ImportReport(OutModel):
    """What an import found: with any problem nothing is stored, even on a real run."""

    dry_run: bool
    rows: int
    imported: int
    problems: list[RowProblem]


class PremisesIn(_Point):
    """A commercial premises registered by its owner."""

    name: str = Field(min_length=2, max_length=160)
    organisation: str = Field(min_length=2, max_length=160)
    address: str = Field(default="", max_length=500)
    contact_phone: str = Field(max_length=20, description="a Pakistani mobile number, e.g. 0300 1234567")
    district_id: uuid.UUID


class PremisesOut(OutModel):
    id: uuid.UUID
    district_id: uuid.UUID
    name: str
    organisation: str
    address: str
    contact_phone: str
    latitude: float
    longitude: float
    created_at: dt.datetime


class OwnerCameraIn(_View, _Streams):
    """A camera an owner connects at their premises; it waits for the authority's review."""

    name: str = Field(min_length=2, max_length=120)
    sharing: Sharing = Sharing.ON_REQUEST
    latitude: float | None = Field(default=None, ge=-90, le=90, description="default: the premises'")
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ReviewIn(InModel):
    """A reviewer's decision. A reason is needed to reject, and to approve a camera that has not passed
    its compliance check (the reviewer has seen the findings and approves regardless)."""

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=1000)


class ViewerOut(OutModel):
    """One viewing of a camera, from the audit log."""

    at: dt.datetime
    viewer: str
    action: str
    outcome: str
    purpose: str | None


class AccessRequestIn(InModel):
    """A request to watch an on-request camera: what, why, and for which window (starting now by default)."""

    scope: AccessScope = AccessScope.LIVE
    purpose: str = Field(min_length=10, max_length=1000, description="why: the case, what is looked for")
    incident_ref: str = Field(default="", max_length=64, description="an incident or FIR number, if any")
    emergency: bool = False
    starts_at: dt.datetime | None = None
    hours: int = Field(default=2, ge=1, le=168)


class AccessDecisionIn(InModel):
    """The owner's answer to a request: grant, refuse (with a reason), or revoke a grant (with a reason)."""

    decision: Literal["grant", "refuse", "revoke"]
    note: str = Field(default="", max_length=1000)
