"""Pages of the camera registry (/cameras, import, review) and of camera owners (/owner)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from safecity.cameras import access, onboarding
from safecity.cameras import service as cameras
from safecity.cameras.models import AccessScope, Approval, Camera, Owner, Premises, Sharing
from safecity.cameras.schemas import (
    AccessDecisionIn,
    AccessRequestIn,
    CameraIn,
    CameraUpdate,
    ComplianceReport,
    OwnerCameraIn,
    PremisesIn,
    ReviewIn,
)
from safecity.cameras.views import Box, Config
from safecity.core.errors import InvalidInput, NotFound, SafecityError
from safecity.core.schemas import IsoDateTime
from safecity.video import flows as video_flows
from safecity.video import live, recorder
from safecity.video.playback import pages as playback_pages
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, flash, htmx_action, render

router = APIRouter(include_in_schema=False)
Model = TypeVar("Model", bound=BaseModel)
CHART_DAYS = 14


async def _form(request: Request) -> dict[str, Any]:
    """The submitted form: text fields as strings (lists for repeated names), an uploaded file as bytes."""
    form = await request.form()
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        if isinstance(values[0], UploadFile):
            fields[key] = await values[0].read(cameras.MAX_IMPORT_CHARS + 1)
        else:
            fields[key] = values[0] if len(values) == 1 else list(values)
    return fields


FormData = Annotated[dict[str, Any], Depends(_form)]


def _parse(model: type[Model], values: dict[str, Any]) -> Model:
    """Validate form values into `model`, or explain every problem in one InvalidInput."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput("; ".join(problems)) from exc


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _optional(form: dict[str, Any], name: str) -> str | None:
    return _text(form, name) or None


def _tags(form: dict[str, Any]) -> list[str]:
    return [t for t in _text(form, "tags").split(",") if t.strip()]


def _camera_values(form: dict[str, Any]) -> dict[str, Any]:
    """The fields a camera form shares between creating and editing."""
    return {
        "name": _text(form, "name"),
        "district_id": _text(form, "district_id"),
        "site_id": _optional(form, "site_id"),
        "latitude": _text(form, "latitude"),
        "longitude": _text(form, "longitude"),
        "bearing": _optional(form, "bearing"),
        "field_of_view": _optional(form, "field_of_view"),
        "stream_url": _text(form, "stream_url"),
        "substream_url": _optional(form, "substream_url"),
        "owner": _text(form, "owner") or Owner.POLICE.value,
        "owner_organisation": _text(form, "owner_organisation"),
        "sharing": _text(form, "sharing") or Sharing.CONTINUOUS.value,
        "tags": _tags(form),
        "retention_days": _text(form, "retention_days") or 30,
        "enabled": "enabled" in form,
        "recording": "recording" in form,
    }


def camera_points(found: list[Camera]) -> list[dict[str, object]]:
    """Cameras as map markers with their view wedge (bearing and field of view)."""
    return [
        {
            "name": c.name,
            "lat": c.latitude,
            "lon": c.longitude,
            "bearing": c.bearing,
            "fov": c.field_of_view,
            "approval": c.approval.value,
            "enabled": c.enabled,
            "href": f"/cameras/{c.id}",
        }
        for c in found
    ]


def _report(camera: Camera) -> ComplianceReport | None:
    return None if camera.compliance is None else ComplianceReport.model_validate(camera.compliance)


# --- the registry ---------------------------------------------------------------------------------


@router.get("/cameras", response_class=HTMLResponse)
def cameras_page(
    page: CurrentPage,
    db: Db,
    district_id: str = "",
    owner: str = "",
    approval: str = "",
    tag: str = "",
    q: str = "",
) -> Response:
    filters = {"district_id": district_id, "owner": owner, "approval": approval, "tag": tag, "q": q}
    try:
        found = cameras.list_cameras(
            session=db,
            principal=page.principal,
            district_id=uuid.UUID(district_id) if district_id else None,
            owner=Owner(owner) if owner else None,
            approval=Approval(approval) if approval else None,
            tag=tag[:32] or None,
            search=q[:120] or None,
        )
    except ValueError:  # a hand-edited filter in the address bar
        found, filters["error"] = [], "unknown filter value"
    districts = cameras.districts_for(session=db, principal=page.principal)
    return render(
        page,
        "cameras/list.html",
        cameras=found,
        points=camera_points(found),
        districts=districts,
        district_names={d.id: d.name for d in districts},
        filters=filters,
        owners=list(Owner),
        approvals=list(Approval),
    )


