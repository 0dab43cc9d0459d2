"""Data quality of the records: bulk imports of persons, vehicles and FIRs (CSV, or a SELECT on another
department's database) checked whole before anything is stored, duplicate persons proposed and merged
reversibly, and the values on which sources disagree, with a choice of the one in force.

An import names its source `import:<file or source name>` and never overwrites a value someone entered by
hand: a differing value is kept beside it as a conflict (records.service.set_fields, overwrite=False).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, create_engine, func, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.pool import NullPool

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors.vehicles.schemas import plate_key
from safecity.core import csvfile
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.org.models import District, PoliceStation
from safecity.records import service as records
from safecity.records.models import (
    Fact,
    Fir,
    FirParty,
    MissingPerson,
    PartyRole,
    Person,
    PersonAddress,
    PersonLink,
    PersonName,
    PersonPhone,
    PersonPhoto,
    Sensitivity,
    Sighting,
    Vehicle,
    Warrant,
)
from safecity.records.quality.models import ImportSource, Merge
from safecity.records.quality.schemas import (
    FieldComparison,
    FieldConflict,
    ImportReport,
    Kind,
    PersonBrief,
    Proposal,
    RowProblem,
    SourcedValue,
    SourceIn,
)
from safecity.records.schemas import FirIn, PersonIn, VehicleIn
from safecity.records.search import models as search_index

logger = logging.getLogger(__name__)

IMPORT = "records.import"
MERGE = "records.merge"
READ = "records.read"
MANAGE = "records.manage"
SENSITIVE = "records.sensitive"
SOURCE_PURPOSE = "records.import-sources"  # the key that seals source URLs
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
MAX_REPORTED = 1000  # bad rows listed in a report (all are counted)
SQL_TIMEOUT_S = 30
SQL_CONNECT_TIMEOUT_S = 10
SQL_SCHEMES = ("postgresql", "postgresql+psycopg", "sqlite", "sqlite+pysqlite")
LIST_SEPARATOR = ";"  # between the aliases, phones or addresses in one cell

# An FIR's parties, by the CNICs of persons already on record (import those first).
_PARTIES = {
    "complainants": PartyRole.COMPLAINANT,
    "accused": PartyRole.ACCUSED,
    "victims": PartyRole.VICTIM,
    "witnesses": PartyRole.WITNESS,
}
_LISTS = ("aliases", "phones", "addresses", "sections", *_PARTIES)
PERSON_COLUMNS = (*records.PERSON_FIELDS, "aliases", "phones", "addresses")
VEHICLE_COLUMNS = (*records.VEHICLE_FIELDS, "owner_cnic")
FIR_COLUMNS = (
    "police_station",
    "number",
    "year",
    "registered_on",
    "occurred_at",
    "sections",
    "summary",
    "property",
    *_PARTIES,
)
_REQUIRED = {
    "persons": ("name",),
    "vehicles": ("registration",),
    "firs": ("police_station", "number", "registered_on", "sections"),
}
_SELECT = re.compile(r"^\s*select\b", re.IGNORECASE)


# --- imports -----------------------------------------------------------------------------------------


def _columns(kind: Kind) -> tuple[str, ...]:
    return {"persons": PERSON_COLUMNS, "vehicles": VEHICLE_COLUMNS, "firs": FIR_COLUMNS}[kind]


def _check_header(kind: Kind, header: list[str]) -> None:
    allowed = _columns(kind)
    unknown = [h for h in header if h not in allowed]
    required = _REQUIRED[kind]
    if unknown or not set(required) <= set(header) or len(set(header)) != len(header):
        raise InvalidInput(
            f"the columns must name {kind} fields, each once, with {', '.join(required)} among them: "
            f"{', '.join(allowed)}"
            + (f" (unknown: {', '.join(u[:40] for u in unknown[:5])})" if unknown else ""),
            code="bad_import_header",
        )


def _in_district(session: Session, principal: Principal, district_id: uuid.UUID) -> None:
    if session.get(District, district_id) is None or not principal.sees_district(district_id):
        raise NotFound("no such district among yours", code="district_not_found")


def _values(cells: Mapping[str, Any]) -> dict[str, Any]:
    """A row's non-empty cells as a record's input (lists split on `;`): an empty cell says nothing."""
    out: dict[str, Any] = {}
    for column, cell in cells.items():
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        if column in _LISTS:
            out[column] = [p for p in str(cell).split(LIST_SEPARATOR) if p.strip()]
        elif isinstance(cell, dt.date):
            out[column] = cell
        else:
            out[column] = str(cell)
    return out


def _rows(
    session: Session,
    principal: Principal,
    kind: Kind,
    district_id: uuid.UUID,
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],
    source: str,
    dry_run: bool,
) -> ImportReport:
    """Import checked rows of their kind: FIRs on their own, persons and vehicles matched to records."""
    if kind == "firs":
        return _import_firs(session, principal, district_id, rows, source, dry_run)
    return _import(
        session=session,
        principal=principal,
        kind=kind,
        district_id=district_id,
        rows=rows,
        source=source,
        dry_run=dry_run,
    )


def _capped(
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],
) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    """The rows of an import, refused whole past MAX_IMPORT_ROWS."""
    for count, row in enumerate(rows, 1):
        if count > MAX_IMPORT_ROWS:
            raise InvalidInput(f"import at most {MAX_IMPORT_ROWS} rows at a time", code="import_too_large")
        yield row


def _import(
    *,
    session: Session,
    principal: Principal,
    kind: Kind,
    district_id: uuid.UUID,
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],  # (line, the row's cells by field, or its problem)
    source: str,
    dry_run: bool,
) -> ImportReport:
    """Check every row; unless a dry run or a row is bad, store them all (persons matched by CNIC)."""
    bad: list[RowProblem] = []
    good: list[tuple[dict[str, Any], PersonIn | VehicleIn, uuid.UUID | None]] = []
    seen: dict[str, int] = {}
    count = 0
    for line, cells in _capped(rows):
        count += 1
        if isinstance(cells, str):  # a row that cannot be read as fields
            bad.append(RowProblem(line=line, key="", problems=[cells]))
            continue
        given = _values(cells)
        owner = given.pop("owner_cnic", None)
        key = str(given.get("cnic") or given.get("registration") or given.get("name") or "")[:40]
        problems: list[str] = []
        record: PersonIn | VehicleIn | None = None
        try:
            record = (PersonIn if kind == "persons" else VehicleIn).model_validate(given)
        except ValidationError as exc:
            problems.extend(csvfile.problems(exc))
        owner_id: uuid.UUID | None = None
        if owner:
            owner_id, problem = _person_by_cnic(session, principal, owner)
            if problem:
                problems.append(f"owner_cnic: {problem}")
        ident = (
            None
            if record is None
            else (record.cnic if isinstance(record, PersonIn) else plate_key(record.registration))
        )
        if ident and ident in seen:
            problems.append(f"{'cnic' if kind == 'persons' else 'registration'}: also on line {seen[ident]}")
        elif ident:
            seen[ident] = line
        if problems or record is None:
            bad.append(RowProblem(line=line, key=key, problems=problems))
            continue
        good.append((given, record, owner_id))
    if count == 0 and not bad:
        raise InvalidInput(f"the import has no {kind}", code="empty_import")
    matches = _matches(session, kind, [r for _, r, _ in good])
    for ident, match in matches.items():
        if not principal.sees_district(match.district_id):
            bad.append(
                RowProblem(
                    line=seen[ident],
                    key=ident,
                    problems=["matches a record another district keeps: ask that district to import it"],
                )
            )
    bad.sort(key=lambda r: r.line)
    updated = sum(1 for _, r, _ in good if _ident(r) in matches)
    report = ImportReport(
        kind=kind,
        source=source,
        dry_run=dry_run,
        rows=count,
        new=len(good) - updated,
        updated=updated,
        imported=0,
        errors=len(bad),
        results=bad[:MAX_REPORTED],
    )
    if dry_run or bad:
        return report
    for given, record, owner_id in good:
        ident = _ident(record)
        _store(session, kind, record, given, matches.get(ident or ""), district_id, source, owner_id)
    session.flush()
    audit.record(
        session=session,
        action="records.import",
        outcome="success",
        actor=principal,
        object_type=f"record_{kind}",
        district_id=district_id,
        detail={"source": source, "rows": count, "new": report.new, "updated": report.updated},
    )
    logger.info("records: imported %d %s (%d new)", len(good), kind, report.new)
    return report.model_copy(update={"imported": len(good)})


@dataclass(frozen=True)
class _FirRow:
    """One checked row of an FIR import."""

    line: int
    station: PoliceStation
    year: int
    number: int
    data: FirIn
    parties: frozenset[tuple[uuid.UUID, PartyRole]]

    @property
    def ident(self) -> tuple[uuid.UUID, int, int]:
        return self.station.id, self.year, self.number


def _fir_row(
    session: Session,
    principal: Principal,
    stations: Mapping[str, PoliceStation],
    line: int,
    cells: Mapping[str, Any],
) -> _FirRow | RowProblem:
    """A row's FIR (its police station among the district's, sections of law, parties on record), or why
    not."""
    given = _values(cells)
    named = str(given.pop("police_station", ""))
    station = stations.get(_fold(named))
    problems = [] if station else [f"police_station: no police station {named[:60]!r} in the district"]
    parties: set[tuple[uuid.UUID, PartyRole]] = set()
    for column, role in _PARTIES.items():
        for cnic in given.pop(column, []):
            person_id, problem = _person_by_cnic(session, principal, cnic)
            if person_id is None:
                problems.append(f"{column}: {problem}")
            else:
                parties.add((person_id, role))
    data: FirIn | None = None
    try:
        data = FirIn.model_validate(
            {**given, "police_station_id": station.id if station else uuid.UUID(int=0)}
        )
    except ValidationError as exc:
        problems.extend(csvfile.problems(exc))
    if data is not None and data.number is None:
        problems.append("number: give the FIR's number")
    if problems or station is None or data is None or data.number is None:
        return RowProblem(line=line, key=f"{given.get('number', '')} {named}"[:40], problems=problems)
    year = data.year or data.registered_on.year
    return _FirRow(line, station, year, data.number, data, frozenset(parties))


def _import_firs(
    session: Session,
    principal: Principal,
    district_id: uuid.UUID,
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],
    source: str,
    dry_run: bool,
) -> ImportReport:
    """Check every FIR row; unless a dry run or a row is bad, register them all with their parties.

    An FIR registered already is a bad row, never overwritten: an FIR is a legal record, changed by hand.
    """
    query = select(PoliceStation).where(PoliceStation.district_id == district_id)
    stations = {_fold(station.name): station for station in session.scalars(query)}
    bad: list[RowProblem] = []
    good: dict[tuple[uuid.UUID, int, int], _FirRow] = {}
    count = 0
    for line, cells in _capped(rows):
        count += 1
        if isinstance(cells, str):  # a row that cannot be read as fields
            checked: _FirRow | RowProblem = RowProblem(line=line, key="", problems=[cells])
        else:
            checked = _fir_row(session, principal, stations, line, cells)
        if isinstance(checked, _FirRow) and checked.ident in good:
            first = good[checked.ident].line
            checked = RowProblem(
                line=line, key=str(checked.number), problems=[f"number: also on line {first}"]
            )
        if isinstance(checked, RowProblem):
            bad.append(checked)
        else:
            good[checked.ident] = checked
    if count == 0:
        raise InvalidInput("the import has no firs", code="empty_import")
    for ident in _registered(session, list(good)):
        taken = good.pop(ident)
        problem = f"number: FIR {taken.number}/{taken.year} of this police station is registered already"
        bad.append(RowProblem(line=taken.line, key=str(taken.number), problems=[problem]))
    bad.sort(key=lambda r: r.line)
    report = ImportReport(
        kind="firs",
        source=source,
        dry_run=dry_run,
        rows=count,
        new=len(good),
        updated=0,
        imported=0,
        errors=len(bad),
        results=bad[:MAX_REPORTED],
    )
    if dry_run or bad:
        return report
    for item in good.values():
        fir = records.register_fir(
            session=session,
            station=item.station,
            year=item.year,
            number=item.number,
            data=item.data,
            by=principal.username,
        )
        session.add_all(
            FirParty(id=uuid.uuid4(), fir_id=fir.id, person_id=p, role=r) for p, r in item.parties
        )
    session.flush()
    audit.record(
        session=session,
        action="records.import",
        outcome="success",
        actor=principal,
        object_type="record_firs",
        district_id=district_id,
        detail={"source": source, "rows": count, "new": len(good), "updated": 0},
    )
    logger.info("records: imported %d FIRs", len(good))
    return report.model_copy(update={"imported": len(good)})


def _fold(name: str) -> str:
    """A police station's name as the import matches it: case and spacing aside."""
    return " ".join(name.split()).casefold()


