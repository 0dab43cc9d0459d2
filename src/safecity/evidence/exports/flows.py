"""The long work of an export, run off the event loop on the EXPORTS lane (a few at a time per process,
`video.exports_at_once`; the rest wait, their stage "queued"):

    prepare: each chosen item's media gathered (a recording item's segments checked against their recorded
             SHA-256 and remuxed into one MP4, as recorded; an event's, plate read's or object's picture),
             faces and plates found (redaction.plan_video / plan_image), progress written on the row
    sign:    each file's redacted copy rendered from its reviewed plan, the custody log written ("exported",
             per item), the signed package built (redacted copies; the originals listed by hash in
             `redacted_from` and the source segments; the originals themselves only when approved)

Each step uses sessions of its own and commits its progress as it goes, so the page polling the export
sees it move; a failure marks the export failed with the reason and keeps what was stored before it. The
lane's threads die with the process: what it held is marked failed as the web process starts again
(service.fail_abandoned), to be tried again (service.retry).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates.models import Sighting
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.cameras.privacy import service as privacy
from safecity.config import Settings
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotFound, SafecityError
from safecity.core.lanes import Lane
from safecity.core.storage import contained
from safecity.events.models import Event
from safecity.evidence import package
from safecity.evidence import service as cases
from safecity.evidence.exports import service
from safecity.evidence.exports.models import EvidenceExport, ExportStatus
from safecity.evidence.keys import service as keys
from safecity.evidence.models import Case, CaseItem, CustodyAction, ItemKind
from safecity.evidence.redaction import (
    Detectors,
    RedactionPlan,
    plan_image,
    plan_video,
    redact_image,
    redact_video,
    regions_of,
)
from safecity.forensics.models import ObjectTrack
from safecity.video import clips, recorder

logger = logging.getLogger(__name__)

SAMPLE_EVERY_S = 0.4  # frames looked at for faces and plates (a walking face moves about half its width)
PICTURE_KINDS = {ItemKind.EVENT: "event", ItemKind.PLATE_SIGHTING: "plate", ItemKind.OBJECT_TRACK: "object"}
FAILED = "the export failed: see the server's log"
EXPORTS = Lane("export")  # preparing and signing decode and encode video: a core each while they run


def roots(settings: Settings, export_id: uuid.UUID) -> dict[str, Path]:
    """The folders an export's files lie in, by the name its entries give them."""
    return {
        "work": service.work_dir(settings.evidence_dir, export_id),
        "snapshots": settings.snapshots_dir,
        "recordings": settings.recordings_dir,
    }


def _update(session_factory: sessionmaker[Session], export_id: uuid.UUID, **values: Any) -> None:
    with session_factory() as session:
        session.execute(update(EvidenceExport).where(EvidenceExport.id == export_id).values(**values))
        session.commit()


class _Progress:
    """Writes an export's progress to its row as the work moves (at most every hundredth)."""

    def __init__(self, session_factory: sessionmaker[Session], export_id: uuid.UUID) -> None:
        self._factory, self._id, self._last = session_factory, export_id, -1.0

    def __call__(self, fraction: float, stage: str | None = None) -> None:
        value = round(min(max(fraction, 0.0), 1.0), 3)
        if stage is None and value - self._last < 0.01:
            return
        self._last = value
        values: dict[str, Any] = {"progress": value, "heartbeat": utcnow()}
        if stage is not None:
            values["stage"] = stage[:200]
        _update(self._factory, self._id, **values)

    def part(self, index: int, count: int, low: float = 0.0, high: float = 1.0) -> Callable[[float], None]:
        """A progress callback for the index-th of `count` equal parts of [low, high]."""
        width = (high - low) / max(count, 1)
        return lambda f: self(low + width * (index + min(max(f, 0.0), 1.0)))


def _failed(session_factory: sessionmaker[Session], export_id: uuid.UUID, exc: BaseException) -> None:
    message = exc.message if isinstance(exc, SafecityError) else FAILED
    if not isinstance(exc, SafecityError):
        logger.exception("export %s failed", export_id)
    _update(session_factory, export_id, status=ExportStatus.FAILED, error=message[:2000], stage="")


def _sha256(path: Path) -> str:
    return recorder.file_sha256(path)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "item"


# --- gathering ---------------------------------------------------------------------------------------


