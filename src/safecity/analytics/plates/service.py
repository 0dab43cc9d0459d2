"""Number-plate sightings: storing what the cameras read, and the keys that make plates searchable; and
each camera's plate-reading settings, read and changed within the camera's scope, every change audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics import service as analytics
from safecity.analytics.plates.models import CameraPlates, Sighting
from safecity.analytics.plates.schemas import (
    CompanionOut,
    JourneyOut,
    PlateSettings,
    PlateSettingsOut,
    SearchMode,
    SightingHit,
    SightingIn,
    SightingPage,
    SightingSearch,
)
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import insert_new, utcnow
from safecity.core.errors import InvalidInput, NotFound
from safecity.core.storage import contained, remove_files

logger = logging.getLogger(__name__)

Part = Literal["crop", "vehicle"]

READ = "plates.read"  # plate history and hotlist hits are personal data: a permission and a purpose
# Characters a camera confuses, folded to one so a fuzzy search finds either (O/0, I/1, B/8, S/5, Z/2,
# D/0, G/6, and Q with O).
_FOLD = str.maketrans("OQDIBSZG", "00018526")


def fold(plate: str) -> str:
    """The plate with look-alike characters folded to one (`LEB-1O5` and `LE8105` fold the same)."""
    return plate.upper().translate(_FOLD)


def subject(camera_id: uuid.UUID | None) -> str:
    """The bus subject a camera's sightings are published on (kept by the PLATES stream)."""
    return f"plates.sighting.{camera_id or 'none'}"


def crop_path(camera_id: uuid.UUID | None, sighting_id: uuid.UUID, at: dt.datetime, *, part: str) -> str:
    """Where a sighting's picture (`part`: crop or vehicle) lives, relative to the snapshots directory."""
    return f"plates/{camera_id or 'none'}/{at.astimezone(dt.UTC):%Y-%m-%d}/{sighting_id}-{part}.jpg"


def record(*, session: Session, sighting: SightingIn) -> Sighting:
    """Store one sighting (its pictures already written); the caller commits."""
    row = Sighting(**sighting.model_dump(exclude={"alternatives"}))
    row.alternatives = [a.model_dump() for a in sighting.alternatives]
    if sighting.plate is not None:
        row.folded = fold(sighting.plate)
        row.folded_rev = row.folded[::-1]
    session.add(row)
    session.flush()
    return row


def record_many(*, session: Session, sightings: Sequence[SightingIn]) -> list[uuid.UUID]:
    """Store sightings (their pictures already written), skipping ids already stored; returns the ids of
    the new ones. The caller commits.
    """
    rows = []
    for sighting in sightings:
        row = sighting.model_dump(exclude={"alternatives"})
        row["alternatives"] = [a.model_dump() for a in sighting.alternatives]
        row["folded"] = fold(sighting.plate) if sighting.plate is not None else None
        row["folded_rev"] = row["folded"][::-1] if row["folded"] is not None else None
        rows.append(row)
    return insert_new(session, Sighting, rows)


# --- how each camera reads plates ----------------------------------------------------------------------


def _settings_of(row: CameraPlates | None) -> PlateSettings:
    if row is None:
        return PlateSettings()
    return PlateSettings.model_validate(
        {
            "mode": row.mode,
            "region": row.region,
            "min_plate_px": row.min_plate_px,
            "min_vehicle_px": row.min_vehicle_px,
        }
    )


def _out(camera: Camera, row: CameraPlates | None) -> PlateSettingsOut:
    return PlateSettingsOut(
        camera_id=camera.id,
        settings=_settings_of(row),
        updated_at=row.updated_at if row is not None else None,
        updated_by=row.updated_by if row is not None else None,
    )


def get_settings(*, session: Session, principal: Principal, camera_id: uuid.UUID) -> PlateSettingsOut:
    """How the camera reads plates (cameras.read within the camera's district; off when never set)."""
    camera = analytics.camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, manage=False
    )
    return _out(camera, session.get(CameraPlates, camera.id))


