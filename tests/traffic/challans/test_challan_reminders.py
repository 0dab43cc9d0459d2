"""After issue: one reminder before the due date, the overdue mark and notice after it (each once, however
often the sweep runs), and the unpaid-challans hotlist: a plate goes on it at the threshold of unpaid
challans (fines.toml) and comes off when it drops below.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from challan_data import OWNER, confirmed_violation, mail_server, sms_gateway, with_delivery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry, ListKind
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.traffic.challans import flows
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, ChallanStatus, Channel

T0 = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)  # issued 15:00 in Peshawar; due 15 March, 23:59:59 there


def test_one_reminder_then_overdue_with_its_notice(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, settings: Settings
) -> None:
    challans.ensure_fines(session=session)
    violation = confirmed_violation(
        session, settings, factory.district("PSW"), occurred_at=T0 - dt.timedelta(hours=5)
    )
    challan, _ = challans.issue(session=session, settings=settings, violation_id=violation.id, now=T0)
    session.commit()
    with mail_server() as box, sms_gateway() as sms:
        live = with_delivery(settings, box, sms)

        def sweep(at: dt.datetime) -> flows.SweepReport:
            return asyncio.run(flows.sweep(session_factory=session_factory, settings=live, now=at))

        first = sweep(T0 + dt.timedelta(hours=1))  # the PDF was never made: made now, and sent
        assert first.documents == [challan.number] and not first.reminded and not first.overdue
        assert [m["text"][:9] for m in sms.messages] == ["E-challan"]
        assert not sweep(dt.datetime(2026, 3, 10, tzinfo=dt.UTC)).reminded  # too early
        reminded = sweep(dt.datetime(2026, 3, 13, 10, tzinfo=dt.UTC))  # within 3 days of the due date
        assert reminded.reminded == [challan.number]
        assert sms.messages[-1]["text"].startswith(f"Reminder: e-challan {challan.number}")
        assert "15 Mar 2026" in sms.messages[-1]["text"]
        assert box.messages[-1]["Subject"] == f"Reminder: e-challan {challan.number} is due 15 Mar 2026"
        assert not sweep(dt.datetime(2026, 3, 14, 10, tzinfo=dt.UTC)).reminded  # once only
        assert not sweep(dt.datetime(2026, 3, 15, 18, 59, tzinfo=dt.UTC)).overdue  # 23:59 on the due day
        overdue = sweep(dt.datetime(2026, 3, 15, 19, 0, 1, tzinfo=dt.UTC))  # 00:00:01 on 16 March
        assert overdue.overdue == [challan.number]
        assert "is unpaid" in sms.messages[-1]["text"] and box.messages[-1]["Subject"].startswith("Overdue")
        assert not sweep(dt.datetime(2026, 3, 20, tzinfo=dt.UTC)).overdue
        assert (len(sms.messages), len(box.messages)) == (3, 3)
    session.expire_all()
    stored = session.get(Challan, challan.id)
    assert stored is not None
    assert (stored.status, stored.reminders_sent) == (ChallanStatus.OVERDUE, 1)
    assert stored.last_reminder_at == dt.datetime(2026, 3, 13, 10, tzinfo=dt.UTC)
    sent = [(d.purpose, d.channel, d.ok) for d in challans.deliveries(session=session, challan_id=challan.id)]
    assert sorted(sent) == sorted(
        (purpose, channel, True)
        for purpose in ("challan", "reminder", "overdue")
        for channel in (Channel.SMS, Channel.EMAIL)
    )
    marked = session.scalars(select(AuditEntry).where(AuditEntry.action == "challans.overdue")).all()
    assert [e.object_id for e in marked] == [str(challan.id)]


def _issue(session: Session, settings: Settings, factory: Factory, plate: str, n: int) -> list[Challan]:
    district = factory.district("PSW")
    issued = []
    for _ in range(n):
        violation = confirmed_violation(session, settings, district, plate=plate)
        issued.append(challans.issue(session=session, settings=settings, violation_id=violation.id)[0])
    return issued


def test_the_unpaid_hotlist_follows_the_threshold(
    session: Session, session_factory: sessionmaker[Session], factory: Factory, settings: Settings
) -> None:
    challans.ensure_fines(session=session)
    threshold = challans.unpaid_hotlist_threshold()
    assert threshold == 10  # fines.toml
    heavy = _issue(session, settings, factory, "MNO123", threshold - 1)
    heavy[0].status = ChallanStatus.OVERDUE  # overdue counts as unpaid too
    _issue(session, settings, factory, "XYZ9", 2)
    session.commit()
    assert flows.sync_unpaid_hotlist(session=session) == ([], [])
    assert session.scalars(select(Hotlist).where(Hotlist.kind == ListKind.UNPAID_CHALLANS)).all() == []

    # The tenth challan, through the issuing flow: the plate goes on the list at once.
    tenth = confirmed_violation(session, settings, factory.district("PSW"), plate="MNO123")
    session.commit()
    challan, created = asyncio.run(
        flows.issue_and_send(session_factory=session_factory, settings=settings, violation_id=tenth.id)
    )
    assert created
    session.expire_all()
    (hotlist,) = session.scalars(select(Hotlist).where(Hotlist.kind == ListKind.UNPAID_CHALLANS)).all()
    assert hotlist.province_wide and hotlist.enabled and hotlist.name == flows.UNPAID_LIST
    (entry,) = session.scalars(select(HotlistEntry).where(HotlistEntry.hotlist_id == hotlist.id)).all()
    assert entry.plate == "MNO123" and entry.added_by_name == "e-challans"
    assert entry.reason.startswith(f"{threshold} unpaid e-challans: ")
    assert all(c.number in entry.reason for c in [*heavy, challan])
    # The matcher's index now knows it: a sighting of MNO123 anywhere is a hit on the unpaid list.
    index = hotlists.load_index(session=session)
    matches = index.match("MNO123", district_id=factory.district("DIK").id, at=dt.datetime.now(dt.UTC))
    assert [m.listed.rule.kind for m in matches] == [ListKind.UNPAID_CHALLANS]
    assert flows.sync_unpaid_hotlist(session=session) == ([], [])  # in step: nothing to do

    paid = session.get(Challan, heavy[1].id)
    assert paid is not None
    paid.status, paid.paid_at = ChallanStatus.PAID, dt.datetime.now(dt.UTC)
    session.flush()
    assert flows.sync_unpaid_hotlist(session=session, plates=["MNO123"]) == ([], ["MNO123"])
    assert session.scalars(select(HotlistEntry).where(HotlistEntry.hotlist_id == hotlist.id)).all() == []
    changes = session.scalars(
        select(AuditEntry.action).where(AuditEntry.actor_name == "e-challans").order_by(AuditEntry.seq)
    ).all()
    assert changes == ["hotlists.create", "hotlists.entry.add", "hotlists.entry.remove"]
    assert OWNER["name"] == challan.owner_name