def _footage(
    session: Session, principal: Principal, settings: Settings, export_id: uuid.UUID, item: CaseItem, key: str
) -> dict[str, Any] | None:
    """A recording item's footage: its segments (checked against their recorded hashes) remuxed into one
    MP4, as recorded, in the export's folder."""
    if item.camera_id is None or item.start is None or item.end is None:
        return None
    camera = recorder.camera_in_scope(
        session=session, principal=principal, camera_id=item.camera_id, permission=recorder.EXPORT_PERMISSION
    )
    rows = recorder.segments(session=session, camera_id=camera.id, since=item.start, until=item.end)
    sources: list[tuple[Path, dt.datetime]] = []
    segments: list[dict[str, str]] = []
    for row in rows:
        file = recorder.segment_file(settings.recordings_dir, row.path)
        if file is None or not file.is_file():
            raise NotFound(
                f"a recorded segment of {camera.name} is missing from the disk", code="segment_missing"
            )
        if _sha256(file) != row.sha256:
            raise InvalidInput(
                f"a recorded segment of {camera.name} ({row.path}) no longer matches its recorded SHA-256",
                code="segment_altered",
            )
        sources.append((file, row.start))
        segments.append({"id": str(row.id), "path": row.path, "sha256": row.sha256})
    if not sources:
        return None
    folder = service.work_dir(settings.evidence_dir, export_id) / key
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "footage.mp4"
    covered = clips.remux(sources, t0=item.start, t1=item.end, out=clip)
    if covered is None:
        clip.unlink(missing_ok=True)
        return None
    return {
        "kind": "video",
        "label": camera.name,
        "root": "work",
        "path": f"{key}/footage.mp4",
        "sha256": _sha256(clip),
        "camera_id": str(camera.id),
        "camera_name": camera.name,
        "start": _iso(covered[0]),
        "end": _iso(covered[1]),
        "segments": segments,
    }


def _picture_path(session: Session, item: CaseItem) -> tuple[str | None, dt.datetime | None]:
    """The snapshot (relative to the snapshots folder) an event, plate read or object track keeps."""
    if item.ref_id is None:
        return None, None
    if item.kind == ItemKind.EVENT:
        event = session.get(Event, item.ref_id)
        relative = event.payload.get("snapshot") if event is not None else None
        return (
            relative if isinstance(relative, str) and relative else None
        ), event.occurred_at if event else None
    if item.kind == ItemKind.PLATE_SIGHTING:
        sighting = session.get(Sighting, item.ref_id)
        return (sighting.snapshot, sighting.seen_at) if sighting is not None else (None, None)
    if item.kind == ItemKind.OBJECT_TRACK:
        track = session.get(ObjectTrack, item.ref_id)
        return (track.snapshot, track.first_seen) if track is not None else (None, None)
    return None, None


def _picture(session: Session, settings: Settings, item: CaseItem) -> dict[str, Any] | None:
    relative, when = _picture_path(session, item)
    if relative is None:
        return None
    file = contained(settings.snapshots_dir, relative)
    if file is None or not file.is_file():
        raise NotFound(
            f"the picture of {item.label or item.kind.value} is missing from the disk", code="no_snapshot"
        )
    camera = session.get(Camera, item.camera_id) if item.camera_id else None
    return {
        "kind": "image",
        "label": item.label or item.kind.value,
        "root": "snapshots",
        "path": relative,
        "sha256": _sha256(file),
        "camera_id": str(camera.id) if camera else None,
        "camera_name": camera.name if camera else None,
        "start": _iso(when),
        "end": None,
        "segments": [],
    }


def _gather(
    session_factory: sessionmaker[Session], settings: Settings, export_id: uuid.UUID, principal: Principal
) -> list[dict[str, Any]]:
    with session_factory() as session:
        export = session.get(EvidenceExport, export_id)
        if export is None:
            raise NotFound("no such export")
        items = {str(i.id): i for i in cases.list_items(session=session, case_id=export.case_id)}
        media: list[dict[str, Any]] = []
        for number, item_id in enumerate(export.item_ids, start=1):
            item = items.get(item_id)
            if item is None:
                continue  # removed from the case since
            key = f"m{number}"
            if item.kind == ItemKind.RECORDING:
                entry = _footage(session, principal, settings, export_id, item, key)
            elif item.kind in PICTURE_KINDS:
                entry = _picture(session, settings, item)
            else:
                entry = None  # incidents, persons, face matches: listed in the package's case summary
            if entry is not None:
                top = "media" if entry["kind"] == "video" else "snapshots"
                folder = f"{top}/{number:02d}-{_slug(item.kind.value)}"
                media.append(
                    {"key": key, "item_id": item_id, "item_kind": item.kind.value, "folder": folder, **entry}
                )
        session.commit()
    return media