def _form_context(page: Page, db: Db, camera: Camera | None) -> dict[str, Any]:
    """What the camera form (new camera, or a camera's details and settings) needs."""
    return {
        "camera": camera,
        "districts": cameras.districts_for(session=db, principal=page.principal),
        "sites": cameras.sites_for(session=db, principal=page.principal),
        "owners": list(Owner),
        "sharings": list(Sharing),
        "report": _report(camera) if camera else None,
        "points": camera_points([camera]) if camera else [],
        "can_manage": page.principal.can(cameras.MANAGE),
    }


def _form_page(page: Page, db: Db, camera: Camera | None) -> Response:
    return render(page, "cameras/form.html", **_form_context(page, db, camera))


@router.get("/cameras/new", response_class=HTMLResponse)
def new_camera_page(page: CurrentPage, db: Db) -> Response:
    page.principal.require(cameras.MANAGE)
    return _form_page(page, db, None)


@router.post("/cameras/new")
def new_camera_submit(page: CurrentPage, db: Db, box: Box, config: Config, form: FormData) -> Response:
    def create() -> None:
        values = _camera_values(form)
        values["username"] = _optional(form, "username")
        values["password"] = _optional(form, "password")
        data = _parse(CameraIn, values)
        cameras.create_camera(session=db, principal=page.principal, box=box, settings=config, data=data)

    return htmx_action(db, create, "/cameras")


@router.get("/cameras/import", response_class=HTMLResponse)
def import_page(page: CurrentPage) -> Response:
    page.principal.require(cameras.MANAGE)
    return render(page, "cameras/import.html", header=",".join(cameras.CSV_HEADER))


def _import_text(form: dict[str, Any]) -> str:
    upload = form.get("file")
    if isinstance(upload, bytes) and upload:
        return cameras.decode_csv(upload)
    return form.get("csv", "") if isinstance(form.get("csv"), str) else ""


@router.post("/cameras/import/check", response_class=HTMLResponse)
def import_check(page: CurrentPage, db: Db, box: Box, config: Config, form: FormData) -> Response:
    try:
        text = _import_text(form)
        report = cameras.import_csv(
            session=db, principal=page.principal, box=box, settings=config, text=text, dry_run=True
        )
    except SafecityError as exc:
        return flash(exc.message, ok=False)
    return render(page, "cameras/import_report.html", report=report, csv_text=text)


@router.post("/cameras/import")
def import_submit(page: CurrentPage, db: Db, box: Box, config: Config, form: FormData) -> Response:
    try:
        report = cameras.import_csv(
            session=db,
            principal=page.principal,
            box=box,
            settings=config,
            text=_import_text(form),
            dry_run=False,
        )
    except SafecityError as exc:
        db.rollback()
        return flash(exc.message, ok=False)
    if report.problems:
        return flash(
            f"Nothing was imported: {len(report.problems)} problems. Check the file again.", ok=False
        )
    return Response(status_code=204, headers={"HX-Redirect": "/cameras"})


@router.get("/cameras/review", response_class=HTMLResponse)
def review_page(page: CurrentPage, db: Db) -> Response:
    queue = onboarding.review_queue(session=db, principal=page.principal)
    districts = cameras.districts_for(session=db, principal=page.principal)
    return render(
        page,
        "cameras/review.html",
        queue=[(c, _report(c), onboarding.compliance_state(c)) for c in queue],
        district_names={d.id: d.name for d in districts},
        flagged=access.flagged_grants(session=db, principal=page.principal),
        min_reason=onboarding.MIN_OVERRIDE_REASON,
    )