def _registered(
    session: Session, idents: list[tuple[uuid.UUID, int, int]]
) -> list[tuple[uuid.UUID, int, int]]:
    """Which of these (police station, year, number) are registered already."""
    found: list[tuple[uuid.UUID, int, int]] = []
    for start in range(0, len(idents), 500):
        numbers = {number for _, _, number in idents[start : start + 500]}
        rows = session.execute(
            select(Fir.police_station_id, Fir.year, Fir.number).where(Fir.number.in_(numbers))
        ).all()
        wanted = set(idents[start : start + 500])
        found += [(row[0], row[1], row[2]) for row in rows if (row[0], row[1], row[2]) in wanted]
    return found


def _ident(record: PersonIn | VehicleIn) -> str | None:
    return record.cnic if isinstance(record, PersonIn) else plate_key(record.registration)


def _person_by_cnic(session: Session, principal: Principal, cnic: str) -> tuple[uuid.UUID | None, str]:
    """The live record of the person with this CNIC, in the principal's districts; else None and why."""
    try:
        digits = PersonIn.model_validate({"name": "owner", "cnic": cnic}).cnic
    except ValidationError as exc:
        return None, " ".join(csvfile.problems(exc)).removeprefix("cnic: ")
    found = session.scalars(
        select(Person).where(Person.cnic == digits, Person.merged_into_id.is_(None))
    ).first()
    if found is None or not principal.sees_district(found.district_id) or not records.shown(principal, found):
        return None, "no person with this CNIC in your districts"
    return found.id, ""


