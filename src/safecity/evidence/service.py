"""Investigation cases: numbered per district and year, worked by a lead and a team, shared to other
districts by a supervisor, linking incidents, events, plate reads, face matches, records, object tracks and
recorded footage (put under evidence lock), with notes, tasks, a timeline and the custody log.

Who sees a case: a holder of `forensics.investigate` (or of `cases.share`) whose districts include the
case's district or a district it is shared with, and any member of its team. Anyone else is told it does
not exist (NotFound), so a case number never leaks across districts. Every add, removal, view and export
is one line of the case's custody log and one entry of the audit log, with its purpose.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import false, or_, select, update
from sqlalchemy.orm import Session

from safecity.analytics.plates.models import Sighting
from safecity.analytics.plates.service import require_purpose
from safecity.audit import service as audit
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.core.db import next_in_sequence, utcnow
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.events.models import Event
from safecity.evidence.models import (
    Case,
    CaseCounter,
    CaseCustody,
    CaseItem,
    CaseMember,
    CaseNote,
    CaseShare,
    CaseStatus,
    CaseTask,
    CustodyAction,
    ItemKind,
)
from safecity.evidence.schemas import CaseIn, CaseUpdate, ItemIn, TaskIn
from safecity.faces.matches.models import FaceMatch
from safecity.forensics.models import ObjectTrack
from safecity.incidents import service as incidents
from safecity.org.models import District
from safecity.records import service as records
from safecity.video import recorder
from safecity.video.models import Recording

logger = logging.getLogger(__name__)

INVESTIGATE = "forensics.investigate"
SHARE = "cases.share"
PLATES_READ = "plates.read"
FACES_READ = "faces.read"
MAX_FOOTAGE = dt.timedelta(days=7)  # one recording item covers at most a week of one camera
MAX_LIST = 500
AUDIT_DETAIL_CHARS = 2000  # of a custody line's detail copied into its audit entry
HOLD = "case"  # a plate read linked to a case outlives the plate retention period


# --- numbers and visibility ------------------------------------------------------------------------------


def next_number(*, session: Session, district: District, year: int) -> str:
    """The next case number of `district` and `year`, e.g. PSW-CASE-2026-000012; taken in this transaction."""
    last = next_in_sequence(session, CaseCounter, district.id, year)
    return f"{district.code}-CASE-{year}-{last:06d}"


def _investigates(principal: Principal) -> bool:
    return principal.can(INVESTIGATE) or principal.can(SHARE)


def _is_member(session: Session, principal: Principal, case: Case) -> bool:
    if principal.user_id is None:
        return False
    return session.get(CaseMember, (case.id, principal.user_id)) is not None


def shared_districts(*, session: Session, case_id: uuid.UUID) -> list[uuid.UUID]:
    """The districts a case is shared with."""
    return list(session.scalars(select(CaseShare.district_id).where(CaseShare.case_id == case_id)))


def _visible(session: Session, principal: Principal, case: Case) -> bool:
    if _is_member(session, principal, case):
        return True
    if not _investigates(principal):
        return False
    if principal.sees_district(case.district_id):
        return True
    return any(principal.sees_district(d) for d in shared_districts(session=session, case_id=case.id))


def get_case(*, session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    """The case, if the principal may see it; NotFound otherwise (its existence does not leak)."""
    case = session.get(Case, case_id)
    if case is None or not _visible(session, principal, case):
        raise NotFound("no case with that id")
    return case


def may_work(*, session: Session, principal: Principal, case: Case) -> bool:
    """Whether the principal may change a case it sees: a team member, or an investigator in scope."""
    return _is_member(session, principal, case) or principal.can(INVESTIGATE)


def _workable(session: Session, principal: Principal, case_id: uuid.UUID, *, open_only: bool = True) -> Case:
    case = get_case(session=session, principal=principal, case_id=case_id)
    if not may_work(session=session, principal=principal, case=case):
        raise PermissionDenied("only the case's team and investigators may change it")
    if open_only and case.status == CaseStatus.CLOSED:
        raise Conflict("the case is closed", code="case_closed")
    return case


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    case: Case,
    *,
    purpose: str | None = None,
    **detail: Any,
) -> None:
    audit.record(
        session=session,
        action=action,
        outcome="success",
        actor=principal,
        object_type="case",
        object_id=str(case.id),
        purpose=purpose,
        district_id=case.district_id,
        detail={"number": case.number, **detail},
    )


def record_custody(
    *,
    session: Session,
    case_id: uuid.UUID,
    item_id: uuid.UUID | None,
    action: CustodyAction | str,
    principal: Principal,
    purpose: str,
    detail: dict[str, Any] | None = None,
) -> CaseCustody:
    """Append one line to the case's custody log and the matching audit entry ("evidence.<action>").

    Args:
        session: the caller's transaction (not committed here).
        case_id: the case the line belongs to.
        item_id: the item acted on; None for the case as a whole (a view, an export of the whole case).
        action: added, viewed, exported, downloaded, removed or locked.
        principal: who acted.
        purpose: why (stated by the user; kept verbatim, trimmed).
        detail: small JSON facts (file names, hashes, segment counts).

    Returns:
        The custody line.
    """
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("no case with that id")
    what = CustodyAction(action)
    line = CaseCustody(
        id=uuid.uuid4(),
        case_id=case_id,
        item_id=item_id,
        action=what,
        user_id=principal.user_id,
        username=principal.username[:64],
        at=utcnow(),
        purpose=" ".join(purpose.split()),
        detail=dict(detail or {}),
    )
    session.add(line)
    session.flush()
    facts: dict[str, Any] = {"custody_id": str(line.id), "item_id": str(item_id) if item_id else None}
    # The custody line keeps the whole detail; the audit entry has a size limit, so a large one stays out.
    if len(json.dumps(line.detail, default=str)) <= AUDIT_DETAIL_CHARS:
        facts["detail"] = line.detail
    _audit(session, principal, f"evidence.{what.value}", case, purpose=line.purpose or None, **facts)
    return line


def custody(*, session: Session, case_id: uuid.UUID) -> list[CaseCustody]:
    """The case's custody log, oldest first (no permission check: the caller got the case first)."""
    return list(
        session.scalars(
            select(CaseCustody).where(CaseCustody.case_id == case_id).order_by(CaseCustody.at, CaseCustody.id)
        )
    )