@router.get("/cameras/{camera_id:uuid}", response_class=HTMLResponse)
def camera_page(
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    at: IsoDateTime | None = None,
    day: dt.date | None = None,
) -> Response:
    """A camera: live view, instant replay and playback (`at`: from that moment) for those who may watch it;
    its details, and the settings form for those who manage cameras, below."""
    camera = cameras.get_camera(session=db, principal=page.principal, camera_id=camera_id)
    if not any(page.principal.can(p) for p in (live.LIVE_PERMISSION, recorder.PLAYBACK_PERMISSION)):
        return _form_page(page, db, camera)  # a camera administrator or owner: the form is the page
    context = _form_context(page, db, camera)
    status = playback_pages.statuses_of(page, db, [camera.id]).get(camera.id)
    return render(
        page,
        "video/camera.html",
        **context,
        **playback_pages.camera_view(page, db, camera, at=at, day=day),
        status=status,
        district_name=next((d.name for d in context["districts"] if d.id == camera.district_id), ""),
    )


@router.post("/cameras/{camera_id:uuid}")
def camera_submit(
    page: CurrentPage, db: Db, box: Box, config: Config, camera_id: uuid.UUID, form: FormData
) -> Response:
    def update() -> None:
        values = _camera_values(form)
        # The password box is left empty to keep the stored credentials.
        if _text(form, "password"):
            values["username"] = _optional(form, "username")
            values["password"] = _text(form, "password")
        values["clear_credentials"] = "clear_credentials" in form
        data = _parse(CameraUpdate, values)
        cameras.update_camera(
            session=db, principal=page.principal, box=box, settings=config, camera_id=camera_id, data=data
        )

    return htmx_action(db, update, f"/cameras/{camera_id}")


@router.post("/cameras/{camera_id:uuid}/delete")
def camera_delete(page: CurrentPage, db: Db, config: Config, camera_id: uuid.UUID) -> Response:
    return htmx_action(
        db,
        lambda: video_flows.delete_camera(
            session=db, principal=page.principal, settings=config, camera_id=camera_id
        ),
        "/cameras",
    )


def _next(form: dict[str, Any], default: str) -> str:
    target = _text(form, "next")
    return target if target.startswith("/") and not target.startswith("//") else default  # only this site


@router.post("/cameras/{camera_id:uuid}/compliance")
def compliance_submit(
    page: CurrentPage, db: Db, box: Box, config: Config, camera_id: uuid.UUID, form: FormData
) -> Response:
    return htmx_action(
        db,
        lambda: onboarding.run_compliance_check(
            session=db, principal=page.principal, box=box, settings=config, camera_id=camera_id
        ),
        _next(form, "/owner"),
    )


@router.get("/cameras/{camera_id:uuid}/compliance", response_class=HTMLResponse)
def compliance_fragment(
    page: CurrentPage, db: Db, camera_id: uuid.UUID, compact: bool = False, reload: bool = False
) -> Response:
    """The camera's last check (owner or reviewer), as a fragment that refreshes itself while one runs.

    With `reload` (the review page, whose buttons depend on the result) the page reloads once it is done.
    """
    camera = onboarding.reviewable_camera(session=db, principal=page.principal, camera_id=camera_id)
    response = render(
        page,
        "cameras/_compliance_fragment.html",
        camera=camera,
        report=_report(camera),
        compact=compact,
        reload=reload,
    )
    if reload and camera.compliance_due_at is None:
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/cameras/{camera_id:uuid}/review")
def review_submit(page: CurrentPage, db: Db, camera_id: uuid.UUID, form: FormData) -> Response:
    def review() -> None:
        data = _parse(ReviewIn, {"decision": _text(form, "decision"), "reason": _text(form, "reason")})
        onboarding.review_camera(session=db, principal=page.principal, camera_id=camera_id, data=data)

    return htmx_action(db, review, "/cameras/review")


# --- requests to watch on-request cameras ---------------------------------------------------------

HOURS = (1, 2, 4, 8, 12, 24)