def prepare(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    export_id: uuid.UUID,
    principal: Principal,
    detectors: Detectors | None = None,
) -> None:
    """Gather an export's media and find the faces and plates to blur; the export is then reviewed.

    Runs for minutes on long footage: call it off the event loop. Never raises: a failure marks the export
    failed, with its reason.
    """
    progress = _Progress(session_factory, export_id)
    try:
        progress(0.0, "gathering the files")
        media = _gather(session_factory, settings, export_id, principal)
        folders = roots(settings, export_id)
        for index, entry in enumerate(media):
            progress(index / max(len(media), 1), f"finding faces and plates in {entry['label']}")
            path = service.resolve(entry, folders)
            if entry["kind"] == "video":
                plan = plan_video(
                    path,
                    sample_every_s=SAMPLE_EVERY_S,
                    progress=progress.part(index, len(media)),
                    detectors=detectors,
                )
            else:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    raise InvalidInput(
                        f"the picture of {entry['label']} cannot be read", code="not_a_picture"
                    )
                plan = plan_image(np.asarray(image, dtype=np.uint8), detectors=detectors)
                if entry["item_kind"] == ItemKind.PLATE_SIGHTING.value:
                    # the vehicle of the plate read: its plate is the subject of the case, not a bystander's
                    for track in plan.tracks:
                        if track.kind == "plate":
                            track.blur = False
            entry["plan"] = plan.model_dump(mode="json")
        _update(
            session_factory,
            export_id,
            media=media,
            status=ExportStatus.REVIEW,
            progress=1.0,
            stage="",
            error=None,
        )
    except Exception as exc:
        _failed(session_factory, export_id, exc)


# --- signing -----------------------------------------------------------------------------------------