# --- cases ---------------------------------------------------------------------------------------------


def _district_for(session: Session, principal: Principal, district_id: uuid.UUID | None) -> District:
    if district_id is None:
        if principal.district_ids is None or len(principal.district_ids) != 1:
            raise InvalidInput("choose the district of the case", field="district_id")
        (district_id,) = principal.district_ids
    if not principal.sees_district(district_id):
        raise PermissionDenied("you may open cases only in your own districts")
    district = session.get(District, district_id)
    if district is None:
        raise NotFound("no district with that id")
    return district


def _user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("no active user with that id")
    return user


def _add_member(session: Session, principal: Principal, case: Case, user_id: uuid.UUID) -> bool:
    if session.get(CaseMember, (case.id, user_id)) is not None:
        return False
    session.add(CaseMember(case_id=case.id, user_id=user_id, added_by=principal.user_id, added_at=utcnow()))
    session.flush()
    return True


def create_case(*, session: Session, principal: Principal, data: CaseIn) -> Case:
    """Open a case in one of the investigator's districts; its lead (default: the creator) joins the team."""
    principal.require(INVESTIGATE)
    district = _district_for(session, principal, data.district_id)
    lead_id = data.lead_id or principal.user_id
    if lead_id is not None:
        _user(session, lead_id)
    now = utcnow()
    case = Case(
        id=uuid.uuid4(),
        number=next_number(session=session, district=district, year=now.year),
        title=data.title,
        summary=data.summary,
        district_id=district.id,
        lead_id=lead_id,
        status=CaseStatus.OPEN,
        created_by=principal.user_id,
        created_at=now,
    )
    session.add(case)
    session.flush()
    for member in {lead_id, principal.user_id} - {None}:
        _add_member(session, principal, case, cast(uuid.UUID, member))
    _audit(session, principal, "cases.create", case, title=case.title)
    logger.info("case %s opened in district %s", case.number, district.code)
    return case


