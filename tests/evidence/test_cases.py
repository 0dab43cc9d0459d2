"""Investigation cases: numbers, team, sharing across districts (404 without the right), items with the
evidence lock on footage (which retention then keeps), custody log, timeline, API and pages.

The footage is real CCTV video (opencv-doc's vtest.avi) encoded with PyAV and cut by the recorder into
2-second segments, as a camera's worker records it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conftest import Factory, add_camera, record
from safecity.analytics.plates.models import Sighting
from safecity.audit.models import AuditEntry
from safecity.auth.models import User
from safecity.auth.principal import Principal
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from safecity.events.models import Event
from safecity.evidence import service
from safecity.evidence.models import Case, CaseCounter, CaseCustody, CaseItem, CustodyAction, ItemKind
from safecity.evidence.schemas import CaseIn, CaseUpdate, ItemIn, TaskIn
from safecity.forensics.models import ObjectTrack
from safecity.incidents import service as incidents
from safecity.incidents.models import Category
from safecity.incidents.schemas import IncidentIn
from safecity.org.models import District
from safecity.video import retention
from safecity.video.models import Recording
from safecity.web.pages import TEMPLATES

T0 = dt.datetime(2025, 11, 22, 5, 0, 0, tzinfo=dt.UTC)


@dataclass
class Desk:
    """Districts A and B; investigators in each, a supervisor in A and in B, an operator in A."""

    a: District
    b: District
    lead: User
    investigator_a: Principal
    investigator_b: Principal
    investigator_b_user: User
    supervisor_a: Principal
    supervisor_b: Principal
    operator_a: Principal


@pytest.fixture
def desk(factory: Factory) -> Desk:
    a, b = factory.district(), factory.district()
    lead = factory.user("investigator", districts=[a])
    other = factory.user("investigator", districts=[b])
    return Desk(
        a,
        b,
        lead,
        factory.principal(lead),
        factory.principal(other),
        other,
        factory.principal(factory.user("supervisor", districts=[a])),
        factory.principal(factory.user("supervisor", districts=[b])),
        factory.principal(factory.user("operator", districts=[a])),
    )


def _open(session: Session, principal: Principal, title: str = "Snatching at Saddar") -> Case:
    return service.create_case(session=session, principal=principal, data=CaseIn(title=title))


def _event(session: Session, district: District, camera: Camera | None, at: dt.datetime) -> Event:
    event = Event(
        id=uuid.uuid4(),
        occurred_at=at,
        kind="line_crossing",
        source="test",
        district_id=district.id,
        camera_id=camera.id if camera else None,
        severity=1,
        payload={},
    )
    session.add(event)
    session.flush()
    return event


# --- numbers and visibility ------------------------------------------------------------------------------


def test_numbers_are_sequential_per_district_and_year(session: Session, desk: Desk) -> None:
    year = dt.datetime.now(dt.UTC).year
    first, second = _open(session, desk.investigator_a), _open(session, desk.investigator_a, "Second")
    other = _open(session, desk.investigator_b)
    assert first.number == f"{desk.a.code}-CASE-{year}-000001"
    assert second.number == f"{desk.a.code}-CASE-{year}-000002"
    assert other.number == f"{desk.b.code}-CASE-{year}-000001"
    counter = session.get(CaseCounter, (desk.a.id, year))
    assert counter is not None and counter.last == 2
    assert first.lead_id == desk.lead.id and first.status.value == "open"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.create")).first()
    assert entry is not None and entry.detail["number"] == first.number


def test_only_investigators_open_cases_and_only_in_their_districts(session: Session, desk: Desk) -> None:
    with pytest.raises(PermissionDenied):
        _open(session, desk.operator_a)
    with pytest.raises(PermissionDenied):
        service.create_case(
            session=session,
            principal=desk.investigator_a,
            data=CaseIn(title="Elsewhere", district_id=desk.b.id),
        )


def test_a_case_is_hidden_from_other_districts_and_from_those_without_the_right(
    session: Session, desk: Desk
) -> None:
    case = _open(session, desk.investigator_a)
    for outsider in (desk.investigator_b, desk.operator_a, desk.supervisor_b):
        with pytest.raises(NotFound):
            service.get_case(session=session, principal=outsider, case_id=case.id)
        assert case not in service.list_cases(session=session, principal=outsider)
    assert service.get_case(session=session, principal=desk.supervisor_a, case_id=case.id) is case
    assert service.list_cases(session=session, principal=desk.investigator_a) == [case]


def test_a_team_member_of_another_district_sees_and_works_the_case(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    with pytest.raises(NotFound):
        service.add_note(session=session, principal=desk.investigator_b, case_id=case.id, text="mine?")
    service.add_member(
        session=session, principal=desk.investigator_a, case_id=case.id, user_id=desk.investigator_b_user.id
    )
    assert service.get_case(session=session, principal=desk.investigator_b, case_id=case.id) is case
    assert case in service.list_cases(session=session, principal=desk.investigator_b, mine=True)
    service.add_note(session=session, principal=desk.investigator_b, case_id=case.id, text="Seen in B too")
    team = {m.user_id for m in service.members(session=session, case_id=case.id)}
    assert team == {desk.lead.id, desk.investigator_b_user.id}


def test_a_supervisor_shares_a_case_with_another_district(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    with pytest.raises(PermissionDenied):  # an investigator holds no cases.share
        service.share_case(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            district_id=desk.b.id,
            reason="x y z",
        )
    with pytest.raises(NotFound):  # B's supervisor cannot even see A's case
        service.share_case(
            session=session,
            principal=desk.supervisor_b,
            case_id=case.id,
            district_id=desk.b.id,
            reason="mine",
        )
    with pytest.raises(NotFound):
        service.get_case(session=session, principal=desk.investigator_b, case_id=case.id)

    share = service.share_case(
        session=session,
        principal=desk.supervisor_a,
        case_id=case.id,
        district_id=desk.b.id,
        reason="suspects crossed into B",
    )
    assert share.shared_by == desk.supervisor_a.user_id
    assert service.get_case(session=session, principal=desk.investigator_b, case_id=case.id) is case
    assert case in service.list_cases(session=session, principal=desk.investigator_b)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.share")).one()
    assert entry.purpose == "suspects crossed into B" and entry.detail["district"] == desk.b.code
    with pytest.raises(InvalidInput):
        service.share_case(
            session=session, principal=desk.supervisor_a, case_id=case.id, district_id=desk.a.id, reason="own"
        )


def test_the_lead_changes_title_summary_and_lead_and_the_audit_keeps_what_they_were(
    session: Session, desk: Desk, factory: Factory
) -> None:
    case = _open(session, desk.investigator_a, "Snatching")
    successor = factory.user("investigator", districts=[desk.b])
    service.add_member(
        session=session, principal=desk.investigator_a, case_id=case.id, user_id=desk.investigator_b_user.id
    )
    with pytest.raises(PermissionDenied):  # on the team, but neither its lead nor of its district
        service.update_case(
            session=session, principal=desk.investigator_b, case_id=case.id, data=CaseUpdate(title="Mine now")
        )
    with pytest.raises(NotFound):
        service.update_case(
            session=session, principal=desk.operator_a, case_id=case.id, data=CaseUpdate(title="Mine now")
        )
    with pytest.raises(ValueError):
        CaseUpdate()

    service.update_case(
        session=session,
        principal=desk.investigator_a,
        case_id=case.id,
        data=CaseUpdate(title="Snatching ring at Saddar", summary="Three bikes", lead_id=successor.id),
    )
    assert (case.title, case.summary, case.lead_id) == (
        "Snatching ring at Saddar",
        "Three bikes",
        successor.id,
    )
    team = {m.user_id for m in service.members(session=session, case_id=case.id)}
    assert team == {desk.lead.id, desk.investigator_b_user.id, successor.id}  # the old lead stays on it
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.update")).one()
    assert entry.detail["changed"]["title"] == {"from": "Snatching", "to": "Snatching ring at Saddar"}
    assert entry.detail["changed"]["lead"] == {"from": str(desk.lead.id), "to": str(successor.id)}
    service.update_case(  # the same values again: nothing changed, nothing audited
        session=session,
        principal=desk.investigator_a,
        case_id=case.id,
        data=CaseUpdate(summary="Three bikes"),
    )
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.update")).all()) == 1

    service.close_case(session=session, principal=desk.investigator_a, case_id=case.id, reason="solved")
    with pytest.raises(Conflict):
        service.update_case(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=CaseUpdate(title="Reopened?"),
        )


def test_a_member_taken_off_the_team_no_longer_sees_the_case(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    b = desk.investigator_b_user.id
    service.add_member(session=session, principal=desk.investigator_a, case_id=case.id, user_id=b)
    with pytest.raises(InvalidInput):
        service.remove_member(
            session=session, principal=desk.investigator_a, case_id=case.id, user_id=b, reason=""
        )
    with pytest.raises(Conflict):  # the lead stays until another is named
        service.remove_member(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            user_id=desk.lead.id,
            reason="gone",
        )
    with pytest.raises(PermissionDenied):  # a member takes only themselves off
        service.remove_member(
            session=session,
            principal=desk.investigator_b,
            case_id=case.id,
            user_id=desk.lead.id,
            reason="coup",
        )

    service.remove_member(
        session=session,
        principal=desk.investigator_a,
        case_id=case.id,
        user_id=b,
        reason="transferred to CTD",
    )
    with pytest.raises(NotFound):
        service.get_case(session=session, principal=desk.investigator_b, case_id=case.id)
    assert case not in service.list_cases(session=session, principal=desk.investigator_b, mine=True)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.member.remove")).one()
    assert entry.purpose == "transferred to CTD" and entry.detail["user_id"] == str(b)
    with pytest.raises(NotFound):
        service.remove_member(
            session=session, principal=desk.investigator_a, case_id=case.id, user_id=b, reason="again"
        )

    service.add_member(session=session, principal=desk.investigator_a, case_id=case.id, user_id=b)
    service.remove_member(  # anyone may leave a team
        session=session, principal=desk.investigator_b, case_id=case.id, user_id=b, reason="not my case"
    )
    assert {m.user_id for m in service.members(session=session, case_id=case.id)} == {desk.lead.id}


def test_a_supervisor_ends_a_share_and_the_other_district_no_longer_sees_the_case(
    session: Session, desk: Desk
) -> None:
    case = _open(session, desk.investigator_a)
    service.share_case(
        session=session, principal=desk.supervisor_a, case_id=case.id, district_id=desk.b.id, reason="crossed"
    )
    assert service.get_case(session=session, principal=desk.investigator_b, case_id=case.id) is case
    with pytest.raises(PermissionDenied):  # an investigator holds no cases.share
        service.unshare_case(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            district_id=desk.b.id,
            reason="x y",
        )
    with pytest.raises(PermissionDenied):  # B's supervisor sees it through the share, but it is not theirs
        service.unshare_case(
            session=session,
            principal=desk.supervisor_b,
            case_id=case.id,
            district_id=desk.b.id,
            reason="ours",
        )
    service.unshare_case(
        session=session,
        principal=desk.supervisor_a,
        case_id=case.id,
        district_id=desk.b.id,
        reason="arrests made",
    )
    with pytest.raises(NotFound):
        service.get_case(session=session, principal=desk.investigator_b, case_id=case.id)
    assert service.shares(session=session, case_id=case.id) == []
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "cases.unshare")).one()
    assert entry.purpose == "arrests made" and entry.detail["district"] == desk.b.code
    with pytest.raises(NotFound):
        service.unshare_case(
            session=session,
            principal=desk.supervisor_a,
            case_id=case.id,
            district_id=desk.b.id,
            reason="again",
        )


# --- items, evidence lock and custody --------------------------------------------------------------------


def test_footage_added_to_a_case_is_locked_and_retention_keeps_it(
    session: Session, desk: Desk, footage: Path, tmp_path: Path
) -> None:
    camera = add_camera(session, desk.a.id)
    infos = record(session, camera, tmp_path, footage, T0)
    assert len(infos) == 4
    case = _open(session, desk.investigator_a)
    item = service.add_item(
        session=session,
        principal=desk.investigator_a,
        case_id=case.id,
        data=ItemIn(
            kind=ItemKind.RECORDING,
            camera_id=camera.id,
            start=T0 + dt.timedelta(seconds=1),
            end=T0 + dt.timedelta(seconds=3),
            reason="the snatching",
        ),
    )
    assert (item.camera_id, item.start, item.end) == (
        camera.id,
        T0 + dt.timedelta(seconds=1),
        T0 + dt.timedelta(seconds=3),
    )
    rows = {r.path: r for r in session.scalars(select(Recording).where(Recording.camera_id == camera.id))}
    locked = {path for path, r in rows.items() if r.locked}
    assert locked == {infos[0].path, infos[1].path}
    first = rows[infos[0].path]
    assert first.lock_reason == f"case {case.number}" and first.locked_by == desk.lead.id and first.locked_at

    lines = service.custody(session=session, case_id=case.id)
    assert [(line.action, line.item_id) for line in lines] == [
        (CustodyAction.ADDED, item.id),
        (CustodyAction.LOCKED, item.id),
    ]
    assert lines[1].detail["segments"] == 2 and lines[0].purpose == "the snatching"

    # Far over quota: every unlocked segment goes, the case's footage stays on disk and in the index.
    report = retention.enforce(
        session=session, recordings_dir=tmp_path, quota_bytes=1000, now=T0 + dt.timedelta(hours=1)
    )
    assert report.evicted == 2 and report.recording_must_stop
    kept = set(session.scalars(select(Recording.path).where(Recording.camera_id == camera.id)))
    assert kept == locked
    assert all((tmp_path / path).exists() for path in locked)

    # Removing the item leaves the lock: releasing footage is a decision of its own.
    service.remove_item(
        session=session,
        principal=desk.investigator_a,
        case_id=case.id,
        item_id=item.id,
        reason="wrong camera",
    )
    assert all(r.locked for r in session.scalars(select(Recording).where(Recording.camera_id == camera.id)))
    assert service.custody(session=session, case_id=case.id)[-1].action == CustodyAction.REMOVED


def test_footage_needs_playback_of_a_camera_in_scope(session: Session, desk: Desk) -> None:
    camera_b = add_camera(session, desk.b.id)
    case = _open(session, desk.investigator_a)
    with pytest.raises(NotFound):
        service.add_item(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=ItemIn(
                kind=ItemKind.RECORDING,
                camera_id=camera_b.id,
                start=T0,
                end=T0 + dt.timedelta(minutes=1),
                reason="camera of B",
            ),
        )


def test_items_are_checked_to_exist_within_scope_and_each_is_in_the_custody_log(
    session: Session, desk: Desk
) -> None:
    camera = add_camera(session, desk.a.id)
    event = _event(session, desk.a, camera, T0)
    event_b = _event(session, desk.b, None, T0)
    incident = incidents.create_incident(
        session=session,
        principal=desk.operator_a,
        data=IncidentIn(category=Category.STREET_CRIME, description="Phone snatched"),
    )
    case = _open(session, desk.investigator_a)
    added = [
        service.add_item(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=ItemIn(kind=kind, ref_id=ref, reason="seen on the route"),
        )
        for kind, ref in ((ItemKind.EVENT, event.id), (ItemKind.INCIDENT, incident.id))
    ]
    assert added[0].start == T0 and added[0].camera_id == camera.id and added[0].label == "line crossing"
    assert added[1].label.startswith(incident.number)
    for kind, ref in ((ItemKind.EVENT, event_b.id), (ItemKind.PLATE_SIGHTING, uuid.uuid4())):
        with pytest.raises(NotFound):
            service.add_item(
                session=session,
                principal=desk.investigator_a,
                case_id=case.id,
                data=ItemIn(kind=kind, ref_id=ref, reason="not ours"),
            )
    with pytest.raises(Conflict):
        service.add_item(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=ItemIn(kind=ItemKind.EVENT, ref_id=event.id, reason="again"),
        )
    assert [i.id for i in service.list_items(session=session, case_id=case.id)] == [i.id for i in added]
    lines = service.custody(session=session, case_id=case.id)
    assert [(line.action, line.item_id, line.username) for line in lines] == [
        (CustodyAction.ADDED, added[0].id, desk.investigator_a.username),
        (CustodyAction.ADDED, added[1].id, desk.investigator_a.username),
    ]
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "evidence.added", AuditEntry.object_id == str(case.id))
    ).all()
    assert len(audited) == 2 and {a.purpose for a in audited} == {"seen on the route"}


def test_reading_a_case_needs_a_purpose_and_is_a_custody_line(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    with pytest.raises(InvalidInput):
        service.view_case(session=session, principal=desk.investigator_a, case_id=case.id, purpose=" ")
    with pytest.raises(NotFound):
        service.view_case(session=session, principal=desk.investigator_b, case_id=case.id, purpose="curious")
    service.view_case(session=session, principal=desk.supervisor_a, case_id=case.id, purpose="weekly review")
    (line,) = service.custody(session=session, case_id=case.id)
    assert (line.action, line.item_id, line.user_id, line.purpose) == (
        CustodyAction.VIEWED,
        None,
        desk.supervisor_a.user_id,
        "weekly review",
    )
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "evidence.viewed")).one()
    assert entry.purpose == "weekly review" and entry.object_id == str(case.id)


def test_the_custody_log_cannot_be_rewritten(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    service.view_case(session=session, principal=desk.investigator_a, case_id=case.id, purpose="look")
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(update(CaseCustody).where(CaseCustody.case_id == case.id).values(purpose="nothing"))
    assert service.custody(session=session, case_id=case.id)[0].purpose == "look"


def test_the_timeline_merges_items_at_their_own_time_notes_tasks_and_custody(
    session: Session, desk: Desk
) -> None:
    camera = add_camera(session, desk.a.id)
    early, later = (
        _event(session, desk.a, camera, T0),
        _event(session, desk.a, camera, T0 + dt.timedelta(hours=2)),
    )
    case = _open(session, desk.investigator_a)
    for event in (later, early):  # added out of order: the timeline orders them by when they happened
        service.add_item(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=ItemIn(kind=ItemKind.EVENT, ref_id=event.id, reason="on the route"),
        )
    service.add_note(
        session=session, principal=desk.investigator_a, case_id=case.id, text="Ask the shopkeeper"
    )
    task = service.add_task(
        session=session, principal=desk.investigator_a, case_id=case.id, data=TaskIn(title="Get the CDR")
    )
    service.complete_task(session=session, principal=desk.investigator_a, case_id=case.id, task_id=task.id)
    with pytest.raises(Conflict):
        service.complete_task(
            session=session, principal=desk.investigator_a, case_id=case.id, task_id=task.id
        )
    entries = service.timeline(session=session, case=case)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    kinds = [e.kind for e in entries]
    assert kinds[:3] == ["item", "item", "case"], "the events happened before the case was opened"
    assert entries[0].item is not None and entries[0].item.ref_id == early.id
    assert {"note", "task", "task_done", "custody"} <= set(kinds)
    assert kinds.index("task") < kinds.index("task_done")


def test_a_closed_case_takes_no_more_items(session: Session, desk: Desk) -> None:
    case = _open(session, desk.investigator_a)
    service.close_case(session=session, principal=desk.investigator_a, case_id=case.id, reason="charged")
    assert case.status.value == "closed" and case.closed_at is not None
    with pytest.raises(Conflict):
        service.add_note(session=session, principal=desk.investigator_a, case_id=case.id, text="late")


# --- API and pages ---------------------------------------------------------------------------------------


def test_api_opens_reads_and_hides_cases(
    session: Session, desk: Desk, factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    other = factory.user("investigator", districts=[desk.b])
    lead = login_as(desk.lead)
    made = lead.post("/api/v1/cases", json={"title": "Motorbike theft ring", "summary": "Three bikes"})
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    assert made.json()["number"].startswith(f"{desk.a.code}-CASE-")
    assert lead.get(f"/api/v1/cases/{case_id}").status_code == 422  # no purpose
    read = lead.get(f"/api/v1/cases/{case_id}", params={"purpose": "case review"})
    assert read.status_code == 200, read.text
    body = read.json()
    assert [c["action"] for c in body["custody"]] == ["viewed"] and body["members"]
    note = lead.post(f"/api/v1/cases/{case_id}/notes", json={"text": "First lead"})
    assert note.status_code == 201
    assert [c["id"] for c in lead.get("/api/v1/cases", params={"mine": True}).json()] == [case_id]

    outsider = login_as(other)
    assert outsider.get(f"/api/v1/cases/{case_id}", params={"purpose": "curious"}).status_code == 404
    assert outsider.post(f"/api/v1/cases/{case_id}/notes", json={"text": "x"}).status_code == 404
    assert outsider.get("/api/v1/cases").json() == []


def test_pages_render_for_the_lead_and_take_items_from_forms(
    session: Session, desk: Desk, login_as: Callable[[User], TestClient]
) -> None:
    camera = add_camera(session, desk.a.id)
    event = _event(session, desk.a, camera, T0)
    case = _open(session, desk.investigator_a, "Chowk robbery")
    client = login_as(desk.lead)
    listing = client.get("/cases")
    assert listing.status_code == 200 and case.number in listing.text
    assert client.get("/cases/new").status_code == 200
    asked = client.get(f"/cases/{case.id}")
    assert asked.status_code == 200 and 'data-testid="purpose-form"' in asked.text

    added = client.post(
        f"/cases/{case.id}/items",
        data={
            "kind": "event",
            "ref_id": str(event.id),
            "reason": "crossing at the chowk",
            "purpose": "review",
        },
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 204, added.text
    assert added.headers["HX-Redirect"] == f"/cases/{case.id}?purpose=review"
    page = client.get(f"/cases/{case.id}", params={"purpose": "review"})
    assert page.status_code == 200
    for text in (
        case.number,
        "crossing at the chowk",
        'data-testid="case-timeline"',
        'data-testid="custody"',
    ):
        assert text in page.text
    assert f'href="/cameras/{camera.id}?at=2025-11-22T05%3A00%3A00Z#playback"' in page.text

    made = client.post("/cases/new", data={"title": "Page-made case"}, headers={"HX-Request": "true"})
    assert made.status_code == 204 and made.headers["HX-Redirect"].startswith("/cases/")


def test_the_api_and_the_page_change_a_case_its_team_and_its_shares(
    session: Session, desk: Desk, factory: Factory, login_as: Callable[[User], TestClient]
) -> None:
    case = _open(session, desk.investigator_a, "Chowk robbery")
    b = desk.investigator_b_user
    service.add_member(session=session, principal=desk.investigator_a, case_id=case.id, user_id=b.id)
    supervisor = factory.user("supervisor", districts=[desk.a])
    service.share_case(
        session=session,
        principal=factory.principal(supervisor),
        case_id=case.id,
        district_id=desk.b.id,
        reason="crossed",
    )
    lead = login_as(desk.lead)
    changed = lead.patch(f"/api/v1/cases/{case.id}", json={"title": "Chowk robbery, two suspects"})
    assert changed.status_code == 200 and changed.json()["title"] == "Chowk robbery, two suspects"
    assert lead.patch(f"/api/v1/cases/{case.id}", json={}).status_code == 422
    assert (
        lead.delete(f"/api/v1/cases/{case.id}/shares/{desk.b.id}", params={"reason": "done"}).status_code
        == 403
    )
    assert (
        lead.delete(f"/api/v1/cases/{case.id}/members/{uuid.uuid4()}", params={"reason": "who"}).status_code
        == 404
    )

    page = lead.get(f"/cases/{case.id}", params={"purpose": "review"})
    assert 'data-testid="edit-case"' in page.text and "Take off the team" in page.text
    assert "Stop sharing" not in page.text  # the lead holds no cases.share
    htmx = {"HX-Request": "true"}
    edited = lead.post(
        f"/cases/{case.id}/edit",
        data={
            "title": "Chowk robbery ring",
            "summary": "Two suspects on a bike",
            "lead": b.username,
            "purpose": "review",
        },
        headers=htmx,
    )
    assert edited.status_code == 204, edited.text
    assert edited.headers["HX-Redirect"] == f"/cases/{case.id}?purpose=review"
    session.refresh(case)
    assert (case.title, case.summary, case.lead_id) == ("Chowk robbery ring", "Two suspects on a bike", b.id)
    refused = lead.post(f"/cases/{case.id}/members/{b.id}/remove", data={"reason": "x y z"}, headers=htmx)
    assert "name another lead first" in refused.text  # b leads now; the refusal is shown, nothing undone
    session.refresh(case)
    assert case.lead_id == b.id
    removed = lead.post(
        f"/cases/{case.id}/members/{desk.lead.id}/remove", data={"reason": "handed over"}, headers=htmx
    )
    assert removed.status_code == 204 and removed.headers["HX-Redirect"] == "/cases"  # left the team
    assert {m.user_id for m in service.members(session=session, case_id=case.id)} == {b.id}

    boss = login_as(supervisor)
    assert "Stop sharing" in boss.get(f"/cases/{case.id}", params={"purpose": "review"}).text
    ended = boss.post(
        f"/cases/{case.id}/shares/{desk.b.id}/remove",
        data={"reason": "arrests made", "purpose": "review"},
        headers=htmx,
    )
    assert ended.status_code == 204, ended.text
    assert service.shares(session=session, case_id=case.id) == []


def test_other_pages_add_footage_to_a_case_through_the_add_to_case_form(
    session: Session, desk: Desk, footage: Path, settings: Settings, login_as: Callable[[User], TestClient]
) -> None:
    camera = add_camera(session, desk.a.id)
    infos = record(session, camera, settings.recordings_dir, footage, T0)
    case = _open(session, desk.investigator_a, "Bank robbery")
    closed = _open(session, desk.investigator_a, "Old case")
    service.close_case(session=session, principal=desk.investigator_a, case_id=closed.id, reason="solved")
    assert service.workable_cases(session=session, principal=desk.investigator_a) == [case]
    assert service.workable_cases(session=session, principal=desk.investigator_b) == []

    partial = TEMPLATES.get_template("evidence/_add_to_case.html").render(
        lang="en",
        add_to_cases=[case],
        kind="recording",
        camera_id=camera.id,
        start=T0.isoformat(),
        end=(T0 + dt.timedelta(seconds=1)).isoformat(),
    )
    assert 'hx-post="/cases/items"' in partial and case.number in partial and closed.number not in partial

    client = login_as(desk.lead)
    # The times as the form of a page in Peshawar sends them: local, without a zone (05:00 UTC = 10:00 PKT).
    added = client.post(
        "/cases/items",
        data={
            "case_id": str(case.id),
            "kind": "recording",
            "camera_id": str(camera.id),
            "start": "2025-11-22T10:00:00",
            "end": "2025-11-22T10:00:01",
            "reason": "the robbers leaving",
        },
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 204, added.text
    (item,) = service.list_items(session=session, case_id=case.id)
    assert (item.kind, item.start, item.end) == (ItemKind.RECORDING, T0, T0 + dt.timedelta(seconds=1))
    session.expire_all()
    first = session.scalars(select(Recording).where(Recording.path == infos[0].path)).one()
    assert first.locked and first.lock_reason == f"case {case.number}"
    page = client.get(f"/cases/{case.id}", params={"purpose": "review"})
    assert f'href="/cameras/{camera.id}?at=2025-11-22T05%3A00%3A00Z#playback"' in page.text
    assert "under evidence lock" in page.text

    refused = client.post(
        "/cases/items",
        data={"case_id": str(closed.id), "kind": "recording", "camera_id": str(camera.id), "reason": "late"},
        headers={"HX-Request": "true"},
    )
    assert refused.headers.get("HX-Retarget") == "#flash" and "camera, start and end" in refused.text


def test_an_export_is_recorded_in_custody_and_audit_whatever_its_detail(session: Session, desk: Desk) -> None:
    """As the evidence-package exporter records one: a large detail stays whole in the custody line."""
    case = _open(session, desk.investigator_a)
    files = {f"clip-{n}.mp4": "ab" * 32 for n in range(60)}  # a manifest far over the audit entry's limit
    line = service.record_custody(
        session=session,
        case_id=case.id,
        item_id=None,
        action="exported",
        principal=desk.investigator_a,
        purpose="  court   hearing 12 Dec ",
        detail={"purpose": "clashes with nothing", "files": files},
    )
    assert line.action == CustodyAction.EXPORTED and line.purpose == "court hearing 12 Dec"
    assert service.custody(session=session, case_id=case.id)[-1].detail["files"] == files
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "evidence.exported")).one()
    assert entry.purpose == "court hearing 12 Dec" and entry.detail["custody_id"] == str(line.id)
    assert "detail" not in entry.detail
    small = service.record_custody(
        session=session,
        case_id=case.id,
        item_id=None,
        action=CustodyAction.DOWNLOADED,
        principal=desk.investigator_a,
        purpose="defence copy",
        detail={"package": "p.zip"},
    )
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "evidence.downloaded")).one()
    assert entry.detail["detail"] == {"package": "p.zip"} and entry.detail["custody_id"] == str(small.id)
    with pytest.raises(ValueError, match="not a valid"):
        service.record_custody(
            session=session,
            case_id=case.id,
            item_id=None,
            action="shredded",
            principal=desk.investigator_a,
            purpose="no",
        )


def test_plate_reads_and_object_tracks_join_a_case_and_the_read_is_held(session: Session, desk: Desk) -> None:
    camera, camera_b = add_camera(session, desk.a.id), add_camera(session, desk.b.id)

    def sighting(cam: Camera, district: District) -> Sighting:
        row = Sighting(
            camera_id=cam.id,
            district_id=district.id,
            seen_at=T0,
            first_seen=T0,
            last_seen=T0,
            plate="LEA1234",
            folded="LEA1234",
            folded_rev="4321AEL",
            confidence=0.97,
            layout="pk-private",
            jurisdiction="PB",
        )
        session.add(row)
        session.flush()
        return row

    read, read_b = sighting(camera, desk.a), sighting(camera_b, desk.b)
    track = ObjectTrack(
        id=uuid.uuid4(),
        camera_id=camera.id,
        district_id=desk.a.id,
        track_id=7,
        class_name="motorcycle",
        colour="red",
        first_seen=T0 + dt.timedelta(minutes=5),
        last_seen=T0 + dt.timedelta(minutes=6),
        path=[[0, 0.1, 0.1, 0.2, 0.2]],
        frame_width=320,
        frame_height=240,
    )
    session.add(track)
    session.flush()
    case = _open(session, desk.investigator_a)

    def add(kind: ItemKind, ref: uuid.UUID) -> CaseItem:
        return service.add_item(
            session=session,
            principal=desk.investigator_a,
            case_id=case.id,
            data=ItemIn(kind=kind, ref_id=ref, reason="the getaway bike"),
        )

    plate_item, track_item = add(ItemKind.PLATE_SIGHTING, read.id), add(ItemKind.OBJECT_TRACK, track.id)
    assert (plate_item.label, plate_item.start, plate_item.camera_id) == ("LEA1234", T0, camera.id)
    assert read.hold == service.HOLD, "a plate read of a case outlives the plate retention period"
    assert (track_item.label, track_item.start) == ("red motorcycle", track.first_seen)
    with pytest.raises(NotFound):
        add(ItemKind.PLATE_SIGHTING, read_b.id)
    assert read_b.hold is None