def _matches(session: Session, kind: Kind, found: list[PersonIn | VehicleIn]) -> dict[str, Person | Vehicle]:
    """The live records the rows name: persons by CNIC, vehicles by folded plate."""
    keys = sorted({k for k in (_ident(r) for r in found) if k})
    out: dict[str, Person | Vehicle] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        if kind == "persons":
            for person in session.scalars(
                select(Person).where(Person.cnic.in_(chunk), Person.merged_into_id.is_(None))
            ):
                out[str(person.cnic)] = person
        else:
            for vehicle in session.scalars(select(Vehicle).where(Vehicle.plate_key.in_(chunk))):
                out.setdefault(vehicle.plate_key, vehicle)
    return out


def _store(
    session: Session,
    kind: Kind,
    record: PersonIn | VehicleIn,
    given: Mapping[str, Any],
    match: Person | Vehicle | None,
    district_id: uuid.UUID,
    source: str,
    owner_id: uuid.UUID | None,
) -> None:
    if isinstance(record, PersonIn):
        if not isinstance(match, Person):
            records.add_person(session=session, data=record, district_id=district_id, source=source)
            return
        # Only the columns the row filled: an empty cell or a missing column says nothing.
        said = record.model_dump(include=set(records.PERSON_FIELDS) & set(given))
        records.set_fields(
            session=session, entity="person", row=match, values=said, source=source, overwrite=False
        )
        records.add_details(session=session, person=match, data=record, source=source)
        return
    if not isinstance(match, Vehicle):
        records.add_vehicle(
            session=session, data=record, district_id=district_id, source=source, owner_id=owner_id
        )
        return
    said = record.model_dump(include=set(records.VEHICLE_FIELDS) & set(given))
    records.set_fields(
        session=session, entity="vehicle", row=match, values=said, source=source, overwrite=False
    )
    if owner_id is not None and match.owner_id is None:
        match.owner_id = owner_id