def list_cases(
    *,
    session: Session,
    principal: Principal,
    mine: bool = False,
    status: CaseStatus | None = None,
    limit: int = 200,
) -> list[Case]:
    """Cases the principal may see (`mine`: those they lead or are on the team of), newest first."""
    uid = principal.user_id
    member_of = select(CaseMember.case_id).where(CaseMember.user_id == uid)
    if mine:
        scope = or_(Case.lead_id == uid, Case.id.in_(member_of))
    elif not _investigates(principal):
        scope = Case.id.in_(member_of)
    elif principal.district_ids is None:
        scope = or_(Case.id.is_not(None))
    else:
        shared_in = select(CaseShare.case_id).where(CaseShare.district_id.in_(principal.district_ids))
        scope = or_(
            Case.district_id.in_(principal.district_ids), Case.id.in_(shared_in), Case.id.in_(member_of)
        )
    if uid is None and mine:
        scope = false()
    query = select(Case).where(scope)
    if status is not None:
        query = query.where(Case.status == status)
    query = query.order_by(Case.created_at.desc(), Case.number.desc()).limit(min(limit, MAX_LIST))
    return list(session.scalars(query))


def workable_cases(*, session: Session, principal: Principal, limit: int = 100) -> list[Case]:
    """Open cases the principal may add to (for the "add to case" form of other pages), newest first."""
    found = list_cases(session=session, principal=principal, status=CaseStatus.OPEN, limit=limit)
    return [c for c in found if may_work(session=session, principal=principal, case=c)]


def view_case(*, session: Session, principal: Principal, case_id: uuid.UUID, purpose: str) -> Case:
    """The case read for a stated purpose: a "viewed" line in its custody log and the audit log."""
    case = get_case(session=session, principal=principal, case_id=case_id)
    stated = require_purpose(purpose)
    record_custody(
        session=session,
        case_id=case.id,
        item_id=None,
        action=CustodyAction.VIEWED,
        principal=principal,
        purpose=stated,
    )
    return case


def directs(principal: Principal, case: Case) -> bool:
    """Whether the principal directs the case: its lead, or an investigator of its district."""
    leads = case.lead_id is not None and case.lead_id == principal.user_id  # a token leads nothing
    return leads or (principal.can(INVESTIGATE) and principal.sees_district(case.district_id))


def _reason(reason: str, what: str) -> str:
    stated = " ".join(reason.split())
    if len(stated) < 3:
        raise InvalidInput(f"give the reason {what}", field="reason")
    return stated


def update_case(*, session: Session, principal: Principal, case_id: uuid.UUID, data: CaseUpdate) -> Case:
    """Change an open case's title, summary or lead (its lead or an investigator of its district).

    A new lead joins the team; the old one stays on it. The audit entry keeps what each field was.
    """
    case = _workable(session, principal, case_id)
    if not directs(principal, case):
        raise PermissionDenied("only the lead or an investigator of the case's district may change it")
    changed: dict[str, Any] = {}
    if data.title is not None and data.title != case.title:
        changed["title"] = {"from": case.title, "to": data.title}
        case.title = data.title
    if data.summary is not None and data.summary != case.summary:
        changed["summary"] = {
            "from": case.summary[:AUDIT_DETAIL_CHARS],
            "to": data.summary[:AUDIT_DETAIL_CHARS],
        }
        case.summary = data.summary
    if data.lead_id is not None and data.lead_id != case.lead_id:
        lead = _user(session, data.lead_id)
        changed["lead"] = {"from": str(case.lead_id) if case.lead_id else None, "to": str(lead.id)}
        case.lead_id = lead.id
        _add_member(session, principal, case, lead.id)
    if changed:
        session.flush()
        _audit(session, principal, "cases.update", case, changed=changed)
    return case


