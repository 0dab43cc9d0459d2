"""Forensics: store the objects the cameras followed, search them (and events and plate reads) across
cameras by what, where and when, and string sightings into routes. Every search is audited with its purpose.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates import service as plates
from safecity.analytics.plates.models import Sighting
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import insert_new
from safecity.core.errors import InvalidInput, NotFound
from safecity.core.storage import contained, remove_files
from safecity.events.models import Event
from safecity.evidence.models import CaseItem, ItemKind
from safecity.faces.matches.models import FaceSighting
from safecity.faces.search import service as face_search
from safecity.forensics.models import ObjectTrack
from safecity.forensics.schemas import HitOut, RouteOut, RouteStop, SearchIn, SearchOut, TrackIn
from safecity.video import recorder

INVESTIGATE = "forensics.investigate"
MAX_ROUTE_STOPS = 100
Found = tuple[list[HitOut], str | None]  # a page of hits and the cursor of the next one
ROUTE_PAD = dt.timedelta(seconds=3)  # recording kept either side of a sighting when a route is played
PURGE_BATCH = 1000


def subject(camera_id: uuid.UUID) -> str:
    """The bus subject a camera's finished tracks are published on (kept by the FORENSICS stream)."""
    return f"forensics.track.{camera_id}"


def snapshot_path(camera_id: uuid.UUID, track_id: uuid.UUID, at: dt.datetime) -> str:
    """Where an object's best view lives, relative to the snapshots directory."""
    return f"objects/{camera_id}/{at.astimezone(dt.UTC):%Y-%m-%d}/{track_id}.jpg"


def record_tracks(*, session: Session, tracks: Sequence[TrackIn]) -> int:
    """Store finished tracks, skipping ids already stored; how many were new. The caller commits."""
    return len(insert_new(session, ObjectTrack, [t.model_dump() for t in tracks]))


# --- search ------------------------------------------------------------------------------------------


def _playable(session: Session, principal: Principal) -> dict[uuid.UUID, Camera]:
    """The principal's playable cameras by id, as much of each as a hit shows."""
    return {c.id: c for c in recorder.playable_cameras(session=session, principal=principal, brief=True)}


def _cameras(session: Session, principal: Principal, query: SearchIn) -> dict[uuid.UUID, Camera]:
    """The cameras to search: the principal's playable ones, narrowed to those named and/or in the area."""
    found = list(_playable(session, principal).values())
    if query.camera_ids:
        named = set(query.camera_ids)
        found = [c for c in found if c.id in named]
        if len(found) != len(named):
            raise NotFound("a camera named does not exist or is outside your districts")
    if query.area is not None:
        area = query.area
        found = [
            c
            for c in found
            if area.south <= c.latitude <= area.north and area.west <= c.longitude <= area.east
        ]
    if not found:
        raise InvalidInput("no camera of yours is in that area", code="no_cameras", field="area")
    return {c.id: c for c in found}


def _cursor(at: dt.datetime, row_id: uuid.UUID) -> str:
    return f"{at.astimezone(dt.UTC).isoformat()}_{row_id}"


def _before(cursor: str, at_column: Any, id_column: Any) -> ColumnElement[bool]:
    """Rows older than the cursor's (time, id), in the order hits are listed."""
    try:
        moment, row_id = cursor.rsplit("_", 1)
        key = (dt.datetime.fromisoformat(moment), uuid.UUID(row_id))
    except ValueError:
        raise InvalidInput("the page cursor is not valid", code="bad_cursor", field="before") from None
    return tuple_(at_column, id_column) < key


def _page(
    session: Session, statement: Select[Any], query: SearchIn, at_column: Any, id_column: Any
) -> tuple[list[Any], bool]:
    if query.before:
        statement = statement.where(_before(query.before, at_column, id_column))
    rows = list(
        session.scalars(statement.order_by(at_column.desc(), id_column.desc()).limit(query.limit + 1))
    )
    return rows[: query.limit], len(rows) > query.limit


def _playback_url(camera_id: uuid.UUID, at: dt.datetime) -> str:
    return f"/cameras/{camera_id}?at={at.astimezone(dt.UTC).isoformat().replace('+00:00', 'Z')}#playback"


def _where(camera: Camera) -> dict[str, Any]:
    """The camera part of a hit: which camera, and where it stands on the map."""
    return {
        "camera_id": camera.id,
        "camera_name": camera.name,
        "latitude": camera.latitude,
        "longitude": camera.longitude,
    }