def import_csv(
    *,
    session: Session,
    principal: Principal,
    kind: Kind,
    district_id: uuid.UUID,
    text: str,
    dry_run: bool,
    file_name: str = "import.csv",
) -> ImportReport:
    """Check every row of a CSV file of persons, vehicles or FIRs; unless `dry_run`, store all of them, but
    only if none is bad (then the report lists every bad row's problems and nothing is stored)."""
    principal.require(IMPORT)
    csvfile.check_text(text, limit=MAX_IMPORT_BYTES)
    _in_district(session, principal, district_id)
    header, body = csvfile.read_csv(text)
    _check_header(kind, header)

    def rows() -> Iterator[tuple[int, Mapping[str, Any] | str]]:
        for line, cells in body:
            if not isinstance(cells, str) and len(cells) != len(header):
                yield line, f"has {len(cells)} cells; expected {len(header)} ({','.join(header)})"
            else:
                yield line, cells if isinstance(cells, str) else dict(zip(header, cells, strict=True))

    label = f"import:{csvfile.file_label(file_name, 'import.csv')}"
    return _rows(session, principal, kind, district_id, rows(), label, dry_run)


# --- SQL sources: another department's database, read only -----------------------------------------


def source_box(secret_key: str) -> SecretBox:
    """The box that seals source URLs (they carry the other database's credentials) at rest."""
    return SecretBox(secret_key, SOURCE_PURPOSE)


def check_query(query: str) -> str:
    """The query if it is one SELECT (no second statement, no comment to hide one); else InvalidInput."""
    body = query.strip().removesuffix(";").strip()
    if not _SELECT.match(body) or ";" in body or "--" in body or "/*" in body:
        raise InvalidInput(
            "the query must be one SELECT, without comments or a second statement",
            code="not_a_select",
            field="query",
        )
    return body