def _moment(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _render(
    entry: dict[str, Any],
    folders: dict[str, Path],
    work: Path,
    progress: Callable[[float], None],
    masks: privacy.Masks,
) -> Path:
    """The entry's redacted copy, rendered from its reviewed plan into the export's folder, with its
    camera's privacy masks blacked out (recordings keep them in the clear; what leaves never does).
    """
    source = service.resolve(entry, folders)
    plan = RedactionPlan.model_validate(entry["plan"])
    folder = work / entry["key"]
    folder.mkdir(parents=True, exist_ok=True)
    if entry["kind"] == "video":
        return redact_video(source, folder / "redacted.mp4", plan, progress=progress, masks=masks)
    target = folder / f"redacted{source.suffix.lower() or '.jpg'}"
    out = redact_image(source, target, regions_of(plan), masks=masks)
    progress(1.0)
    return out


def _files(
    entry: dict[str, Any], redacted: Path, source: Path, settings: Settings, originals: bool
) -> list[package.PackageFile]:
    """The package's files for one entry: the redacted copy; the originals when approved."""
    segments = tuple({"path": s["path"], "sha256": s["sha256"]} for s in entry.get("segments", []))
    common: dict[str, Any] = {
        "item_id": entry["item_id"],
        "camera_id": entry.get("camera_id"),
        "camera_name": entry.get("camera_name"),
        "start": _moment(entry.get("start")),
        "end": _moment(entry.get("end")),
    }
    folder = entry["folder"]
    files = [
        package.PackageFile(
            name=f"{folder}/redacted{redacted.suffix}",
            source=redacted,
            kind=entry["kind"],
            source_segments=segments,
            redacted_from=entry["sha256"],
            **common,
        )
    ]
    if not originals:
        return files
    if entry["kind"] == "video" and entry.get("segments"):
        for segment in entry["segments"]:
            file = recorder.segment_file(settings.recordings_dir, segment["path"])
            if file is None or not file.is_file():
                raise NotFound("a recorded segment is missing from the disk", code="segment_missing")
            files.append(
                package.PackageFile(
                    name=f"{folder}/original/{PurePosixPath(segment['path']).name}",
                    source=file,
                    kind="video",
                    source_segments=({"path": segment["path"], "sha256": segment["sha256"]},),
                    **common,
                )
            )
    else:
        files.append(
            package.PackageFile(
                name=f"{folder}/original{source.suffix.lower()}", source=source, kind=entry["kind"], **common
            )
        )
    return files


def _case_summary(case: Case, items: list[CaseItem]) -> dict[str, Any]:
    return {
        "id": str(case.id),
        "number": case.number,
        "title": case.title,
        "items": [
            {
                "id": str(i.id),
                "kind": i.kind.value,
                "label": i.label,
                "ref_id": str(i.ref_id) if i.ref_id else None,
                "camera_id": str(i.camera_id) if i.camera_id else None,
                "start": _iso(i.start),
                "end": _iso(i.end),
            }
            for i in items
        ],
    }


def sign(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    export_id: uuid.UUID,
    principal: Principal,
    verifier_html: str | None,
) -> None:
    """Render the reviewed redaction, write the custody log and build the signed package.

    Runs for minutes on long footage: call it off the event loop. Never raises: a failure marks the export
    failed, with its reason (and writes no custody line).
    """
    progress = _Progress(session_factory, export_id)
    try:
        with session_factory() as session:
            export = session.get(EvidenceExport, export_id)
            if export is None:
                raise NotFound("no such export")
            media = list(export.media)
            originals = export.unredacted and export.approved_by is not None
        work = service.work_dir(settings.evidence_dir, export_id)
        folders = roots(settings, export_id)
        files: list[package.PackageFile] = []
        for index, entry in enumerate(media):
            progress(0.9 * index / max(len(media), 1), f"blurring {entry['label']}")
            camera_id = entry.get("camera_id")
            masks = privacy.viewer_masks(session_factory, uuid.UUID(camera_id), None) if camera_id else ()
            part = progress.part(index, len(media), 0.0, 0.9)
            redacted = _render(entry, folders, work, part, masks)
            files.extend(_files(entry, redacted, service.resolve(entry, folders), settings, originals))
        progress(0.9, "signing the package")
        with session_factory() as session:
            export = session.get(EvidenceExport, export_id)
            case = session.get(Case, export.case_id) if export is not None else None
            if export is None or case is None:
                raise NotFound("no such export")
            for item_id in export.item_ids:
                cases.record_custody(
                    session=session,
                    case_id=case.id,
                    item_id=uuid.UUID(item_id),
                    action=CustodyAction.EXPORTED,
                    principal=principal,
                    purpose=export.purpose,
                    detail={"export_id": str(export.id), "unredacted": originals},
                )
            custody = [
                {
                    "at": line.at,
                    "action": line.action.value,
                    "item_id": str(line.item_id) if line.item_id else None,
                    "user": line.username,
                    "purpose": line.purpose,
                    "detail": line.detail,
                }
                for line in cases.custody(session=session, case_id=case.id)
            ]
            signer = keys.signer(session=session, secret_key=settings.secret_key.get_secret_value())
            exported_at = utcnow()
            name = f"{_slug(case.number)}-export-{export.id.hex[:8]}.zip"
            info = package.build(
                destination=work / name,
                case=_case_summary(case, cases.list_items(session=session, case_id=case.id)),
                files=files,
                custody=custody,
                signer=signer,
                exported_by=principal.username,
                exported_at=exported_at,
                purpose=export.purpose,
                verifier_html=verifier_html,
            )
            export.package_path = f"{service.EXPORTS_FOLDER}/{export.id}/{name}"
            export.sha256, export.size, export.exported_at = info.sha256, info.size, exported_at
            export.status, export.progress, export.stage, export.error = ExportStatus.READY, 1.0, "", None
            audit.record(
                session=session,
                action="evidence.export",
                outcome="success",
                actor=principal,
                object_type="evidence_export",
                object_id=str(export.id),
                purpose=export.purpose,
                district_id=case.district_id,
                detail={
                    "case": case.number,
                    "sha256": info.sha256,
                    "size": info.size,
                    "files": info.files,
                    "manifest_sha256": info.manifest_sha256,
                    "key": info.key_fingerprint,
                    "unredacted": originals,
                    "approved_by": str(export.approved_by) if export.approved_by else None,
                },
            )
            session.commit()
    except Exception as exc:
        _failed(session_factory, export_id, exc)