def object_hit(row: ObjectTrack, camera: Camera) -> HitOut:
    """A stored object as a hit."""
    words = [row.class_name, row.colour, f"moving {row.direction}" if row.direction else "standing"]
    return HitOut(
        kind="object",
        **_where(camera),
        id=row.id,
        at=row.first_seen,
        until=row.last_seen,
        label=", ".join(w for w in words if w),
        class_name=row.class_name,
        colour=row.colour,
        direction=row.direction,
        picture_url=f"/api/v1/forensics/objects/{row.id}/snapshot.jpg" if row.snapshot else None,
        playback_url=_playback_url(camera.id, row.first_seen),
    )


def _event_hit(row: Event, camera: Camera) -> HitOut:
    objects = row.payload.get("objects") or []
    classes = sorted({str(o.get("class")) for o in objects if isinstance(o, dict) and o.get("class")})
    return HitOut(
        kind="event",
        **_where(camera),
        id=row.id,
        at=row.occurred_at,
        label=" ".join([str(row.payload.get("rule_name") or row.kind), ", ".join(classes)]).strip(),
        class_name=classes[0] if len(classes) == 1 else None,
        picture_url=f"/api/v1/events/{row.id}/snapshot.jpg",
        playback_url=_playback_url(camera.id, row.occurred_at),
    )


def _plate_hit(row: Sighting, camera: Camera) -> HitOut:
    words = [row.plate or "unreadable plate", row.colour, row.vehicle_class]
    return HitOut(
        kind="plate",
        **_where(camera),
        id=row.id,
        at=row.first_seen,
        until=row.last_seen,
        label=", ".join(w for w in words if w),
        class_name=row.vehicle_class,
        colour=row.colour,
        direction=row.direction,
        plate=row.plate,
        picture_url=f"/api/v1/plates/sightings/{row.id}/vehicle.jpg" if row.snapshot else None,
        playback_url=_playback_url(camera.id, row.first_seen),
    )


def _objects(session: Session, query: SearchIn, cameras: dict[uuid.UUID, Camera]) -> Found:
    statement = select(ObjectTrack).where(
        ObjectTrack.camera_id.in_(list(cameras)),
        ObjectTrack.first_seen >= query.since,
        ObjectTrack.first_seen < query.until,
    )
    if query.classes:
        statement = statement.where(ObjectTrack.class_name.in_(query.classes))
    if query.colours:
        statement = statement.where(ObjectTrack.colour.in_(query.colours))
    if query.directions:
        statement = statement.where(ObjectTrack.direction.in_(query.directions))
    rows, more = _page(session, statement, query, ObjectTrack.first_seen, ObjectTrack.id)
    cursor = _cursor(rows[-1].first_seen, rows[-1].id) if more else None
    return [object_hit(r, cameras[r.camera_id]) for r in rows], cursor


def _events(session: Session, query: SearchIn, cameras: dict[uuid.UUID, Camera]) -> Found:
    statement = select(Event).where(
        Event.camera_id.in_(list(cameras)), Event.occurred_at >= query.since, Event.occurred_at < query.until
    )
    if query.event_kinds:
        statement = statement.where(Event.kind.in_(query.event_kinds))
    rows, more = _page(session, statement, query, Event.occurred_at, Event.id)
    cursor = _cursor(rows[-1].occurred_at, rows[-1].id) if more else None
    return [_event_hit(r, cameras[r.camera_id]) for r in rows if r.camera_id is not None], cursor


def _plates(session: Session, query: SearchIn, cameras: dict[uuid.UUID, Camera]) -> Found:
    text = plates.normalise(query.plate or "", query.plate_mode)
    statement = select(Sighting).where(
        Sighting.camera_id.in_(list(cameras)),
        Sighting.first_seen >= query.since,
        Sighting.first_seen < query.until,
        or_(*plates.plate_conditions(session, text, query.plate_mode)),
    )
    rows, more = _page(session, statement, query, Sighting.first_seen, Sighting.id)
    cursor = _cursor(rows[-1].first_seen, rows[-1].id) if more else None
    return [_plate_hit(r, cameras[r.camera_id]) for r in rows if r.camera_id is not None], cursor


def _face_hit(row: FaceSighting, camera: Camera) -> HitOut:
    return HitOut(
        kind="face",
        **_where(camera),
        id=row.id,
        at=row.seen_at,
        label="face seen (a lead, not an identification)",
        playback_url=_playback_url(camera.id, row.seen_at),
    )