def check_url(url: str) -> str:
    """The URL shown without its password, if its scheme is allowed; InvalidInput (never echoing it) else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput("this is no database URL", code="bad_source_url", field="url") from None
    if parsed.drivername not in SQL_SCHEMES:
        raise InvalidInput(
            f"a source is read through one of: {', '.join(SQL_SCHEMES)}", code="bad_source_url", field="url"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise InvalidInput("name the SQLite database file", code="bad_source_url", field="url")
    return parsed.render_as_string(hide_password=True)


def add_source(*, session: Session, principal: Principal, box: SecretBox, data: SourceIn) -> ImportSource:
    """Configure another department's database to import from (records.import); audited without the URL."""
    principal.require(IMPORT)
    _in_district(session, principal, data.district_id)
    shown = check_url(data.url)
    query = check_query(data.query)
    if session.scalar(select(ImportSource.id).where(ImportSource.name == data.name)) is not None:
        raise Conflict(f"a source named {data.name!r} exists", code="source_exists")
    source = ImportSource(
        name=data.name,
        kind=data.kind,
        url_sealed=box.encrypt(data.url),
        url_shown=shown,
        query=query,
        district_id=data.district_id,
        created_by=principal.username,
    )
    session.add(source)
    session.flush()
    audit.record(
        session=session,
        action="records.import_source",
        outcome="success",
        actor=principal,
        object_type="record_import_sources",
        object_id=str(source.id),
        district_id=data.district_id,
        detail={"name": data.name, "kind": data.kind},
    )
    return source


def sources(*, session: Session, principal: Principal) -> list[ImportSource]:
    """The sources configured for the principal's districts."""
    principal.require(IMPORT)
    return list(
        session.scalars(
            select(ImportSource)
            .where(principal.district_filter(ImportSource.district_id))
            .order_by(ImportSource.name)
        )
    )


def _read_only(connection: Connection) -> None:
    """Make this connection read-only, and give every statement at most SQL_TIMEOUT_S."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET TRANSACTION READ ONLY"))
        connection.execute(text(f"SET LOCAL statement_timeout = {SQL_TIMEOUT_S * 1000}"))
        return
    raw = connection.connection.driver_connection
    connection.exec_driver_sql("PRAGMA query_only = ON")
    deadline = utcnow() + dt.timedelta(seconds=SQL_TIMEOUT_S)
    # SQLite has no statement timeout: its progress handler aborts the query when it returns non-zero.
    raw.set_progress_handler(lambda: int(utcnow() > deadline), 10_000)  # type: ignore[union-attr]


def _select(url: str, query: str) -> tuple[list[tuple[int, Mapping[str, Any] | str]], list[str]]:
    """The rows of one SELECT on another database (numbered from 1) and its column names, read only."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Opened read-only: a file that is not there is an error, not a new empty database on this server.
        parsed = parsed.set(database=f"file:{parsed.database}", query={"mode": "ro", "uri": "true"})
        engine = create_engine(parsed, poolclass=NullPool)
    else:
        engine = create_engine(
            parsed, poolclass=NullPool, connect_args={"connect_timeout": SQL_CONNECT_TIMEOUT_S}
        )
    try:
        with engine.connect() as connection, connection.begin():
            _read_only(connection)
            result = connection.execute(text(query))
            names = [str(k).lower() for k in result.keys()]  # noqa: SIM118 -- a Result, not a dict
            fetched = result.fetchmany(MAX_IMPORT_ROWS + 1)
    except SQLAlchemyError as exc:
        # The driver's first line says what failed (no credentials: SQLAlchemy never prints the URL).
        first = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0][:200]
        raise InvalidInput(f"the source could not be read: {first}", code="source_failed") from None
    finally:
        engine.dispose()
    return [(n, dict(zip(names, row, strict=True))) for n, row in enumerate(fetched, start=1)], names


def run_source(
    *, session: Session, principal: Principal, box: SecretBox, source_id: uuid.UUID, dry_run: bool
) -> ImportReport:
    """Import the rows a source's SELECT gives (its columns name the fields), as a CSV file is imported."""
    principal.require(IMPORT)
    source = session.get(ImportSource, source_id)
    if source is None or not principal.sees_district(source.district_id):
        raise NotFound("no such import source", code="source_not_found")
    kind = cast(Kind, source.kind)  # one of them: checked when the source was added
    rows, names = _select(box.decrypt(source.url_sealed), check_query(source.query))
    _check_header(kind, names)
    return _rows(session, principal, kind, source.district_id, rows, f"import:{source.name}", dry_run)


# --- duplicates and merges ---------------------------------------------------------------------------


def _may_touch(principal: Principal, person: Person) -> None:
    if not principal.sees_district(person.district_id):
        raise PermissionDenied("this record is kept by a district you do not see", code="other_district")
    if person.sensitivity != Sensitivity.NONE and not principal.can(SENSITIVE):
        raise PermissionDenied(f"this record is sensitive: it needs the '{SENSITIVE}' permission")