def set_settings(
    *, session: Session, principal: Principal, camera_id: uuid.UUID, settings: PlateSettings
) -> PlateSettingsOut:
    """Change how the camera reads plates (analytics.manage); applies within the analytics' refresh."""
    camera = analytics.camera_in_scope(session=session, principal=principal, camera_id=camera_id, manage=True)
    row = session.get(CameraPlates, camera.id)
    before = _out(camera, row)
    if row is None:
        row = CameraPlates(camera_id=camera.id)
        session.add(row)
    row.mode, row.region = settings.mode, settings.region
    row.min_plate_px, row.min_vehicle_px = settings.min_plate_px, settings.min_vehicle_px
    row.updated_at, row.updated_by = utcnow(), principal.user_id
    session.flush()
    audit.record(
        session=session,
        actor=principal,
        action="plates.settings.update",
        outcome="success",
        object_type="camera_plates",
        object_id=str(camera.id),
        district_id=camera.district_id,
        detail={
            "camera_id": str(camera.id),
            "before": before.settings.model_dump(mode="json"),
            "after": settings.model_dump(mode="json"),
        },
    )
    return _out(camera, row)


def reading_cameras(*, session: Session) -> dict[uuid.UUID, PlateSettings]:
    """The cameras that read plates, with their settings, for the analytics runtime (no principal)."""
    found: dict[uuid.UUID, PlateSettings] = {}
    for row in session.scalars(select(CameraPlates).where(CameraPlates.mode != "off")):
        try:
            found[row.camera_id] = _settings_of(row)
        except ValidationError as exc:  # written by another version: that camera reads no plates
            logger.error(
                "plate settings of camera %s are not valid, ignored: %s", row.camera_id, exc.errors()
            )
    return found


# --- search --------------------------------------------------------------------------------------

PLATE_CHARS = re.compile(r"^[A-Z0-9]+$")
PATTERN_CHARS = re.compile(r"^[A-Z0-9?*]+$")
SEPARATORS = re.compile(r"[\s\-./]+")  # how plates are written (LEA-1234, ABC 123): never stored
MAX_PLATE = 16  # the column's width
MIN_PREFIX = 3  # a shorter prefix or fuzzy plate matches a good share of a city's vehicles
MIN_ANCHOR = 2  # fixed characters a wildcard needs at its start or end, for an index to narrow it
MAX_LIMIT = 500
MAX_EXPORT = 10_000
MIN_PURPOSE = 3
MAX_PURPOSE = 200
# Every character a folded plate can hold: fuzzy search enumerates the plates one edit away in it.
PLATE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FOLDED_ALPHABET = "".join(sorted(set(fold(PLATE_ALPHABET))))


def normalise(q: str, mode: SearchMode) -> str:
    """The query as plates are stored: separators dropped, upper case; InvalidInput for anything else."""
    text = SEPARATORS.sub("", q).upper()
    pattern = PATTERN_CHARS if mode == "wildcard" else PLATE_CHARS
    if not text:
        raise InvalidInput("give the plate to search for", code="bad_plate_query")
    if not pattern.match(text):
        allowed = "letters, digits, ? and *" if mode == "wildcard" else "letters and digits"
        raise InvalidInput(
            f"a plate query holds only {allowed} (spaces, '-', '.' and '/' are ignored)",
            code="bad_plate_query",
        )
    if len(text.replace("*", "")) > MAX_PLATE:
        raise InvalidInput(f"a plate has at most {MAX_PLATE} characters", code="bad_plate_query")
    if mode in ("prefix", "fuzzy") and len(text) < MIN_PREFIX:
        raise InvalidInput(f"a {mode} search needs at least {MIN_PREFIX} characters", code="bad_plate_query")
    return text