def close_case(*, session: Session, principal: Principal, case_id: uuid.UUID, reason: str) -> Case:
    """Close an open case with a reason (its lead or an investigator of its district)."""
    case = _workable(session, principal, case_id)
    if not directs(principal, case):
        raise PermissionDenied("only the lead or an investigator of the case's district may close it")
    stated = _reason(reason, "for closing the case")
    case.status = CaseStatus.CLOSED
    case.closed_at = utcnow()
    session.flush()
    _audit(session, principal, "cases.close", case, purpose=stated)
    return case


def add_member(
    *, session: Session, principal: Principal, case_id: uuid.UUID, user_id: uuid.UUID
) -> CaseMember:
    """Put a user on the case's team (they then see the case whatever their districts)."""
    case = _workable(session, principal, case_id)
    user = _user(session, user_id)
    _add_member(session, principal, case, user.id)
    _audit(session, principal, "cases.member.add", case, user_id=str(user.id), username=user.username)
    return cast(CaseMember, session.get(CaseMember, (case.id, user.id)))


def remove_member(
    *, session: Session, principal: Principal, case_id: uuid.UUID, user_id: uuid.UUID, reason: str
) -> None:
    """Take a user off the case's team, with the reason (its lead or an investigator of its district; anyone
    may leave a team). Open or closed: who no longer works a case should not keep reading it. The lead
    stays until another is named."""
    case = get_case(session=session, principal=principal, case_id=case_id)
    if principal.user_id != user_id and not directs(principal, case):
        raise PermissionDenied("only the lead or an investigator of the case's district may change its team")
    stated = _reason(reason, "for taking them off the team")
    member = session.get(CaseMember, (case.id, user_id))
    if member is None:
        raise NotFound("no such member of the case's team")
    if user_id == case.lead_id:
        raise Conflict("the lead stays on the team: name another lead first", code="case_lead")
    session.delete(member)
    session.flush()
    user = session.get(User, user_id)
    _audit(
        session,
        principal,
        "cases.member.remove",
        case,
        purpose=stated,
        user_id=str(user_id),
        username=user.username if user else None,
    )


def members(*, session: Session, case_id: uuid.UUID) -> list[CaseMember]:
    """The case's team, in the order they joined."""
    return list(
        session.scalars(select(CaseMember).where(CaseMember.case_id == case_id).order_by(CaseMember.added_at))
    )


def may_share(principal: Principal, case: Case) -> bool:
    """Whether the principal may change whom a case is shared with: cases.share in its own district."""
    return principal.can(SHARE) and principal.sees_district(case.district_id)