def _live(session: Session, principal: Principal, person_id: uuid.UUID) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.merged_into_id is not None:
        raise NotFound("no such person (or merged into another)", code="person_not_found")
    _may_touch(principal, person)
    return person


def _visible(principal: Principal, person: type[Person]) -> Any:
    """Live records of the principal's districts; sensitive ones only for holders of records.sensitive."""
    clause = person.merged_into_id.is_(None) & principal.district_filter(person.district_id)
    if not principal.can(SENSITIVE):
        clause &= person.sensitivity == Sensitivity.NONE
    return clause


def _norm(column: Any) -> Any:
    return func.lower(func.trim(column))


def proposals(*, session: Session, principal: Principal, limit: int = 100) -> list[Proposal]:
    """Pairs of live persons that are probably one: the same CNIC, or the same name, father's name and date
    of birth (case and spaces aside); each with the fields side by side. Audited as a read of the records."""
    principal.require(MERGE)
    principal.require(READ)
    left, right = aliased(Person), aliased(Person)
    same_cnic = left.cnic.is_not(None) & (left.cnic == right.cnic)
    same_person = (
        (_norm(left.name) == _norm(right.name))
        & (_norm(left.father_name) == _norm(right.father_name))
        & (left.father_name != "")
        & (left.date_of_birth == right.date_of_birth)
    )
    pairs = session.execute(
        select(left, right, same_cnic)
        .where(
            left.id < right.id, same_cnic | same_person, _visible(principal, left), _visible(principal, right)
        )
        .order_by(left.name, left.id, right.id)
        .limit(limit)
    ).all()
    found = [
        Proposal(
            reason="same_cnic" if by_cnic else "same_name_father_birth",
            left=_brief(session, a),
            right=_brief(session, b),
            fields=compare(session=session, left=a, right=b),
        )
        for a, b, by_cnic in pairs
    ]
    audit.record(
        session=session,
        action="records.duplicates",
        outcome="success",
        actor=principal,
        object_type="record_persons",
        detail={"proposals": len(found)},
    )
    return found


def _brief(session: Session, person: Person) -> PersonBrief:
    return PersonBrief(
        id=person.id,
        district_id=person.district_id,
        name=person.name,
        father_name=person.father_name,
        cnic=person.cnic,
        date_of_birth=person.date_of_birth,
        phones=sorted(session.scalars(select(PersonPhone.number).where(PersonPhone.person_id == person.id))),
        firs=session.scalar(select(func.count()).where(FirParty.person_id == person.id)) or 0,
        vehicles=session.scalar(select(func.count()).where(Vehicle.owner_id == person.id)) or 0,
    )


def _sources_in_force(session: Session, person_id: uuid.UUID) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for field, source in session.execute(
        select(Fact.field, Fact.source)
        .where(Fact.entity == "person", Fact.entity_id == person_id, Fact.current.is_(True))
        .order_by(Fact.at)
    ):
        found[field].append(source)
    return found


def compare(*, session: Session, left: Person, right: Person) -> list[FieldComparison]:
    """The two persons' fields side by side, each value with the sources that gave it."""
    left_sources, right_sources = _sources_in_force(session, left.id), _sources_in_force(session, right.id)
    return [
        FieldComparison(
            field=field,
            left=records._json(getattr(left, field)),
            right=records._json(getattr(right, field)),
            left_sources=left_sources.get(field, []),
            right_sources=right_sources.get(field, []),
            same=getattr(left, field) == getattr(right, field),
        )
        for field in records.PERSON_FIELDS
    ]


# (key in Merge.moved, table, the column that points at the person)
_POINTERS: tuple[tuple[str, Any, str], ...] = (
    ("names", PersonName, "person_id"),
    ("phones", PersonPhone, "person_id"),
    ("addresses", PersonAddress, "person_id"),
    ("photos", PersonPhoto, "person_id"),
    ("fir_parties", FirParty, "person_id"),
    ("warrants", Warrant, "person_id"),
    ("missing", MissingPerson, "person_id"),
    ("sightings", Sighting, "person_id"),
    ("links_a", PersonLink, "person_a_id"),
    ("links_b", PersonLink, "person_b_id"),
    ("vehicles", Vehicle, "owner_id"),
    ("facts", Fact, "entity_id"),
)