def search(*, session: Session, principal: Principal, query: SearchIn) -> SearchOut:
    """One page of what the cameras saw that matches, newest first; audited with its purpose.

    Objects are the finished tracks (class, colour, direction); events are rule firings (by kind); plates
    are plate reads (exact, prefix, wildcard or fuzzy). The period is at most a month and the page at most
    MAX_HITS, so an absurd search is refused or paged, never a stall.
    """
    principal.require(INVESTIGATE)
    purpose = plates.require_purpose(query.purpose)
    cameras = _cameras(session, principal, query)
    ids = list(cameras)
    find = {"objects": _objects, "events": _events, "plates": _plates}[query.what]
    hits, cursor = find(session, query, cameras)
    audit.record(
        session=session,
        action="forensics.search",
        outcome="success",
        actor=principal,
        object_type=query.what,
        purpose=purpose,
        detail={
            **query.model_dump(mode="json", exclude={"purpose", "camera_ids", "before", "limit"}),
            "cameras": len(ids),
            "hits": len(hits),
        },
    )
    return SearchOut(hits=hits, cameras=len(ids), next=cursor)


# --- one object ----------------------------------------------------------------------------------------


def get_object(*, session: Session, principal: Principal, object_id: uuid.UUID) -> tuple[ObjectTrack, Camera]:
    """A stored object the principal may see (its camera playable by them); NotFound otherwise."""
    principal.require(INVESTIGATE)
    row = session.get(ObjectTrack, object_id)
    if row is None:
        raise NotFound("no such object")
    camera = recorder.camera_in_scope(
        session=session, principal=principal, camera_id=row.camera_id, permission=recorder.PLAYBACK_PERMISSION
    )
    return row, camera


def snapshot_file(
    *, session: Session, principal: Principal, object_id: uuid.UUID, snapshots_dir: Path
) -> Path:
    """The file of an object's best view; NotFound when it has none."""
    row, _ = get_object(session=session, principal=principal, object_id=object_id)
    path = contained(snapshots_dir, row.snapshot) if row.snapshot else None
    if path is None or not path.is_file():
        raise NotFound("this object has no picture", code="no_picture")
    return path


# --- routes --------------------------------------------------------------------------------------------


def similar(
    *, session: Session, principal: Principal, object_id: uuid.UUID, window: dt.timedelta, limit: int = 50
) -> list[HitOut]:
    """Objects of the same class and colour seen at the principal's other cameras within `window` of this
    one: the candidates an investigator picks from to follow it across cameras (not audited: the search
    that found the object was).
    """
    row, _ = get_object(session=session, principal=principal, object_id=object_id)
    cameras = _playable(session, principal)
    conditions = [
        ObjectTrack.camera_id.in_([c for c in cameras if c != row.camera_id]),
        ObjectTrack.first_seen >= row.first_seen - window,
        ObjectTrack.first_seen < row.last_seen + window,
        ObjectTrack.class_name == row.class_name,
    ]
    if row.colour is not None:
        conditions.append(ObjectTrack.colour == row.colour)
    rows = session.scalars(
        select(ObjectTrack).where(and_(*conditions)).order_by(ObjectTrack.first_seen).limit(limit)
    )
    return [object_hit(r, cameras[r.camera_id]) for r in rows]