def _sharable(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    principal.require(SHARE)
    case = get_case(session=session, principal=principal, case_id=case_id)
    if not may_share(principal, case):
        raise PermissionDenied("only a supervisor of the case's own district may change its sharing")
    return case


def share_case(
    *, session: Session, principal: Principal, case_id: uuid.UUID, district_id: uuid.UUID, reason: str
) -> CaseShare:
    """Share a case with another district's investigators (cases.share, a supervisor of its district)."""
    case = _sharable(session, principal, case_id)
    district = session.get(District, district_id)
    if district is None:
        raise NotFound("no district with that id")
    if district.id == case.district_id:
        raise InvalidInput("the case already belongs to that district", field="district_id")
    stated = _reason(reason, "for sharing")
    existing = session.scalars(
        select(CaseShare).where(CaseShare.case_id == case.id, CaseShare.district_id == district.id)
    ).one_or_none()
    if existing is not None:
        return existing
    share = CaseShare(
        id=uuid.uuid4(),
        case_id=case.id,
        district_id=district.id,
        shared_by=principal.user_id,
        reason=stated,
        at=utcnow(),
    )
    session.add(share)
    session.flush()
    _audit(session, principal, "cases.share", case, purpose=stated, district=district.code)
    return share


def unshare_case(
    *, session: Session, principal: Principal, case_id: uuid.UUID, district_id: uuid.UUID, reason: str
) -> None:
    """End a case's share with a district, with the reason (cases.share, a supervisor of its district).

    That district's investigators no longer see the case, but for those on its team (a separate choice).
    """
    case = _sharable(session, principal, case_id)
    stated = _reason(reason, "for ending the share")
    share = session.scalars(
        select(CaseShare).where(CaseShare.case_id == case.id, CaseShare.district_id == district_id)
    ).one_or_none()
    if share is None:
        raise NotFound("the case is not shared with that district")
    district = session.get(District, district_id)
    session.delete(share)
    session.flush()
    _audit(
        session,
        principal,
        "cases.unshare",
        case,
        purpose=stated,
        district=district.code if district else None,
    )


def shares(*, session: Session, case_id: uuid.UUID) -> list[CaseShare]:
    """The case's shares to other districts, oldest first."""
    return list(session.scalars(select(CaseShare).where(CaseShare.case_id == case_id).order_by(CaseShare.at)))


# --- items -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    label: str
    when: dt.datetime | None
    camera_id: uuid.UUID | None = None


def _in_scope(principal: Principal, district_id: uuid.UUID | None, what: str) -> None:
    if not principal.sees_district(district_id):
        raise NotFound(f"no {what} with that id")


def _reference(session: Session, principal: Principal, kind: ItemKind, ref_id: uuid.UUID) -> _Ref:
    """Check the referenced row exists and is within the principal's districts; what the item shows of it."""
    if kind == ItemKind.INCIDENT:
        incident = incidents.get_incident(session=session, principal=principal, incident_id=ref_id)
        return _Ref(f"{incident.number} · {incident.title}"[:200], incident.created_at)
    if kind == ItemKind.EVENT:
        event = session.get(Event, ref_id)
        if event is None:
            raise NotFound("no event with that id")
        _in_scope(principal, event.district_id, "event")
        return _Ref(event.kind.replace("_", " ")[:200], event.occurred_at, event.camera_id)
    if kind == ItemKind.PLATE_SIGHTING:
        principal.require(PLATES_READ)
        sighting = session.get(Sighting, ref_id)
        if sighting is None:
            raise NotFound("no plate read with that id")
        _in_scope(principal, sighting.district_id, "plate read")
        if sighting.hold is None:
            sighting.hold = HOLD
        return _Ref(sighting.plate or "unreadable plate", sighting.seen_at, sighting.camera_id)
    if kind == ItemKind.FACE_MATCH:
        principal.require(FACES_READ)
        match = session.get(FaceMatch, ref_id)
        if match is None:
            raise NotFound("no face match with that id")
        _in_scope(principal, match.district_id, "face match")
        return _Ref(f"face match {match.score:.3f}", match.seen_at, match.camera_id)
    if kind == ItemKind.PERSON:
        person = records.get_person(session=session, principal=principal, person_id=ref_id)
        _in_scope(principal, person.district_id, "person")
        return _Ref(person.name[:200], None)
    if kind == ItemKind.OBJECT_TRACK:
        track = session.get(ObjectTrack, ref_id)
        if track is None:
            raise NotFound("no object track with that id")
        _in_scope(principal, track.district_id, "object track")
        label = " ".join(filter(None, (track.colour, track.class_name)))
        return _Ref(label[:200], track.first_seen, track.camera_id)
    raise InvalidInput(f"unknown item kind {kind}")


def lock_footage(
    *,
    session: Session,
    principal: Principal,
    case: Case,
    camera_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[Camera, int]:
    """Put a camera's recorded segments overlapping [start, end) under evidence lock for the case.

    Segments already locked keep their first lock (and its reason). Returns the camera and how many
    segments the span covers.
    """
    camera = recorder.camera_in_scope(
        session=session, principal=principal, camera_id=camera_id, permission=recorder.PLAYBACK_PERMISSION
    )
    recorder.check_range(start, end, limit=MAX_FOOTAGE)
    if start > utcnow():
        raise InvalidInput("footage of the future is not recorded yet", field="start")
    rows = recorder.segments(session=session, camera_id=camera.id, since=start, until=end)
    fresh = [r.id for r in rows if not r.locked]
    if fresh:
        session.execute(
            update(Recording)
            .where(Recording.id.in_(fresh))
            .values(
                locked=True,
                lock_reason=f"case {case.number}",
                locked_by=principal.user_id,
                locked_at=utcnow(),
            )
        )
    return camera, len(rows)


def add_item(*, session: Session, principal: Principal, case_id: uuid.UUID, data: ItemIn) -> CaseItem:
    """Link something to a case after checking it exists and is in scope; footage is put under evidence lock.

    Adding is an "added" custody line (and, for footage, a "locked" one), each also in the audit log.
    """
    case = _workable(session, principal, case_id)
    reason = " ".join(data.reason.split())
    segments = 0
    if data.kind == ItemKind.RECORDING:
        if data.camera_id is None or data.start is None or data.end is None:
            raise InvalidInput("footage needs its camera, start and end")
        start, end = data.start.astimezone(dt.UTC), data.end.astimezone(dt.UTC)
        camera, segments = lock_footage(
            session=session, principal=principal, case=case, camera_id=data.camera_id, start=start, end=end
        )
        ref = _Ref(camera.name[:200], start, camera.id)
        item = CaseItem(kind=data.kind, ref_id=None, camera_id=camera.id, start=start, end=end)
    else:
        if data.ref_id is None:
            raise InvalidInput("give the id of what to link", field="ref_id")
        ref = _reference(session, principal, data.kind, data.ref_id)
        duplicate = session.scalars(
            select(CaseItem.id).where(
                CaseItem.case_id == case.id, CaseItem.kind == data.kind, CaseItem.ref_id == data.ref_id
            )
        ).first()
        if duplicate is not None:
            raise Conflict("that is already linked to the case", code="already_linked")
        item = CaseItem(kind=data.kind, ref_id=data.ref_id, camera_id=ref.camera_id, start=ref.when, end=None)
    item.id = uuid.uuid4()
    item.case_id = case.id
    item.label = ref.label
    item.added_by = principal.user_id
    item.added_at = utcnow()
    item.reason = reason
    session.add(item)
    session.flush()
    detail: dict[str, Any] = {"kind": data.kind.value, "label": item.label}
    if item.ref_id is not None:
        detail["ref_id"] = str(item.ref_id)
    record_custody(
        session=session,
        case_id=case.id,
        item_id=item.id,
        action=CustodyAction.ADDED,
        principal=principal,
        purpose=reason,
        detail=detail,
    )
    if data.kind == ItemKind.RECORDING and item.start is not None and item.end is not None:
        record_custody(
            session=session,
            case_id=case.id,
            item_id=item.id,
            action=CustodyAction.LOCKED,
            principal=principal,
            purpose=reason,
            detail={
                "camera_id": str(item.camera_id),
                "start": item.start.isoformat(),
                "end": item.end.isoformat(),
                "segments": segments,
            },
        )
    return item


def remove_item(
    *, session: Session, principal: Principal, case_id: uuid.UUID, item_id: uuid.UUID, reason: str
) -> None:
    """Unlink an item (custody "removed"); footage stays under evidence lock until released on its own."""
    case = _workable(session, principal, case_id)
    item = session.get(CaseItem, item_id)
    if item is None or item.case_id != case.id:
        raise NotFound("no such item in the case")
    stated = _reason(reason, "for removing it")
    detail = {"kind": item.kind.value, "label": item.label}
    session.delete(item)
    session.flush()
    record_custody(
        session=session,
        case_id=case.id,
        item_id=item_id,
        action=CustodyAction.REMOVED,
        principal=principal,
        purpose=stated,
        detail=detail,
    )


def list_items(*, session: Session, case_id: uuid.UUID) -> list[CaseItem]:
    """The case's items in the order they were added (no permission check: get the case first)."""
    return list(
        session.scalars(
            select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.added_at, CaseItem.id)
        )
    )


# --- notes and tasks -------------------------------------------------------------------------------------


def add_note(*, session: Session, principal: Principal, case_id: uuid.UUID, text: str) -> CaseNote:
    """Write a note on the case."""
    case = _workable(session, principal, case_id)
    note = CaseNote(
        id=uuid.uuid4(), case_id=case.id, author_id=principal.user_id, text=text.strip(), at=utcnow()
    )
    session.add(note)
    session.flush()
    _audit(session, principal, "cases.note", case)
    return note


def notes(*, session: Session, case_id: uuid.UUID) -> list[CaseNote]:
    """The case's notes, oldest first."""
    return list(session.scalars(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.at)))