def _movable(session: Session, key: str, model: Any, column: str, kept: Person, merged: Person) -> list[str]:
    """The ids of `model` rows pointing at `merged` that may point at `kept` without breaking a unique key."""
    table: Table = model.__table__
    col = table.c[column]
    clause = col == merged.id
    if model is Fact:
        clause &= table.c.entity == "person"
    if key == "phones":
        clause &= table.c.number.not_in(select(PersonPhone.number).where(PersonPhone.person_id == kept.id))
    elif key == "fir_parties":
        held = aliased(FirParty)
        clause &= ~(
            select(held.id)
            .where(held.person_id == kept.id, held.fir_id == table.c.fir_id, held.role == table.c.role)
            .exists()
        )
    elif key == "sightings":
        seen = aliased(Sighting)
        clause &= ~(
            select(seen.id)
            .where(seen.person_id == kept.id, seen.kind == table.c.kind, seen.ref == table.c.ref)
            .exists()
        )
    elif key in ("links_a", "links_b"):
        other = "person_b_id" if key == "links_a" else "person_a_id"
        link = aliased(PersonLink)
        clause &= (table.c[other] != kept.id) & ~(  # a link between the two would link one to itself
            select(link.id)
            .where(
                getattr(link, column) == kept.id,
                getattr(link, other) == table.c[other],
                link.kind == table.c.kind,
            )
            .exists()
        )
    return [str(i) for i in session.scalars(select(table.c.id).where(clause))]


def _repoint(session: Session, model: Any, column: str, ids: list[str], to: uuid.UUID) -> None:
    table: Table = model.__table__
    for start in range(0, len(ids), 500):
        chunk = [uuid.UUID(i) for i in ids[start : start + 500]]
        session.execute(update(table).where(table.c.id.in_(chunk)).values({column: to}))


def merge(
    *, session: Session, principal: Principal, kept_id: uuid.UUID, merged_id: uuid.UUID, reason: str
) -> Merge:
    """Merge one person into another: every row that pointed at the merged one points at the kept one (where
    the kept one has no such row already), the merged name becomes an alias, the merged record is hidden;
    what moved is kept in a Merge row for `undo`. Audited with the reason."""
    principal.require(MERGE)
    if kept_id == merged_id:
        raise InvalidInput("a person cannot be merged into itself", code="merge_self")
    kept = _live(session, principal, kept_id)
    merged = _live(session, principal, merged_id)
    moved: dict[str, Any] = {}
    for key, model, column in _POINTERS:
        moved[key] = _movable(session, key, model, column, kept, merged)
    # The merged record's values were in force there, not on the kept record: there they are other sources'
    # values, shown as conflicts until someone chooses.
    moved["facts_current"] = [
        str(i)
        for i in session.scalars(
            select(Fact.id).where(
                Fact.id.in_([uuid.UUID(i) for i in moved["facts"]]),
                Fact.current.is_(True),
                Fact.field.in_(records.PERSON_FIELDS),
            )
        )
    ]
    for key, model, column in _POINTERS:
        _repoint(session, model, column, moved[key], kept.id)
    if moved["facts_current"]:
        session.execute(
            update(Fact)
            .where(Fact.id.in_([uuid.UUID(i) for i in moved["facts_current"]]))
            .values(current=False)
        )
    known = {
        n.casefold() for n in session.scalars(select(PersonName.name).where(PersonName.person_id == kept.id))
    }
    moved["alias_added"] = []
    if merged.name.casefold() != kept.name.casefold() and merged.name.casefold() not in known:
        alias = PersonName(id=uuid.uuid4(), person_id=kept.id, name=merged.name, kind="alias")
        session.add(alias)
        moved["alias_added"] = [str(alias.id)]
    merged.merged_into_id = kept.id
    merged.updated_at = kept.updated_at = utcnow()
    row = Merge(kept_id=kept.id, merged_id=merged.id, moved=moved, reason=reason, by=principal.username)
    session.add(row)
    session.flush()
    # Aliases moved by UPDATE statements, which the index's flush listener does not see.
    search_index.reindex(session=session, person_ids=[kept.id, merged.id])
    audit.record(
        session=session,
        action="records.merge",
        outcome="success",
        actor=principal,
        object_type="record_persons",
        object_id=str(kept.id),
        purpose=reason,
        district_id=kept.district_id,
        detail={
            "merge": str(row.id),
            "merged": str(merged.id),
            "moved": {k: len(v) for k, v in moved.items()},
        },
    )
    return row


