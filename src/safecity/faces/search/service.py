"""Retrospective search by photo: the faces the cameras saw in a period and area that resemble a photo's.

Only under an authorisation: a retrospective one, approved by a second person, not revoked, current now,
of a district the searcher sees, whose period holds the whole period searched and which covers every
camera searched (it names them, or names none and the camera is of its district). Every search is
audited with its purpose, whether it ran or was refused, and why.

The faces seen are compared exactly: their embeddings are decrypted and scored a block at a time, the
best kept. Decrypting each face is the cost of a search and an approximate index would not save it (it
must be built from the same decrypted faces first, which costs more than one exact pass); a standing
index of the faces seen is for when searches over the same faces repeat (safecity.analytics.faces.index).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import quote

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics.faces.engine import FaceEngine
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.crypto import SecretBox
from safecity.core.errors import InvalidInput, NotFound, PermissionDenied, SafecityError
from safecity.faces import service as faces
from safecity.faces.matches.models import FaceSighting
from safecity.faces.models import Authorisation, AuthorisationKind
from safecity.faces.search.schemas import FaceFoundOut, SearchIn, SearchOut

logger = logging.getLogger(__name__)

SEARCH = faces.SEARCH
ACTION = "faces.search"  # counted by the oversight report (faces.service.OVERSIGHT_ACTIONS)
BLOCK = 2000  # faces decrypted and scored at a time: bounded memory whatever the period


def search_by_photo(
    *,
    session: Session,
    principal: Principal,
    engine: FaceEngine,
    box: SecretBox,
    authorisation_id: uuid.UUID,
    photo: bytes,
    query: SearchIn,
) -> SearchOut:
    """Faces seen by the cameras in the period that resemble the photo's face, best first (faces.search).

    A refusal raises PermissionDenied (403: no permission; an authorisation that does not cover the
    cameras and period), NotFound (404: no such authorisation in the searcher's districts) or
    InvalidInput (422: the photo has no usable face, with the quality gate's reasons; no camera in the
    area); it is audited and that audit committed, since nothing else was written.

    Slow (the engine runs here): call it from a worker thread; the engine must not be used by another
    thread meanwhile.
    """
    sha256 = hashlib.sha256(photo).hexdigest()
    context: dict[str, Any] = {
        "authorisation": str(authorisation_id),
        "since": query.since.isoformat(),
        "until": query.until.isoformat(),
        "photo_sha256": sha256,
    }
    try:
        principal.require(SEARCH)
        authorisation = _authorisation(session, principal, authorisation_id, query)
        cameras = _cameras(session, authorisation, query)
        quality, embedding = _query_face(engine, photo)
    except SafecityError as refused:
        _refuse(session, principal, authorisation_id, query, context, refused)

    min_score = engine.threshold if query.min_score is None else query.min_score
    scanned, found = _score(session, box, [c.id for c in cameras], query, embedding, min_score)
    by_id = {c.id: c for c in cameras}
    playback = principal.can("video.playback")
    results = [
        _found(sighting, score, by_id, box, threshold=engine.threshold, playback=playback)
        for sighting, score in found
    ]
    audit.record(
        session=session,
        action=ACTION,
        outcome="success",
        actor=principal,
        object_type="face_authorisation",
        object_id=str(authorisation.id),
        purpose=query.purpose,
        district_id=authorisation.district_id,
        detail={
            **context,
            "cameras": len(cameras),
            "scanned": scanned,
            "results": len(results),
            "best": round(results[0].score, 4) if results else None,
        },
    )
    session.flush()
    return SearchOut(
        authorisation_id=authorisation.id,
        threshold=engine.threshold,
        min_score=min_score,
        cameras=len(cameras),
        scanned=scanned,
        query_quality=quality,
        results=results,
    )


def _refuse(
    session: Session,
    principal: Principal,
    authorisation_id: uuid.UUID,
    query: SearchIn,
    context: dict[str, Any],
    refused: SafecityError,
) -> NoReturn:
    """Audit a refused search and keep that record (the search wrote nothing else), then raise."""
    audit.record(
        session=session,
        action=ACTION,
        outcome="failure" if isinstance(refused, InvalidInput) else "denied",
        actor=principal,
        object_type="face_authorisation",
        object_id=str(authorisation_id),
        purpose=query.purpose,
        detail={**context, "code": refused.code, "reason": refused.message},
    )
    session.commit()
    logger.info("face search by %s refused: %s", principal.username, refused.code)
    raise refused


def _current(session: Session, principal: Principal, authorisation_id: uuid.UUID) -> Authorisation:
    """The retrospective authorisation named, if it is in force in the principal's districts (404, 403)."""
    authorisation = session.get(Authorisation, authorisation_id)
    if authorisation is None or not principal.sees_district(authorisation.district_id):
        # One answer for both: an authorisation of another district is not revealed.
        raise NotFound("no such authorisation in your districts", code="authorisation_not_found")
    if authorisation.kind != AuthorisationKind.RETROSPECTIVE:
        raise PermissionDenied(
            "a live-matching authorisation does not allow searching stored faces",
            code="authorisation_not_retrospective",
        )
    status = faces.authorisation_status(authorisation)
    if status != "current":
        raise PermissionDenied(
            f"the authorisation is {status}, not in force", code="authorisation_not_current"
        )
    return authorisation


def _authorisation(
    session: Session, principal: Principal, authorisation_id: uuid.UUID, query: SearchIn
) -> Authorisation:
    """The authorisation named, if it allows this search now; else why not (404, 403)."""
    authorisation = _current(session, principal, authorisation_id)
    if query.since < authorisation.starts_at or query.until > authorisation.ends_at:
        raise PermissionDenied(
            "the period searched must lie within the authorisation's period", code="authorisation_period"
        )
    return authorisation


def route_sightings(
    *, session: Session, principal: Principal, authorisation_id: uuid.UUID, sighting_ids: Sequence[uuid.UUID]
) -> list[FaceSighting]:
    """Faces chosen from a search, for their route across cameras: each must be one the authorisation,
    still in force, covers (its camera and period); 404 for one unknown, 403 for one it does not cover.
    """
    principal.require(SEARCH)
    authorisation = _current(session, principal, authorisation_id)
    _, named = faces.authorisation_targets(session=session, authorisation_ids=[authorisation.id])[
        authorisation.id
    ]
    wanted = set(sighting_ids)
    rows = list(session.scalars(select(FaceSighting).where(FaceSighting.id.in_(wanted))))
    if len(rows) != len(wanted):
        raise NotFound("a face chosen is no longer kept", code="face_not_found")
    for row in rows:
        camera = session.get(Camera, row.camera_id) if row.camera_id is not None else None
        covered = camera is not None and (
            camera.id in named if named else camera.district_id == authorisation.district_id
        )
        if not covered or not authorisation.starts_at <= row.seen_at < authorisation.ends_at:
            raise PermissionDenied(
                "the authorisation does not cover a face chosen", code="authorisation_cameras"
            )
    return rows


def _cameras(session: Session, authorisation: Authorisation, query: SearchIn) -> list[Camera]:
    """The cameras to search: those named (each must be covered: 403) or the covered ones in the area."""
    _, named = faces.authorisation_targets(session=session, authorisation_ids=[authorisation.id])[
        authorisation.id
    ]
    if query.area is not None:
        area = query.area
        inside = select(Camera).where(
            Camera.latitude.between(area.south, area.north),
            Camera.longitude.between(area.west, area.east),
        )
        if named:
            inside = inside.where(Camera.id.in_(named))
        else:
            inside = inside.where(Camera.district_id == authorisation.district_id)
        cameras = list(session.scalars(inside.order_by(Camera.name)))
        if not cameras:
            raise InvalidInput(
                "the authorisation covers no camera in that area", code="no_cameras", field="area"
            )
        return cameras
    cameras = list(session.scalars(select(Camera).where(Camera.id.in_(query.camera_ids))))
    if len(cameras) != len(set(query.camera_ids)):
        raise InvalidInput("a camera named does not exist", code="camera_not_found", field="camera_ids")
    outside = [
        c for c in cameras if (c.id not in named if named else c.district_id != authorisation.district_id)
    ]
    if outside:
        raise PermissionDenied(
            f"the authorisation does not cover {len(outside)} of the cameras named",
            code="authorisation_cameras",
        )
    return sorted(cameras, key=lambda c: c.name)


def _query_face(engine: FaceEngine, photo: bytes) -> tuple[dict[str, Any], np.ndarray[Any, Any]]:
    """The photo's one good face: its quality report and embedding; else 422 with the gate's reasons."""
    try:
        seen, embedding = faces._the_face(engine, faces._decode(photo))
    except faces._Refused as refused:
        report = f" ({refused.quality})" if refused.quality else ""
        raise InvalidInput(refused.message + report, code=refused.code, field="photo") from None
    return seen.quality.as_json(), embedding


def _score(
    session: Session,
    box: SecretBox,
    camera_ids: Sequence[uuid.UUID],
    query: SearchIn,
    embedding: np.ndarray[Any, Any],
    min_score: float,
) -> tuple[int, list[tuple[FaceSighting, float]]]:
    """Every face seen in the period by the cameras, scored a block at a time; the best `limit` kept."""
    rows = session.execute(
        select(FaceSighting.id, FaceSighting.embedding)
        .where(
            FaceSighting.camera_id.in_(camera_ids),
            FaceSighting.seen_at >= query.since,
            FaceSighting.seen_at < query.until,
        )
        .execution_options(yield_per=BLOCK)
    )
    best_ids: list[uuid.UUID] = []
    best_scores: np.ndarray[Any, np.dtype[np.float32]] = np.zeros(0, dtype=np.float32)
    scanned = 0
    for block in rows.partitions():
        ids = [row[0] for row in block]
        vectors = np.stack([np.frombuffer(box.decrypt_bytes(row[1]), dtype="<f4") for row in block])
        scanned += len(ids)
        scores = vectors.astype(np.float32) @ embedding
        keep = np.flatnonzero(scores >= min_score)
        best_ids += [ids[i] for i in keep]
        best_scores = np.concatenate([best_scores, scores[keep]])
        if len(best_ids) > query.limit:
            top = np.argsort(-best_scores, kind="stable")[: query.limit]
            best_ids = [best_ids[i] for i in top]
            best_scores = best_scores[top]
    order = np.argsort(-best_scores, kind="stable")
    sightings = {s.id: s for s in session.scalars(select(FaceSighting).where(FaceSighting.id.in_(best_ids)))}
    return scanned, [(sightings[best_ids[i]], float(best_scores[i])) for i in order]


def _found(
    sighting: FaceSighting,
    score: float,
    cameras: dict[uuid.UUID, Camera],
    box: SecretBox,
    *,
    threshold: float,
    playback: bool,
) -> FaceFoundOut:
    """One face found, with its picture and (for one who may play back) the recording at that moment."""
    camera = cameras.get(sighting.camera_id) if sighting.camera_id else None
    video = None
    if playback and camera is not None:
        video = f"/cameras/{camera.id}?at={quote(sighting.seen_at.isoformat(), safe='')}#playback"
    return FaceFoundOut(
        sighting_id=sighting.id,
        camera_id=sighting.camera_id,
        camera_name=camera.name if camera else "",
        latitude=camera.latitude if camera else None,
        longitude=camera.longitude if camera else None,
        seen_at=sighting.seen_at,
        score=round(score, 4),
        same_person=score >= threshold,
        chip=base64.b64encode(box.decrypt_bytes(sighting.chip)).decode("ascii"),
        video_url=video,
    )