def route(
    *,
    session: Session,
    principal: Principal,
    purpose: str,
    object_ids: Sequence[uuid.UUID] = (),
    faces: Sequence[uuid.UUID] = (),
    authorisation_id: uuid.UUID | None = None,
    plate: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> RouteOut:
    """Sightings across cameras in time order, from chosen objects, from faces chosen from a search by photo
    (under its retrospective authorisation) or from a plate's reads over a period, with one playlist of
    their recordings strung together; audited with its purpose.
    """
    principal.require(INVESTIGATE)
    purpose = plates.require_purpose(purpose)
    hits: list[HitOut] = []
    if object_ids:
        if len(object_ids) > MAX_ROUTE_STOPS:
            raise InvalidInput(f"a route has at most {MAX_ROUTE_STOPS} stops", code="too_many_stops")
        for object_id in dict.fromkeys(object_ids):
            row, camera = get_object(session=session, principal=principal, object_id=object_id)
            hits.append(object_hit(row, camera))
    elif faces and authorisation_id is not None:
        if len(faces) > MAX_ROUTE_STOPS:
            raise InvalidInput(f"a route has at most {MAX_ROUTE_STOPS} stops", code="too_many_stops")
        chosen = face_search.route_sightings(
            session=session, principal=principal, authorisation_id=authorisation_id, sighting_ids=faces
        )
        cameras = _playable(session, principal)
        hits = [_face_hit(r, cameras[r.camera_id]) for r in chosen if r.camera_id in cameras]
    elif plate is not None and since is not None and until is not None:
        if not since < until <= since + dt.timedelta(days=31):
            raise InvalidInput("the period runs forward and is at most 31 days", code="bad_period")
        text = plates.normalise(plate, "exact")
        cameras = _playable(session, principal)
        rows = session.scalars(
            select(Sighting)
            .where(
                Sighting.plate == text,
                Sighting.camera_id.in_(list(cameras)),
                Sighting.first_seen >= since,
                Sighting.first_seen < until,
            )
            .order_by(Sighting.first_seen)
            .limit(MAX_ROUTE_STOPS)
        )
        hits = [_plate_hit(r, cameras[r.camera_id]) for r in rows if r.camera_id is not None]
    else:
        raise InvalidInput(
            "choose the objects or faces of the route, or a plate and a period", code="no_route"
        )
    hits.sort(key=lambda h: h.at)
    stops = [RouteStop(hit=h, since=h.at - ROUTE_PAD, until=(h.until or h.at) + ROUTE_PAD) for h in hits]
    audit.record(
        session=session,
        action="forensics.route",
        outcome="success",
        actor=principal,
        object_type="plate" if plate else "faces" if faces else "objects",
        object_id=plate or (str(authorisation_id) if faces else None),
        purpose=purpose,
        detail={"stops": len(stops), "objects": [str(i) for i in [*object_ids, *faces]][:MAX_ROUTE_STOPS]},
    )
    spans = "&".join(f"span={s.hit.camera_id},{_z(s.since)},{_z(s.until)}" for s in stops)
    return RouteOut(stops=stops, playlist_url=f"/api/v1/forensics/route.m3u8?{spans}" if stops else None)


# --- retention -----------------------------------------------------------------------------------


def _in_a_case() -> ColumnElement[bool]:
    """Whether a case refers to the object (evidence: it outlives the retention)."""
    return (
        select(CaseItem.id)
        .where(CaseItem.kind == ItemKind.OBJECT_TRACK, CaseItem.ref_id == ObjectTrack.id)
        .exists()
    )


def purge_expired(
    *, session: Session, snapshots_dir: Path, before: dt.datetime, batch: int = PURGE_BATCH
) -> int:
    """Delete up to `batch` objects first seen before `before` that no case refers to, with their best
    views; how many went. Camera by camera, so each camera's (camera, first seen) index finds them.

    The caller commits and calls again while a whole batch went. Pictures named outside `snapshots_dir`
    are never touched.
    """
    deleted = 0
    for camera_id in session.scalars(select(Camera.id)).all():
        ids = list(
            session.scalars(
                select(ObjectTrack.id)
                .where(ObjectTrack.camera_id == camera_id, ObjectTrack.first_seen < before, ~_in_a_case())
                .order_by(ObjectTrack.first_seen)
                .limit(batch - deleted)
            )
        )
        if not ids:
            continue
        # The case check again as they go: one linked meanwhile stays, and so does its picture.
        gone = session.scalars(
            delete(ObjectTrack).where(ObjectTrack.id.in_(ids), ~_in_a_case()).returning(ObjectTrack.snapshot)
        ).all()
        remove_files(snapshots_dir, gone)
        deleted += len(gone)
        if deleted >= batch:
            break
    return deleted


def purge(
    *, session_factory: sessionmaker[Session], snapshots_dir: Path, retention_days: int, now: dt.datetime
) -> int:
    """Delete every object older than the retention period that no case refers to, with its best view,
    batch by batch; audited."""
    before = now - dt.timedelta(days=retention_days)
    return audit.purged(
        session_factory=session_factory,
        purge_batch=lambda session: purge_expired(
            session=session, snapshots_dir=snapshots_dir, before=before, batch=PURGE_BATCH
        ),
        batch=PURGE_BATCH,
        action="forensics.retention",
        object_type="object_tracks",
        detail={"before": before.isoformat(), "days": retention_days},
    )


def _z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