def undo(*, session: Session, principal: Principal, merge_id: uuid.UUID, reason: str) -> Merge:
    """Put back everything a merge moved and the merged person's record as it was; audited with the reason."""
    principal.require(MERGE)
    row = session.get(Merge, merge_id)
    if row is None:
        raise NotFound("no such merge", code="merge_not_found")
    if row.undone_at is not None:
        raise Conflict("this merge was undone already", code="merge_undone")
    kept = _live(session, principal, row.kept_id)  # merged again since: undo that merge first
    merged = session.get(Person, row.merged_id)
    assert merged is not None  # noqa: S101 -- the foreign key keeps it
    _may_touch(principal, merged)
    if merged.cnic and session.scalar(
        select(Person.id).where(Person.cnic == merged.cnic, Person.merged_into_id.is_(None))
    ):
        raise Conflict("another live record holds this CNIC now", code="cnic_taken")
    moved = row.moved
    for alias_id in moved.get("alias_added", []):
        alias = session.get(PersonName, uuid.UUID(alias_id))
        if alias is not None:
            session.delete(alias)
    for key, model, column in _POINTERS:
        _repoint(session, model, column, moved.get(key, []), merged.id)
    if moved.get("facts_current"):
        session.execute(
            update(Fact)
            .where(Fact.id.in_([uuid.UUID(i) for i in moved["facts_current"]]))
            .values(current=True)
        )
    merged.merged_into_id = None
    merged.updated_at = kept.updated_at = row.undone_at = utcnow()
    row.undone_by, row.undo_reason = principal.username, reason
    session.flush()
    search_index.reindex(session=session, person_ids=[kept.id, merged.id])
    audit.record(
        session=session,
        action="records.merge_undo",
        outcome="success",
        actor=principal,
        object_type="record_persons",
        object_id=str(merged.id),
        purpose=reason,
        district_id=merged.district_id,
        detail={"merge": str(row.id), "kept": str(kept.id)},
    )
    return row


def merges(*, session: Session, principal: Principal, limit: int = 100) -> list[Merge]:
    """The latest merges of persons in the principal's districts."""
    principal.require(MERGE)
    return list(
        session.scalars(
            select(Merge)
            .join(Person, Person.id == Merge.kept_id)
            .where(principal.district_filter(Person.district_id))
            .order_by(Merge.at.desc())
            .limit(limit)
        )
    )


# --- conflicts: the values on which sources disagree --------------------------------------------------


def conflicts(
    *, session: Session, principal: Principal, person_id: uuid.UUID, purpose: str
) -> list[FieldConflict]:
    """Every field of a person on which sources disagree (or a source's value is not the one in force),
    each value with its sources and times; audited as a read with its purpose."""
    from safecity.analytics.plates.service import require_purpose

    principal.require(READ)
    stated = require_purpose(purpose)
    person = _live(session, principal, person_id)
    by_field: dict[str, dict[str, list[Fact]]] = defaultdict(lambda: defaultdict(list))
    for fact in records.facts(session=session, entity="person", entity_id=person.id):
        if fact.field in records.PERSON_FIELDS:
            by_field[fact.field][repr(fact.value)].append(fact)
    found = []
    for field in records.PERSON_FIELDS:
        values = by_field.get(field)
        if not values:
            continue
        held = records._json(getattr(person, field))
        if len(values) == 1 and next(iter(values.values()))[0].value == held:
            continue  # every source agrees with the record
        found.append(
            FieldConflict(
                field=field,
                values=[
                    SourcedValue(
                        value=group[0].value,
                        in_force=group[0].value == held,
                        sources=[(f.source, f.at) for f in group],
                        fact_id=group[0].id,
                    )
                    for group in values.values()
                ],
            )
        )
    audit.record(
        session=session,
        action="records.conflicts",
        outcome="success",
        actor=principal,
        object_type="record_persons",
        object_id=str(person.id),
        purpose=stated,
        district_id=person.district_id,
        detail={"fields": [c.field for c in found]},
    )
    return found


def choose(
    *, session: Session, principal: Principal, person_id: uuid.UUID, field: str, fact_id: uuid.UUID
) -> list[str]:
    """Put a source's value of a field in force, as the user's own choice (own:<user>); audited."""
    principal.require(MANAGE)
    person = _live(session, principal, person_id)
    fact = session.get(Fact, fact_id)
    if (
        fact is None
        or fact.entity != "person"
        or fact.entity_id != person.id
        or fact.field != field
        or field not in records.PERSON_FIELDS
    ):
        raise NotFound("no such value of this person's field", code="fact_not_found")
    value: Any = fact.value
    if field == "date_of_birth" and value is not None:
        value = dt.date.fromisoformat(value)
    elif field == "sensitivity":
        value = Sensitivity(value)
    changed = records.set_fields(
        session=session,
        entity="person",
        row=person,
        values={field: value},
        source=records.own(principal.username),
    )
    session.flush()
    audit.record(
        session=session,
        action="records.conflict_resolve",
        outcome="success",
        actor=principal,
        object_type="record_persons",
        object_id=str(person.id),
        district_id=person.district_id,
        detail={"field": field, "fact": str(fact.id), "source": fact.source},
    )
    return changed