def require_purpose(purpose: str) -> str:
    """The stated purpose, trimmed; InvalidInput when it is missing or too short to mean anything."""
    text = " ".join(purpose.split())
    if len(text) < MIN_PURPOSE:
        raise InvalidInput(
            "state the purpose of this search (a case, FIR or incident number, at least "
            f"{MIN_PURPOSE} characters)",
            code="purpose_required",
        )
    if len(text) > MAX_PURPOSE:
        raise InvalidInput(f"keep the purpose under {MAX_PURPOSE} characters", code="purpose_too_long")
    return text


def _starts_with(session: Session, column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, written so each database's index on the column serves it.

    PostgreSQL's indexes use the pattern operator class, which serves LIKE 'abc%' whatever the collation.
    SQLite's LIKE ignores case and so never uses a plain index: a range on the (binary) column does.
    Plates hold only A-Z0-9, so neither needs escaping, and the character after the last is never past
    the end of ASCII.
    """
    if session.get_bind().dialect.name == "postgresql":
        condition: ColumnElement[bool] = column.like(prefix + "%")
        return condition
    upper: ColumnElement[bool] = column < prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, upper)


def _matches(session: Session, column: Any, pattern: str) -> ColumnElement[bool]:
    """`column` matches a wildcard pattern (? one character, * any run), case-sensitively."""
    if session.get_bind().dialect.name == "postgresql":
        condition: ColumnElement[bool] = column.like(pattern.replace("?", "_").replace("*", "%"))
        return condition
    glob: ColumnElement[bool] = column.op("GLOB")(pattern)  # case-sensitive, and these very wildcards
    return glob


def one_edit_away(folded: str) -> set[str]:
    """Every folded plate within one substitution, insertion or deletion of `folded`, itself included.

    About 55 per character: looked up as exact keys on the folded index, which stays cheap however many
    plates share a half with the query (a half of LEA1234 is "LEA", a good share of Lahore's cars).
    """
    near = {folded}
    for i in range(len(folded) + 1):
        near.update(folded[:i] + c + folded[i:] for c in FOLDED_ALPHABET)
        if i < len(folded):
            near.add(folded[:i] + folded[i + 1 :])
            near.update(folded[:i] + c + folded[i + 1 :] for c in FOLDED_ALPHABET)
    return {n for n in near if 0 < len(n) <= MAX_PLATE}


def plate_conditions(
    session: Session,
    text: str,
    mode: SearchMode,
    *,
    plate: Any = Sighting.plate,
    folded: Any = Sighting.folded,
    folded_rev: Any = Sighting.folded_rev,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a normalised plate query in `mode`, written for the indexes: a sighting
    matches when it meets one of them. There is more than one only for a wildcard with `?` right after
    its fixed start: its narrow ranges, which `statement` matches one query each. Another table of plates
    (the province's plate reads) names its `plate`, `folded` and `folded_rev` columns."""
    if mode == "exact":
        return [plate == text]
    if mode == "prefix":
        return [_starts_with(session, plate, text)]
    if mode == "fuzzy":
        return [folded.in_(sorted(one_edit_away(fold(text))))]
    # Wildcard: narrowed by the longer fixed end, the start on the plate's index, the end on the reversed
    # folded one (a plate that matches has the folded end too), then matched exactly. A `?` right after
    # the start is spelt out (LE?12* is LEA12…, LEB12…, …): 36 narrow ranges instead of all of LE….
    head, *_ = re.split(r"[?*]", text, maxsplit=1)
    tail = re.split(r"[?*]", text)[-1]
    if max(len(head), len(tail)) < MIN_ANCHOR:
        raise InvalidInput(
            f"a wildcard search needs at least {MIN_ANCHOR} fixed characters at its start or its end",
            code="bad_plate_query",
        )
    if "?" not in text and "*" not in text:
        return [plate == text]
    after = re.split(r"[?*]", text[len(head) + 1 :], maxsplit=1)[0] if text[len(head)] == "?" else ""
    if after and len(head) + len(after) > len(tail):
        # SQLite reads GLOB 'LE?12*' as the wide range LE… too, and could take it over the narrow one:
        # matched on an expression of the column, it is only checked.
        sqlite = session.get_bind().dialect.name == "sqlite"
        column = func.coalesce(plate, plate) if sqlite else plate
        exact = _matches(session, column, text)
        return [and_(_starts_with(session, plate, head + c + after), exact) for c in PLATE_ALPHABET]
    if len(head) >= len(tail):
        anchor = _starts_with(session, plate, head)
    else:
        anchor = _starts_with(session, folded_rev, fold(tail)[::-1])
    return [and_(anchor, _matches(session, plate, text))]


def _conditions(session: Session, principal: Principal, search: SightingSearch) -> list[ColumnElement[bool]]:
    """The search's conditions but the plate's (see plate_conditions)."""
    for name, moment in (("since", search.since), ("until", search.until)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput(f"'{name}' needs a time zone")
    if search.since is not None and search.until is not None and search.since >= search.until:
        raise InvalidInput("'since' must be before 'until'")
    conditions = [principal.district_filter(Sighting.district_id)]
    if search.q and principal.district_ids is not None and session.get_bind().dialect.name == "sqlite":
        # SQLite keeps no statistics: told a district, it would walk that whole district's index rather
        # than the plate's. An expression of the column is not indexable, so the plate's (covering) index
        # is taken and the district checked from it.
        hidden = func.coalesce(Sighting.district_id, Sighting.district_id)
        conditions = [hidden.in_(principal.district_ids)]
    if search.camera_ids:
        conditions.append(Sighting.camera_id.in_(search.camera_ids))
    if search.district_id is not None:
        conditions.append(Sighting.district_id == search.district_id)
    if search.bbox is not None:
        west, south, east, north = search.bbox
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise InvalidInput(
                "the map box is west, south, east, north in degrees, west < east, south < north"
            )
        inside = select(Camera.id).where(
            Camera.longitude.between(west, east), Camera.latitude.between(south, north)
        )
        conditions.append(Sighting.camera_id.in_(inside))
    if search.since is not None:
        conditions.append(Sighting.seen_at >= search.since)
    if search.until is not None:
        conditions.append(Sighting.seen_at < search.until)
    return conditions


def _cursor(row: Sighting) -> str:
    """An opaque position after `row` in newest-first order: microseconds since 1970, then the id."""
    return f"{round(row.seen_at.timestamp() * 1_000_000)}-{row.id.hex}"


def _after_cursor(cursor: str) -> ColumnElement[bool]:
    try:
        micros, hex_id = cursor.split("-", 1)
        at = dt.datetime.fromtimestamp(int(micros) / 1_000_000, dt.UTC)
        key = uuid.UUID(hex=hex_id)
    except ValueError:
        raise InvalidInput("'before' is not a position this search returned", code="bad_cursor") from None
    return or_(Sighting.seen_at < at, and_(Sighting.seen_at == at, Sighting.id < key))


def statement(
    *, session: Session, principal: Principal, search: SightingSearch, limit: int, before: str | None = None
) -> Select[Sighting]:
    """The query of a search, newest first (its plan is checked in the tests: every mode uses an index).

    The page's ids are found first, then only their rows are read: the plate's index holds the plate,
    seen_at, district and id, so a prefix or wildcard that matches thousands of sightings is ordered
    without reading one of their rows (measured in bench/bench_plate_search.py at 10 M sightings).
    """
    newest = (Sighting.seen_at.desc(), Sighting.id.desc())
    conditions = _conditions(session, principal, search)
    if before:
        conditions.append(_after_cursor(before))
    if search.q:
        # Matched first, then ordered. Told "newest first, 100 of them", PostgreSQL would walk seen_at
        # backwards hoping to meet matches soon; for a rare plate (most of a fuzzy search's neighbours are
        # nobody's) that is the whole table. MATERIALIZED keeps the two steps apart on both databases.
        # The narrow ranges of a spelt-out `?` (LEA12…, LEB12…) are matched one query each: OR-ed,
        # PostgreSQL can join them only as a bitmap, which reads the table's row of every match of LE?12*
        # (tens of thousands, ~0.5 s at 10 M); alone, each is read from the covering index.
        plates = plate_conditions(session, normalise(search.q, search.mode), search.mode)
        matches = [select(Sighting.id, Sighting.seen_at).where(*conditions, plate) for plate in plates]
        found = (
            (matches[0] if len(matches) == 1 else union_all(*matches))
            .cte("found")
            .prefix_with("MATERIALIZED")
        )
        ids = select(found.c.id).order_by(found.c.seen_at.desc(), found.c.id.desc()).limit(limit)
    else:
        ids = select(Sighting.id).where(*conditions).order_by(*newest).limit(limit)
    return select(Sighting).where(Sighting.id.in_(ids)).order_by(*newest)


def find(
    *,
    session: Session,
    principal: Principal,
    search: SightingSearch,
    limit: int = 100,
    before: str | None = None,
) -> list[Sighting]:
    """Sightings in the principal's districts that match, newest first (no permission check, no audit)."""
    query = statement(session=session, principal=principal, search=search, limit=limit, before=before)
    return list(session.scalars(query))


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    purpose: str,
    detail: dict[str, Any],
    object_id: str | None = None,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type="plate_sightings",
        object_id=object_id,
        purpose=purpose,
        detail=detail,
    )


def _described(search: SightingSearch) -> dict[str, Any]:
    """The search as the audit log keeps it: what was asked, never what was found."""
    described: dict[str, Any] = search.model_dump(mode="json", exclude_defaults=True)
    described.setdefault("mode", search.mode)
    return described


def search(
    *,
    session: Session,
    principal: Principal,
    search: SightingSearch,
    purpose: str,
    limit: int = 100,
    before: str | None = None,
) -> SightingPage:
    """Search plate sightings in the principal's districts, newest first; audited with the purpose.

    Args:
        search: the plate and its mode (exact, prefix, wildcard `LE?-12*`, fuzzy: one edit or look-alike
            characters away), cameras, district, map box and period.
        purpose: why (a case, FIR or incident number); required.
        limit: rows per page (1 to MAX_LIMIT).
        before: `next_before` of the previous page.

    Returns:
        The page of sightings, each with its camera's name and place.
    """
    principal.require(READ)
    purpose = require_purpose(purpose)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    rows = find(session=session, principal=principal, search=search, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    _audit(session, principal, "plates.search", purpose, {**_described(search), "results": len(rows)})
    return SightingPage(
        items=hits(session=session, rows=rows), next_before=_cursor(rows[-1]) if more else None
    )


def export(
    *, session: Session, principal: Principal, search: SightingSearch, purpose: str, limit: int = MAX_EXPORT
) -> list[SightingHit]:
    """Up to `limit` matching sightings for a CSV file, newest first; audited as an export."""
    principal.require(READ)
    purpose = require_purpose(purpose)
    if not 1 <= limit <= MAX_EXPORT:
        raise InvalidInput(f"an export holds between 1 and {MAX_EXPORT} rows")
    rows = find(session=session, principal=principal, search=search, limit=limit)
    _audit(session, principal, "plates.export", purpose, {**_described(search), "results": len(rows)})
    return hits(session=session, rows=rows)


def hits(*, session: Session, rows: Sequence[Sighting]) -> list[SightingHit]:
    """The sightings with their cameras' names and places (one query for all their cameras)."""
    camera_ids = {r.camera_id for r in rows if r.camera_id is not None}
    places = (
        {
            c.id: c
            for c in session.execute(
                select(Camera.id, Camera.name, Camera.latitude, Camera.longitude).where(
                    Camera.id.in_(camera_ids)
                )
            )
        }
        if camera_ids
        else {}
    )
    found = []
    for row in rows:
        place = places.get(row.camera_id) if row.camera_id is not None else None
        hit = SightingHit.model_validate(row)
        if place is not None:
            hit = hit.model_copy(
                update={"camera_name": place.name, "latitude": place.latitude, "longitude": place.longitude}
            )
        found.append(hit)
    return found


def get(*, session: Session, principal: Principal, sighting_id: uuid.UUID) -> Sighting:
    """One sighting within the principal's districts (NotFound outside them, as if it did not exist)."""
    principal.require(READ)
    row = session.get(Sighting, sighting_id)
    if row is None or not principal.sees_district(row.district_id):
        raise NotFound("no such sighting")
    return row


def view(*, session: Session, principal: Principal, sighting_id: uuid.UUID, purpose: str) -> SightingHit:
    """One sighting with its camera, for a person who states why; audited."""
    principal.require(READ)
    purpose = require_purpose(purpose)
    row = get(session=session, principal=principal, sighting_id=sighting_id)
    _audit(session, principal, "plates.view", purpose, {"plate": row.plate}, object_id=str(row.id))
    return hits(session=session, rows=[row])[0]


def picture_file(
    *, session: Session, principal: Principal, sighting_id: uuid.UUID, part: Part, snapshots_dir: Path
) -> Path:
    """A sighting's plate crop or vehicle picture: a file inside `snapshots_dir`, never outside it."""
    row = get(session=session, principal=principal, sighting_id=sighting_id)
    relative = row.crop if part == "crop" else row.snapshot
    path = contained(snapshots_dir, relative) if relative else None
    if path is None or not path.is_file():
        raise NotFound(
            f"this sighting has no {'plate crop' if part == 'crop' else 'vehicle picture'}", code="no_picture"
        )
    return path


# --- journeys ------------------------------------------------------------------------------------

MAX_JOURNEY_PERIOD = dt.timedelta(days=31)
MAX_STOPS = 2000
MIN_SHARED_CAMERAS = 3  # a companion passes this many of the same cameras close in time
DEFAULT_WINDOW_S = 60
MAX_WINDOW_S = 600
_COMPANION_CHUNK = 100  # sightings whose neighbourhoods one query looks up


def journey(
    *,
    session: Session,
    principal: Principal,
    plate: str,
    since: dt.datetime,
    until: dt.datetime,
    purpose: str,
    window_s: int = DEFAULT_WINDOW_S,
) -> JourneyOut:
    """Where a vehicle was seen over a period, in time order, and who travelled with it; audited.

    A companion is another plate read by at least MIN_SHARED_CAMERAS of the same cameras, each time within
    `window_s` seconds of this vehicle passing that camera.
    """
    principal.require(READ)
    purpose = require_purpose(purpose)
    text = normalise(plate, "exact")
    if not 1 <= window_s <= MAX_WINDOW_S:
        raise InvalidInput(f"the window is between 1 and {MAX_WINDOW_S} seconds")
    if since.utcoffset() is None or until.utcoffset() is None:
        raise InvalidInput("'since' and 'until' need a time zone")
    if not since < until <= since + MAX_JOURNEY_PERIOD:
        raise InvalidInput(f"the period runs forward and is at most {MAX_JOURNEY_PERIOD.days} days")
    rows = list(
        session.scalars(
            select(Sighting)
            .where(
                Sighting.plate == text,
                principal.district_filter(Sighting.district_id),
                Sighting.seen_at >= since,
                Sighting.seen_at < until,
            )
            .order_by(Sighting.seen_at, Sighting.id)
            .limit(MAX_STOPS + 1)
        )
    )
    truncated = len(rows) > MAX_STOPS
    rows = rows[:MAX_STOPS]
    companions = _companions(session, principal, text, rows, dt.timedelta(seconds=window_s))
    _audit(
        session,
        principal,
        "plates.journey",
        purpose,
        {
            "plate": text,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "window_s": window_s,
            "sightings": len(rows),
            "companions": len(companions),
        },
    )
    return JourneyOut(
        plate=text,
        since=since,
        until=until,
        window_s=window_s,
        first_seen=rows[0].seen_at if rows else None,
        last_seen=rows[-1].seen_at if rows else None,
        stops=hits(session=session, rows=rows),
        truncated=truncated,
        companions=companions,
    )


def _companions(
    session: Session, principal: Principal, plate: str, rows: Sequence[Sighting], window: dt.timedelta
) -> list[CompanionOut]:
    """Plates seen within `window` of the vehicle at MIN_SHARED_CAMERAS or more of its cameras."""
    stops = [(r.camera_id, r.seen_at) for r in rows if r.camera_id is not None]
    if len({camera for camera, _ in stops}) < MIN_SHARED_CAMERAS:
        return []
    cameras: dict[str, set[uuid.UUID]] = defaultdict(set)
    times: dict[str, set[tuple[uuid.UUID, dt.datetime]]] = defaultdict(set)
    for start in range(0, len(stops), _COMPANION_CHUNK):
        near = or_(
            *(
                and_(Sighting.camera_id == camera, Sighting.seen_at.between(at - window, at + window))
                for camera, at in stops[start : start + _COMPANION_CHUNK]
            )
        )
        found = session.execute(
            select(Sighting.plate, Sighting.camera_id, Sighting.seen_at).where(
                near,
                Sighting.plate.is_not(None),
                Sighting.plate != plate,
                principal.district_filter(Sighting.district_id),
            )
        )
        for other, camera, at in found:
            if other is None or camera is None:  # excluded by the query; said again for the type checker
                continue
            cameras[other].add(camera)
            times[other].add((camera, at))
    companions = [
        CompanionOut(
            plate=other,
            cameras=len(seen),
            sightings=len(times[other]),
            first_together=min(at for _, at in times[other]),
            last_together=max(at for _, at in times[other]),
        )
        for other, seen in cameras.items()
        if len(seen) >= MIN_SHARED_CAMERAS
    ]
    return sorted(companions, key=lambda c: (-c.cameras, -c.sightings, c.plate))


# --- retention -----------------------------------------------------------------------------------

PURGE_BATCH = 1000


def purge_expired(
    *, session: Session, snapshots_dir: Path, before: dt.datetime, batch: int = PURGE_BATCH
) -> int:
    """Delete up to `batch` sightings seen before `before` that nothing holds, with their pictures.

    Returns how many went; the caller commits and calls again while a whole batch went, so no transaction
    (nor SQLite's write lock) lasts long. Pictures named outside `snapshots_dir` are never touched.
    """
    rows = session.execute(
        select(Sighting.id, Sighting.crop, Sighting.snapshot)
        .where(Sighting.seen_at < before, Sighting.hold.is_(None))
        .order_by(Sighting.seen_at)
        .limit(batch)
    ).all()
    remove_files(snapshots_dir, (relative for row in rows for relative in (row.crop, row.snapshot)))
    if rows:
        session.execute(delete(Sighting).where(Sighting.id.in_([r.id for r in rows])))
    return len(rows)


def purge(
    *, session_factory: sessionmaker[Session], snapshots_dir: Path, retention_days: int, now: dt.datetime
) -> int:
    """Delete every sighting older than the retention period that nothing holds, batch by batch; audited."""
    before = now - dt.timedelta(days=retention_days)
    deleted = 0
    while True:
        with session_factory() as session:
            n = purge_expired(session=session, snapshots_dir=snapshots_dir, before=before)
            if n < PURGE_BATCH and deleted + n:
                audit.record(
                    session=session,
                    action="plates.retention",
                    outcome="success",
                    object_type="plate_sightings",
                    detail={"deleted": deleted + n, "before": before.isoformat(), "days": retention_days},
                )
            session.commit()
        deleted += n
        if n < PURGE_BATCH:
            return deleted
