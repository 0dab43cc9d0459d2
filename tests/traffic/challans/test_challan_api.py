"""The staff side over HTTP: the fine schedule (read; a new line, never an edit, audited), challans by
district with filters, one challan with its deliveries, its PDF (audited), the batch print for the post,
and the pages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable
from zoneinfo import ZoneInfo

from challan_data import OWNER, confirmed_violation
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.config import Settings
from safecity.org.models import District
from safecity.traffic.challans import flows
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, ChallanStatus, Channel, Fine
from safecity.traffic.violations.models import Offence

KARACHI = ZoneInfo("Asia/Karachi")


def _today() -> dt.date:
    return dt.datetime.now(KARACHI).date()


def _audited(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
    )


def test_the_fine_schedule_is_read_and_extended_never_edited(
    session: Session, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    challans.ensure_fines(session=session)
    assert challans.ensure_fines(session=session) == []  # seeding again adds nothing
    lines = session.scalar(select(func.count()).select_from(Fine))
    assert lines == len(challans.seed_lines()) == 16 + 13
    officer, admin, operator = (
        factory.user("traffic_officer"),
        factory.user("admin"),
        factory.user("operator"),
    )
    officer_client, operator_client = login_as(officer), login_as(operator)
    read = officer_client.get("/api/v1/traffic/fines", params={"province_code": "KP"})
    assert read.status_code == 200
    kp = {(f["offence"], f["vehicle_class"]): f for f in read.json()}
    assert (
        kp["wrong_way", "rickshaw"]["amount_pkr"] == 600
        and "nearest" in kp["wrong_way", "rickshaw"]["legal_reference"]
    )
    assert "up to Rs 1,000" in kp["red_light", "car"]["legal_reference"]
    assert operator_client.get("/api/v1/traffic/fines").status_code == 403

    manager = login_as(admin)
    assert manager.get("/api/v1/traffic/fines").status_code == 200  # fines.manage reads it too
    today = _today()
    body = {
        "province_code": "KP",
        "vehicle_class": "car",
        "offence": "red_light",
        "amount_pkr": 1500,
        "effective_from": today.isoformat(),
        "legal_reference": "KP Finance Act 2026 (test)",
    }
    created = manager.post("/api/v1/traffic/fines", json=body)
    assert created.status_code == 201, created.text
    again = manager.post("/api/v1/traffic/fines", json=body)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "fine_not_later")
    backdated = manager.post("/api/v1/traffic/fines", json=body | {"effective_from": "2026-01-01"})
    assert (backdated.status_code, backdated.json()["error"]["code"]) == (422, "fine_backdated")
    assert officer_client.post("/api/v1/traffic/fines", json=body).status_code == 403
    versions = [
        (f["amount_pkr"], f["effective_from"])
        for f in manager.get("/api/v1/traffic/fines", params={"province_code": "KP"}).json()
        if (f["offence"], f["vehicle_class"]) == ("red_light", "car")
    ]
    assert versions == [(1500, today.isoformat()), (1000, "2021-07-01")]  # the old line stands as it was
    (entry,) = _audited(session, "fines.create")
    assert entry.actor_name == admin.username
    assert (entry.detail["old_amount_pkr"], entry.detail["new_amount_pkr"]) == (1000, 1500)

    # The page: the schedules with their history, and the form.
    page = manager.get("/traffic/fines")
    assert page.status_code == 200 and "Province KP" in page.text and "Province PB" in page.text
    assert "KP Finance Act 2026 (test)" in page.text
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    form = manager.post(
        "/traffic/fines",
        data={
            "province_code": "pb",
            "vehicle_class": "motorcycle",
            "offence": "no_helmet",
            "amount_pkr": "2,500",
            "effective_from": tomorrow,
            "legal_reference": "Punjab notification (test)",
        },
    )
    assert form.status_code == 204 and form.headers["HX-Redirect"] == "/traffic/fines"
    assert (
        challans.fine_for(
            session=session,
            province_code="PB",
            vehicle_class="motorcycle",
            offence=Offence.NO_HELMET,
            on=today,
        ).amount_pkr
        == 2000
    )
    assert officer_client.get("/traffic/fines").status_code == 200
    assert operator_client.get("/traffic/fines").status_code == 403


def _world(
    session: Session, settings: Settings, factory: Factory
) -> tuple[District, District, list[Challan]]:
    challans.ensure_fines(session=session)
    a, b = factory.district("PSW"), factory.district("DIK")
    issued = []
    for district, plate in ((a, "LEA1234"), (a, "LEB777"), (b, "LEA1234")):
        violation = confirmed_violation(session, settings, district, plate=plate)
        issued.append(challans.issue(session=session, settings=settings, violation_id=violation.id)[0])
    issued[1].status = ChallanStatus.OVERDUE
    issued[1].owner_address = ""  # nowhere to post it
    session.commit()
    return a, b, issued


def test_challans_by_district_with_filters_deliveries_and_pdf(
    session: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    settings: Settings,
    login_as: Callable[..., TestClient],
) -> None:
    a, _b, (first, second, elsewhere) = _world(session, settings, factory)
    client = login_as(factory.user("traffic_officer", districts=[a]))

    def numbers(**params: str) -> list[str]:
        answer = client.get("/api/v1/traffic/challans", params=params)
        assert answer.status_code == 200, answer.text
        return [c["number"] for c in answer.json()]

    assert sorted(numbers()) == sorted([first.number, second.number])  # not district B's
    assert numbers(status="overdue") == [second.number]
    assert numbers(plate="lea") == [first.number]
    assert sorted(numbers(date=_today().isoformat())) == sorted([first.number, second.number])
    assert numbers(date=(_today() - dt.timedelta(days=1)).isoformat()) == []
    assert client.get("/api/v1/traffic/challans", params={"date": "31-12-2026"}).status_code == 422
    ancient = client.get("/api/v1/traffic/challans", params={"date": "0001-01-01"})
    assert (ancient.status_code, ancient.json()["error"]["code"]) == (422, "bad_day")
    assert _audited(session, "challans.list")[-1].detail["shown"] == 0

    assert client.get(f"/api/v1/traffic/challans/{elsewhere.id}").status_code == 404
    detail = client.get(f"/api/v1/traffic/challans/{first.id}")
    assert detail.status_code == 200
    assert detail.json()["owner_cnic"] == OWNER["cnic"] and detail.json()["deliveries"] == []
    assert _audited(session, "challans.read")[-1].object_id == str(first.id)

    missing = client.get(f"/api/v1/traffic/challans/{first.id}/pdf")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_pdf")
    asyncio.run(flows.finish(session_factory=session_factory, settings=settings, challan_id=first.id))
    document = client.get(f"/api/v1/traffic/challans/{first.id}/pdf")
    assert document.status_code == 200 and document.headers["content-type"] == "application/pdf"
    session.expire_all()
    stored = session.get(Challan, first.id)
    assert stored is not None and stored.pdf_path is not None
    assert document.content == (settings.challans_dir / stored.pdf_path).read_bytes()
    assert _audited(session, "challans.pdf.read")[-1].detail["sha256"] == stored.pdf_sha256

    # The pages.
    listing = client.get("/traffic/challans", params={"status": "overdue"})
    assert listing.status_code == 200 and second.number in listing.text and first.number not in listing.text
    page = client.get(f"/traffic/challans/{first.id}")
    assert page.status_code == 200
    for shown in (first.number, OWNER["name"], OWNER["address"], first.payment_ref, "PDF"):
        assert shown in page.text
    # This server has no SMS gateway and no mail server: the PDF was made, nothing was sent, and the page
    # says why and what is left (the post, the portal) rather than "nothing sent yet".
    assert challans.deliveries(session=session, challan_id=first.id) == []
    for said in (
        "SMS: not sent: no SMS gateway is configured (challans.sms_url)",
        "E-mail: not sent: no mail server is configured (challans.smtp_host)",
        'data-testid="no-delivery"',
        "/portal",
    ):
        assert said in page.text
    assert login_as(factory.user("operator")).get("/traffic/challans").status_code == 403


def test_the_days_challans_are_printed_for_the_post(
    session: Session, factory: Factory, settings: Settings, login_as: Callable[..., TestClient]
) -> None:
    a, b, (first, second, elsewhere) = _world(session, settings, factory)
    finance = login_as(factory.user("finance", districts=[a]))
    params = {"district_id": str(a.id), "date": _today().isoformat()}
    printed = finance.get("/api/v1/traffic/challans/print", params=params)
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(printed.content)).pages
    assert len(pages) == 2
    texts = [p.extract_text() for p in pages]
    assert first.number in texts[0] and second.number in texts[1] and "چالان" in texts[0]
    session.expire_all()
    posted = {
        c.number: [(d.channel, d.ok, d.detail) for d in challans.deliveries(session=session, challan_id=c.id)]
        for c in (first, second, elsewhere)
    }
    assert posted == {
        first.number: [(Channel.POST, True, "")],
        second.number: [(Channel.POST, False, "no postal address on record")],
        elsewhere.number: [],
    }
    again = finance.get("/api/v1/traffic/challans/print", params=params)
    assert (again.status_code, again.json()["error"]["code"]) == (404, "nothing_to_print")
    reprint = finance.get("/api/v1/traffic/challans/print", params=params | {"only_unposted": "false"})
    assert reprint.status_code == 200 and len(PdfReader(io.BytesIO(reprint.content)).pages) == 2
    (batch, second_batch) = _audited(session, "challans.print")
    assert batch.detail["numbers"] == [first.number, second.number] and batch.district_id == a.id
    assert second_batch.detail["count"] == 2
    other = finance.get("/api/v1/traffic/challans/print", params=params | {"district_id": str(b.id)})
    assert other.status_code == 404  # not the caller's district


def test_the_challan_page_says_how_each_channel_reaches_the_owner(settings: Settings) -> None:
    challan = Challan(owner_phone=OWNER["phone"], owner_email=OWNER["email"])
    configured = settings.challans.model_copy(update={"sms_url": "http://127.0.0.1:9/sms", "smtp_host": "mx"})
    notes = challans.delivery_channels(configured, challan)
    assert [(n.channel, n.ready) for n in notes] == [(Channel.SMS, True), (Channel.EMAIL, True)]
    assert OWNER["phone"] in notes[0].note and OWNER["email"] in notes[1].note
    challan.owner_phone, challan.owner_email = "", ""
    assert [n.note for n in challans.delivery_channels(configured, challan)] == [
        "not sent: the registry has no mobile number for the owner",
        "not sent: the registry has no e-mail address for the owner",
    ]
    assert not any(n.ready for n in challans.delivery_channels(settings.challans, challan))