def add_task(*, session: Session, principal: Principal, case_id: uuid.UUID, data: TaskIn) -> CaseTask:
    """Add a task to the case, optionally for someone and by a date."""
    case = _workable(session, principal, case_id)
    if data.assignee_id is not None:
        _user(session, data.assignee_id)
    task = CaseTask(
        id=uuid.uuid4(),
        case_id=case.id,
        title=data.title,
        assignee_id=data.assignee_id,
        due=data.due,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(task)
    session.flush()
    _audit(session, principal, "cases.task.add", case, task=task.title)
    return task


def complete_task(
    *, session: Session, principal: Principal, case_id: uuid.UUID, task_id: uuid.UUID
) -> CaseTask:
    """Mark a task of the case done (409 if it already is)."""
    case = _workable(session, principal, case_id)
    task = session.get(CaseTask, task_id)
    if task is None or task.case_id != case.id:
        raise NotFound("no such task in the case")
    if task.done_at is not None:
        raise Conflict("the task is already done")
    task.done_at, task.done_by = utcnow(), principal.user_id
    session.flush()
    _audit(session, principal, "cases.task.done", case, task=task.title)
    return task


def tasks(*, session: Session, case_id: uuid.UUID) -> list[CaseTask]:
    """The case's tasks, open ones first, then in the order they were made."""
    rows = session.scalars(select(CaseTask).where(CaseTask.case_id == case_id).order_by(CaseTask.created_at))
    return sorted(rows, key=lambda t: t.done_at is not None)


# --- the timeline ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a case's timeline: an item at its own time, a note, a task, or a custody action."""

    at: dt.datetime
    kind: str  # item, note, task, task_done, custody
    text: str
    item: CaseItem | None = None


def timeline(*, session: Session, case: Case) -> list[TimelineEntry]:
    """Items (at the moment they happened), notes, tasks and custody actions, merged in time order."""
    case_notes = notes(session=session, case_id=case.id)
    case_tasks = tasks(session=session, case_id=case.id)
    names = usernames(
        session=session,
        user_ids={case.created_by} | {n.author_id for n in case_notes} | {t.done_by for t in case_tasks},
    )

    def who(user_id: uuid.UUID | None) -> str:
        return names.get(user_id, "—") if user_id else "system"

    entries: list[TimelineEntry] = [
        TimelineEntry(
            item.start or item.added_at, "item", f"{item.kind.value.replace('_', ' ')}: {item.label}", item
        )
        for item in list_items(session=session, case_id=case.id)
    ]
    entries.append(
        TimelineEntry(case.created_at, "case", f"case {case.number} opened by {who(case.created_by)}")
    )
    entries += [TimelineEntry(n.at, "note", f"{who(n.author_id)}: {n.text}") for n in case_notes]
    for task in case_tasks:
        entries.append(TimelineEntry(task.created_at, "task", f"task: {task.title}"))
        if task.done_at is not None:
            entries.append(
                TimelineEntry(task.done_at, "task_done", f"task done by {who(task.done_by)}: {task.title}")
            )
    entries += [
        TimelineEntry(
            line.at,
            "custody",
            f"{line.username} {line.action.value}" + (f" — {line.purpose}" if line.purpose else ""),
        )
        for line in custody(session=session, case_id=case.id)
    ]
    if case.closed_at is not None:
        entries.append(TimelineEntry(case.closed_at, "case", f"case {case.number} closed"))
    return sorted(entries, key=lambda e: e.at)


def usernames(*, session: Session, user_ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Usernames of these users, for display."""
    ids = {u for u in user_ids if u is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {row.id: row.username for row in rows}
