"""REST API of the camera registry (/api/v1/cameras) and of commercial cameras (/api/v1/premises)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from safecity.cameras import onboarding
from safecity.cameras import service as cameras
from safecity.cameras.models import Approval, Owner
from safecity.cameras.schemas import (
    CameraIn,
    CameraOut,
    CameraUpdate,
    ComplianceReport,
    ImportIn,
    ImportReport,
    OwnerCameraIn,
    PremisesIn,
    PremisesOut,
    ReviewIn,
    ViewerOut,
)
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.video import flows as video_flows
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1", tags=["cameras"])


def app_settings(request: Request) -> Settings:
    """The process's configuration (where camera streams may point, compliance minimums, folders)."""
    return get_services(request).settings


Config = Annotated[Settings, Depends(app_settings)]


def credentials_box(config: Config) -> SecretBox:
    """The box sealing camera credentials, from the process's secret key."""
    return cameras.credentials_box(config)


Box = Annotated[SecretBox, Depends(credentials_box)]


@router.get("/cameras", response_model=list[CameraOut])
def list_cameras(
    principal: CurrentPrincipal,
    db: Db,
    district_id: uuid.UUID | None = None,
    owner: Owner | None = None,
    tag: Annotated[str | None, Query(max_length=32)] = None,
    approval: Approval | None = None,
    q: Annotated[str | None, Query(max_length=120, description="part of the name")] = None,
) -> list[CameraOut]:
    """Cameras in the caller's districts, filtered by district, owner, tag, approval or name."""
    found = cameras.list_cameras(
        session=db,
        principal=principal,
        district_id=district_id,
        owner=owner,
        tag=tag,
        approval=approval,
        search=q,
    )
    return [CameraOut.of(c) for c in found]


@router.post("/cameras", response_model=CameraOut, status_code=201)
def create_camera(body: CameraIn, principal: CurrentPrincipal, db: Db, box: Box, config: Config) -> CameraOut:
    """Register a camera; credentials in the URL are split out and sealed."""
    camera = cameras.create_camera(session=db, principal=principal, box=box, settings=config, data=body)
    return CameraOut.of(camera)


@router.post(
    "/cameras/import",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "bad rows: nothing was imported"}},
)
def import_cameras(
    body: ImportIn, principal: CurrentPrincipal, db: Db, box: Box, config: Config, dry_run: bool = True
) -> Response:
    """Import cameras from CSV text (header: see the import page); a dry run only reports bad rows."""
    report = cameras.import_csv(
        session=db, principal=principal, box=box, settings=config, text=body.csv, dry_run=dry_run
    )
    status = 422 if report.problems and not dry_run else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


@router.get("/cameras/{camera_id:uuid}", response_model=CameraOut)
def get_camera(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> CameraOut:
    """One camera (in scope, or one of the caller's own)."""
    return CameraOut.of(cameras.get_camera(session=db, principal=principal, camera_id=camera_id))


@router.patch("/cameras/{camera_id:uuid}", response_model=CameraOut)
def update_camera(
    camera_id: uuid.UUID, body: CameraUpdate, principal: CurrentPrincipal, db: Db, box: Box, config: Config
) -> CameraOut:
    """Change some of a camera's fields (an owner: name, place, view, streams; a new stream is reviewed)."""
    camera = cameras.update_camera(
        session=db, principal=principal, box=box, settings=config, camera_id=camera_id, data=body
    )
    return CameraOut.of(camera)


@router.delete("/cameras/{camera_id:uuid}", status_code=204)
def delete_camera(camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db, config: Config) -> Response:
    """Remove a camera from the registry, with its recordings (refused while any are evidence)."""
    video_flows.delete_camera(session=db, principal=principal, settings=config, camera_id=camera_id)
    return Response(status_code=204)


@router.post("/cameras/{camera_id:uuid}/compliance", response_model=ComplianceReport)
def check_compliance(
    camera_id: uuid.UUID, principal: CurrentPrincipal, db: Db, box: Box, config: Config
) -> ComplianceReport:
    """Run the automated compliance check now (the camera's owner, or cameras.manage) and keep the report."""
    return onboarding.run_compliance_check(
        session=db, principal=principal, box=box, settings=config, camera_id=camera_id
    )


@router.post("/cameras/{camera_id:uuid}/review", response_model=CameraOut)
def review_camera(camera_id: uuid.UUID, body: ReviewIn, principal: CurrentPrincipal, db: Db) -> CameraOut:
    """Approve or reject a commercial camera (a reason is required to reject)."""
    return CameraOut.of(
        onboarding.review_camera(session=db, principal=principal, camera_id=camera_id, data=body)
    )


@router.get("/cameras/{camera_id:uuid}/viewers", response_model=list[ViewerOut])
def camera_viewers(
    camera_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=onboarding.MAX_VIEWERS)] = 200,
) -> list[ViewerOut]:
    """Who watched, played back or exported this camera's video, newest first."""
    entries = onboarding.camera_viewers(session=db, principal=principal, camera_id=camera_id, limit=limit)
    return [
        ViewerOut(at=e.at, viewer=e.actor_name, action=e.action, outcome=e.outcome, purpose=e.purpose)
        for e in entries
    ]


@router.get("/premises", response_model=list[PremisesOut])
def list_premises(principal: CurrentPrincipal, db: Db) -> list[PremisesOut]:
    """The caller's own premises."""
    return [PremisesOut.model_validate(p) for p in onboarding.list_premises(session=db, principal=principal)]


@router.post("/premises", response_model=PremisesOut, status_code=201)
def create_premises(body: PremisesIn, principal: CurrentPrincipal, db: Db) -> PremisesOut:
    """Register premises whose cameras the caller will connect."""
    return PremisesOut.model_validate(onboarding.create_premises(session=db, principal=principal, data=body))


@router.get("/premises/{premises_id:uuid}/cameras", response_model=list[CameraOut])
def premises_cameras(premises_id: uuid.UUID, principal: CurrentPrincipal, db: Db) -> list[CameraOut]:
    """The cameras at one of the caller's premises, with their review status and compliance report."""
    onboarding.own_premises(session=db, principal=principal, premises_id=premises_id)
    found = onboarding.owner_cameras(session=db, principal=principal, premises_id=premises_id)
    return [CameraOut.of(c) for c in found]


@router.post("/premises/{premises_id:uuid}/cameras", response_model=CameraOut, status_code=201)
def register_camera(
    premises_id: uuid.UUID, body: OwnerCameraIn, principal: CurrentPrincipal, db: Db, box: Box, config: Config
) -> CameraOut:
    """Connect a camera at one of the caller's premises; it waits for the authority's review."""
    camera = onboarding.register_camera(
        session=db, principal=principal, box=box, settings=config, premises_id=premises_id, data=body
    )
    return CameraOut.of(camera)