@router.get("/cameras/{camera_id:uuid}/access", response_class=HTMLResponse)
def access_page(page: CurrentPage, db: Db, camera_id: uuid.UUID) -> Response:
    """Watching a camera shared on request: the current grant and its video, or a form to ask for one."""
    camera = access.camera_to_request(session=db, principal=page.principal, camera_id=camera_id)
    grants = {
        kind: access.current_grant(session=db, principal=page.principal, camera=camera, permission=permission)
        for kind, permission in (("live", access.LIVE), ("recorded", access.PLAYBACK))
    }
    rules = access.policy(camera.sharing)
    return render(
        page,
        "cameras/access.html",
        camera=camera,
        needed=access.request_needed(camera),
        grants=grants,
        requests=access.my_requests(session=db, principal=page.principal, camera_id=camera.id),
        policy=rules,
        hours=[h for h in HOURS if h <= rules.max_hours],
        scopes=[s for s in AccessScope if _may_ask(page, s)],
        is_current=access.is_current,
    )


def _may_ask(page: Page, scope: AccessScope) -> bool:
    live, recorded = page.principal.can(access.LIVE), page.principal.can(access.PLAYBACK)
    return {AccessScope.LIVE: live, AccessScope.RECORDED: recorded, AccessScope.BOTH: live and recorded}[
        scope
    ]


@router.post("/cameras/{camera_id:uuid}/access")
def access_submit(page: CurrentPage, db: Db, camera_id: uuid.UUID, form: FormData) -> Response:
    def ask() -> None:
        values: dict[str, Any] = {
            "scope": _text(form, "scope") or AccessScope.LIVE.value,
            "purpose": _text(form, "purpose"),
            "incident_ref": _text(form, "incident_ref"),
            "emergency": "emergency" in form,
            "hours": _text(form, "hours") or 2,
        }
        if starts := _text(form, "starts_at"):  # a datetime-local field: local time, no zone
            try:
                local = dt.datetime.fromisoformat(starts)
            except ValueError as exc:
                raise InvalidInput("the start is not a date and time") from exc
            values["starts_at"] = local.replace(tzinfo=page.timezone) if local.tzinfo is None else local
        data = _parse(AccessRequestIn, values)
        access.file_request(session=db, principal=page.principal, camera_id=camera_id, data=data)

    return htmx_action(db, ask, f"/cameras/{camera_id}/access", audit_refusal=page)


@router.post("/access-requests/{request_id:uuid}")
def access_decide(page: CurrentPage, db: Db, request_id: uuid.UUID, form: FormData) -> Response:
    """The owner (or, for a camera without an owner account, a reviewer) grants, refuses or revokes."""

    def decide() -> None:
        data = _parse(AccessDecisionIn, {"decision": _text(form, "decision"), "note": _text(form, "note")})
        access.decide(session=db, principal=page.principal, request_id=request_id, data=data)

    return htmx_action(db, decide, _next(form, "/owner"), audit_refusal=page)


# --- camera owners --------------------------------------------------------------------------------


def _premises_points(premises: list[Premises]) -> list[dict[str, object]]:
    return [{"name": p.name, "lat": p.latitude, "lon": p.longitude, "id": str(p.id)} for p in premises]


@router.get("/owner", response_class=HTMLResponse)
def owner_page(page: CurrentPage, db: Db) -> Response:
    premises = onboarding.list_premises(session=db, principal=page.principal)
    mine = onboarding.owner_cameras(session=db, principal=page.principal)
    by_premises: dict[uuid.UUID, list[tuple[Camera, ComplianceReport | None]]] = {p.id: [] for p in premises}
    for camera in mine:
        if camera.premises_id is not None:
            by_premises[camera.premises_id].append((camera, _report(camera)))
    districts = cameras.districts_for(session=db, principal=page.principal)
    requests = access.owner_requests(session=db, principal=page.principal)
    return render(
        page,
        "cameras/owner.html",
        premises=premises,
        cameras_of=by_premises,
        districts=districts,
        district_names={d.id: d.name for d in districts},
        sharings=list(Sharing),
        pending=[(r, c) for r, c in requests if r.status.value == "pending"],
        decided=[(r, c) for r, c in requests if r.status.value != "pending"],
        is_current=access.is_current,
        points=_premises_points(premises),
        compliance_state=onboarding.compliance_state,
    )


@router.post("/owner/premises")
def premises_submit(page: CurrentPage, db: Db, form: FormData) -> Response:
    def create() -> None:
        fields = ("name", "organisation", "address", "contact_phone", "district_id", "latitude", "longitude")
        values = {name: _text(form, name) for name in fields}
        if not values["latitude"] or not values["longitude"]:
            raise InvalidInput("set the premises' place: click it on the map (or type its coordinates)")
        data = _parse(PremisesIn, values)
        onboarding.create_premises(session=db, principal=page.principal, data=data)

    return htmx_action(db, create, "/owner")


@router.post("/owner/premises/{premises_id:uuid}/cameras")
def owner_camera_submit(
    page: CurrentPage, db: Db, box: Box, config: Config, premises_id: uuid.UUID, form: FormData
) -> Response:
    def register() -> None:
        names = (
            "name",
            "stream_url",
            "substream_url",
            "username",
            "password",
            "bearing",
            "field_of_view",
            "latitude",
            "longitude",
        )
        values: dict[str, Any] = {name: _optional(form, name) for name in names}
        values["sharing"] = _text(form, "sharing") or Sharing.ON_REQUEST.value
        data = _parse(OwnerCameraIn, {k: v for k, v in values.items() if v is not None})
        onboarding.register_camera(
            session=db, principal=page.principal, box=box, settings=config, premises_id=premises_id, data=data
        )

    return htmx_action(db, register, "/owner")


@router.get("/owner/cameras/{camera_id:uuid}", response_class=HTMLResponse)
def owner_camera_page(page: CurrentPage, db: Db, camera_id: uuid.UUID) -> Response:
    camera = cameras.get_camera(session=db, principal=page.principal, camera_id=camera_id)
    viewers = onboarding.camera_viewers(session=db, principal=page.principal, camera_id=camera_id)
    per_day = onboarding.views_per_day(viewers, zone=page.timezone, days=CHART_DAYS)
    tallest = max((count for _, count in per_day), default=0) or 1
    return render(
        page,
        "cameras/owner_camera.html",
        camera=camera,
        report=_report(camera),
        viewers=viewers,
        per_day=per_day,
        tallest=tallest,
        requests=access.camera_requests(session=db, camera_id=camera.id),
        is_current=access.is_current,
        points=camera_points([camera]),
        is_owner=cameras.owns(session=db, principal=page.principal, camera=camera),
    )


@router.post("/owner/cameras/{camera_id:uuid}")
def owner_camera_update(
    page: CurrentPage, db: Db, box: Box, config: Config, camera_id: uuid.UUID, form: FormData
) -> Response:
    """The owner changes their camera's name, place or stream; a new stream is checked and reviewed again."""

    def update() -> None:
        camera = cameras.get_camera(session=db, principal=page.principal, camera_id=camera_id)
        if not cameras.owns(session=db, principal=page.principal, camera=camera):
            raise NotFound("no such camera among yours")
        values: dict[str, Any] = {
            "name": _text(form, "name"),
            "latitude": _text(form, "latitude"),
            "longitude": _text(form, "longitude"),
            "bearing": _optional(form, "bearing"),
            "field_of_view": _optional(form, "field_of_view"),
        }
        if (url := _text(form, "stream_url")) and url != camera.stream_url:
            values["stream_url"] = url
        if _text(form, "password"):  # an empty password box keeps the stored credentials
            values["username"] = _optional(form, "username")
            values["password"] = _text(form, "password")
        data = _parse(CameraUpdate, values)
        cameras.update_camera(
            session=db, principal=page.principal, box=box, settings=config, camera_id=camera_id, data=data
        )

    return htmx_action(db, update, f"/owner/cameras/{camera_id}")
