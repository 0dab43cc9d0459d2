"""Payments: a bank's signed callback pays a challan once; forged, unsigned, stale, replayed, wrong-amount
and late callbacks get clear errors and change nothing (or are recorded for a refund); the reconciliation
adds up per day and district, within the reader's districts, and exports as CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from portal_data import camera, challan
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import TEST_SECRET_KEY, Factory, serve
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistEntry, ListKind
from safecity.audit.models import AuditEntry
from safecity.cli import app
from safecity.config import ChallanSettings, Settings, VideoSettings
from safecity.core.crypto import SecretBox
from safecity.traffic.challans import flows as unpaid
from safecity.traffic.challans import service as challans_service
from safecity.traffic.challans.models import Challan, ChallanStatus
from safecity.traffic.payments import service as payments
from safecity.traffic.payments.models import Payment
from safecity.traffic.payments.schemas import CallbackIn

if TYPE_CHECKING:
    from safecity.org.models import District

SECRET = "bank-shared-secret-0123456789abcdef"
cli = CliRunner()
URL = "/api/v1/traffic/payments/callback"
KARACHI = ZoneInfo("Asia/Karachi")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr(TEST_SECRET_KEY),
        video=VideoSettings(run_in_web=False),
        challans=ChallanSettings(payment_secret=SecretStr(SECRET), payment_max_skew_s=300),
    )


def body_of(c: Challan, *, amount: int | None = None, tx: str | None = None, at: str | None = None) -> bytes:
    return json.dumps(
        {
            "transaction_id": tx or f"TX-{uuid.uuid4().hex[:12]}",
            "payment_ref": c.payment_ref,
            "amount_pkr": c.amount_pkr if amount is None else amount,
            "paid_at": at or dt.datetime.now(dt.UTC).isoformat(),
            "provider": "hbl",
        }
    ).encode()


def post(
    client: TestClient,
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> Any:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": signature or payments.sign(secret, stamp, body),
    }
    return client.post(URL, content=body, headers=headers)


def state(session: Session, c: Challan) -> tuple[ChallanStatus, int]:
    session.expire_all()
    fresh = session.get(Challan, c.id)
    assert fresh is not None
    count = session.scalar(select(func.count()).where(Payment.challan_id == c.id)) or 0
    return fresh.status, count


def test_a_signed_callback_pays_the_challan_once_and_a_replay_gets_the_same_answer(
    client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district()
    made = challan(session, settings.evidence_dir, district, amount=750)
    session.commit()
    body = body_of(made.challan)
    first = post(client, body)
    assert first.status_code == 200, first.text
    assert first.json()["result"] == "paid" and first.json()["replayed"] is False
    assert first.json()["challan_status"] == "paid"
    again = post(client, body)  # the bank did not hear the answer and sends it again
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["payment_id"] == first.json()["payment_id"]
    assert state(session, made.challan) == (ChallanStatus.PAID, 1)
    fresh = session.get(Challan, made.challan.id)
    assert fresh is not None and fresh.paid_at is not None and fresh.closed_at is not None
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "payments.callback", AuditEntry.outcome == "success")
    ).all()
    assert [a.actor_name for a in audited] == ["bank:hbl"] and audited[0].district_id == district.id

    # The same transaction id with another amount is not a replay: refused, nothing changes.
    forged = json.loads(body)
    forged["amount_pkr"] = 1
    conflict = post(client, json.dumps(forged).encode())
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "transaction_conflict"
    # A second payment of a paid challan is recorded for a refund, and the bank told so.
    twice = post(client, body_of(made.challan))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_paid"
    assert state(session, made.challan) == (ChallanStatus.PAID, 2)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ("forged", "bad_signature"),
        ("wrong_secret", "bad_signature"),
        ("old", "stale_timestamp"),
        ("future", "stale_timestamp"),
        ("unsigned", "unsigned"),
        ("body_changed", "bad_signature"),
    ],
)
def test_forged_unsigned_and_stale_callbacks_are_refused_and_change_nothing(
    tamper: str, code: str, client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(session, settings.evidence_dir, factory.district())
    session.commit()
    body = body_of(made.challan)
    now = int(time.time())
    if tamper == "forged":
        answer = post(client, body, signature="sha256=" + "0" * 64)
    elif tamper == "wrong_secret":
        answer = post(client, body, secret="guessed")
    elif tamper == "old":  # a captured callback replayed after the allowed skew
        answer = post(client, body, timestamp=now - 301)
    elif tamper == "future":
        answer = post(client, body, timestamp=now + 301)
    elif tamper == "unsigned":
        answer = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    else:  # signed, then the amount changed on the way
        stamp = str(now)
        signature = payments.sign(SECRET, stamp, body)
        changed = body.replace(b'"amount_pkr": 500', b'"amount_pkr": 5')
        answer = client.post(
            URL,
            content=changed,
            headers={"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": signature},
        )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == code
    assert state(session, made.challan) == (ChallanStatus.ISSUED, 0)
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "payments.callback", AuditEntry.outcome == "denied")
    ).all()
    assert [d.detail["reason"] for d in denied] == [code]


def test_wrong_amount_unknown_reference_and_cancelled_challan(
    client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district()
    made = challan(session, settings.evidence_dir, district, amount=500)
    cancelled = challan(session, settings.evidence_dir, district, status=ChallanStatus.CANCELLED)
    overdue = challan(session, settings.evidence_dir, district, status=ChallanStatus.OVERDUE)
    in_appeal = challan(session, settings.evidence_dir, district, status=ChallanStatus.IN_APPEAL)
    session.commit()

    short = body_of(made.challan, amount=400)
    wrong = post(client, short)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "amount_mismatch"
    assert "400" in wrong.json()["error"]["message"] and "500" in wrong.json()["error"]["message"]
    assert post(client, short).json()["error"]["code"] == "amount_mismatch"  # a replay: the same answer
    assert state(session, made.challan) == (ChallanStatus.ISSUED, 1)  # recorded once, challan unchanged

    unknown = json.loads(body_of(made.challan))
    unknown["payment_ref"] = "NOSUCHREF"
    missing = post(client, json.dumps(unknown).encode())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_reference"

    late = post(client, body_of(cancelled.challan))
    assert late.status_code == 409 and late.json()["error"]["code"] == "challan_cancelled"
    assert state(session, cancelled.challan) == (ChallanStatus.CANCELLED, 1)  # kept for the refund

    # An overdue challan and one under appeal may still be paid.
    for c in (overdue.challan, in_appeal.challan):
        assert post(client, body_of(c)).json()["result"] == "paid"
        assert state(session, c) == (ChallanStatus.PAID, 1)

    bad = post(client, b'{"transaction_id": "x"}')
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert session.scalar(select(func.count()).select_from(Payment)) == 4


def test_without_a_secret_no_callback_is_taken(
    web_app: Any, factory: Factory, session: Session, settings: Settings
) -> None:
    made = challan(session, settings.evidence_dir, factory.district())
    session.commit()
    web_app.state.services.settings = settings.model_copy(update={"challans": ChallanSettings()})
    with TestClient(web_app) as client:
        answer = post(client, body_of(made.challan))
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "payments_not_configured"
    assert state(session, made.challan) == (ChallanStatus.ISSUED, 0)


def test_two_deliveries_of_one_callback_at_once_pay_once(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    """Concurrent sessions on a database of the test's own: the unique transaction id decides."""
    _, factory_ = own_db
    with factory_() as session:
        district = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa")).district()
        made = challan(session, settings.evidence_dir, district)
        session.commit()
        ref, amount = made.challan.payment_ref, made.challan.amount_pkr
    body = json.dumps(
        {
            "transaction_id": "TX-RACE-1",
            "payment_ref": ref,
            "amount_pkr": amount,
            "paid_at": "2026-05-01T10:00:00+05:00",
            "provider": "hbl",
        }
    ).encode()
    answers: list[str] = []
    gate = threading.Barrier(4)

    def deliver() -> None:
        with factory_() as session:
            gate.wait()
            try:
                out = payments.receive(session=session, data=CallbackIn.model_validate_json(body), body=body)
                answers.append("replayed" if out.replayed else "paid")
            except Exception as exc:  # a database that serialises writers may refuse one: it retries
                answers.append(type(exc).__name__)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers.count("paid") == 1, answers
    assert set(answers) <= {"paid", "replayed", "OperationalError"}, answers  # never a second payment
    with factory_() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
        found = session.scalars(select(Challan).where(Challan.payment_ref == ref)).one()
        assert found.status is ChallanStatus.PAID


def _day(session: Session, district: District, settings: Settings) -> tuple[dt.date, list[Challan]]:
    """Yesterday (Karachi) in `district`: three challans of 500, 700 and 900 PKR issued at 09:00-11:00."""
    day = dt.datetime.now(KARACHI).date() - dt.timedelta(days=1)
    made = []
    for i, amount in enumerate((500, 700, 900)):
        at = dt.datetime.combine(day, dt.time(9 + i), tzinfo=KARACHI).astimezone(dt.UTC)
        made.append(challan(session, settings.evidence_dir, district, amount=amount, issued_at=at).challan)
    return day, made


def test_reconciliation_per_day_and_district_with_mismatches_and_csv(
    client: TestClient,
    factory: Factory,
    session: Session,
    settings: Settings,
    login_as: Callable[..., TestClient],
) -> None:
    a, b = factory.district(), factory.district()
    day, (c500, c700, c900) = _day(session, a, settings)
    _, (b500, _, _) = _day(session, b, settings)
    # Just after midnight Karachi time on the next day (still "yesterday" in UTC): not that day's.
    late = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 30), tzinfo=KARACHI).astimezone(dt.UTC)
    challan(session, settings.evidence_dir, a, amount=300, issued_at=late)
    session.commit()
    paid_at = dt.datetime.combine(day, dt.time(15), tzinfo=KARACHI).isoformat()
    assert post(client, body_of(c500, at=paid_at)).status_code == 200
    assert post(client, body_of(c700, amount=600, at=paid_at)).status_code == 422  # short-paid
    assert post(client, body_of(b500, at=paid_at)).status_code == 200
    session.execute(  # c900 cancelled on appeal, then a payment arrives for it
        Challan.__table__.update().where(Challan.id == c900.id).values(status=ChallanStatus.CANCELLED)
    )
    session.commit()
    assert post(client, body_of(c900, at=paid_at)).status_code == 409

    finance = login_as(factory.user("finance", districts=[a]))
    report = finance.get("/api/v1/traffic/payments/reconciliation", params={"date": day.isoformat()})
    assert report.status_code == 200, report.text
    [row] = report.json()  # district A only: B is outside the reader's districts
    assert row["district_code"] == a.code and row["date"] == day.isoformat()
    assert (row["issued_count"], row["issued_amount_pkr"]) == (3, 2100)
    assert (row["paid_count"], row["paid_amount_pkr"]) == (1, 500)
    assert (row["outstanding_count"], row["outstanding_amount_pkr"]) == (1, 700)
    assert row["cancelled_count"] == 1
    assert (row["received_count"], row["received_amount_pkr"]) == (3, 500 + 600 + 900)
    kinds = {m["challan_number"]: m["kind"] for m in row["mismatches"]}
    assert kinds == {c700.number: "amount", c900.number: "cancelled"}
    assert (
        finance.get(
            "/api/v1/traffic/payments/reconciliation",
            params={"date": day.isoformat(), "district_id": str(b.id)},
        ).status_code
        == 404
    )

    for far in ("0001-01-01", "9999-12-31"):  # no challan can be that old or that late: a clear refusal
        refused = finance.get("/api/v1/traffic/payments/reconciliation", params={"date": far})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_date"

    exported = finance.get("/api/v1/traffic/payments/reconciliation.csv", params={"date": day.isoformat()})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(exported.text)))
    summary = [r for r in records if r["record"] == "district"]
    assert [(r["district"], r["issued_amount_pkr"], r["received_amount_pkr"]) for r in summary] == [
        (a.code, "2100", "2000")
    ]
    assert sorted(r["mismatch"] for r in records if r["record"] == "mismatch") == ["amount", "cancelled"]

    page = finance.get("/traffic/payments", params={"date": day.isoformat()})
    assert page.status_code == 200 and 'data-testid="payments-chart"' in page.text
    assert "2,100 PKR issued" in page.text  # the 30 days' caption counts the day's amounts

    province = login_as(factory.user("finance"))
    both = province.get("/api/v1/traffic/payments/reconciliation", params={"date": day.isoformat()}).json()
    assert {r["district_code"] for r in both if r["issued_count"]} == {a.code, b.code}
    operator = login_as(factory.user("operator"))
    denied = operator.get("/api/v1/traffic/payments/reconciliation", params={"date": day.isoformat()})
    assert denied.status_code == 403


def test_paying_one_of_a_blacklisted_vehicles_challans_takes_it_off_the_unpaid_hotlist(
    client: TestClient, factory: Factory, session: Session, settings: Settings
) -> None:
    district = factory.district()
    threshold = challans_service.unpaid_hotlist_threshold()
    cam = camera(session, district)
    made = [
        challan(session, settings.evidence_dir, district, cam=cam, plate="KHI4411") for _ in range(threshold)
    ]
    added, _ = unpaid.sync_unpaid_hotlist(session=session, plates=["KHI4411"])
    session.commit()
    assert added == ["KHI4411"]

    assert post(client, body_of(made[0].challan)).status_code == 200

    listed = session.scalars(
        select(HotlistEntry.plate)
        .join(Hotlist, Hotlist.id == HotlistEntry.hotlist_id)
        .where(Hotlist.kind == ListKind.UNPAID_CHALLANS)
    ).all()
    assert "KHI4411" not in listed  # threshold - 1 unpaid now


def test_the_demo_bank_pays_a_challan_through_the_running_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`safecity challans pay-demo` signs a callback with the development payment secret and sends it to the
    server, as a bank would; only in development mode."""
    development = Settings(
        data_dir=tmp_path, secret_key=SecretStr(TEST_SECRET_KEY), video=VideoSettings(run_in_web=False)
    )
    with serve(development, db_url, tmp_path) as live:
        with live.services.session_factory() as session:
            district = Factory(session, SecretBox(TEST_SECRET_KEY, "mfa")).district()
            made = challan(session, development.evidence_dir, district, amount=1000)
            session.commit()
            number = made.challan.number
        monkeypatch.setenv("SAFECITY_DATABASE_URL", live.services.settings.database_url.get_secret_value())
        monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("SAFECITY_SECRET_KEY", TEST_SECRET_KEY)
        paid = cli.invoke(app, ["challans", "pay-demo", number.lower(), "--url", live.base])
        assert paid.exit_code == 0, paid.output
        assert f"Paid. Challan {number} is paid" in " ".join(paid.output.split())
        with live.services.session_factory() as session:
            assert state(session, made.challan) == (ChallanStatus.PAID, 1)
            payment = session.scalars(select(Payment).where(Payment.challan_id == made.challan.id)).one()
            assert (payment.provider, payment.amount_pkr) == ("demo", 1000)
        # Paid already: the bank's second payment is refused (and recorded for a refund), said plainly.
        again = cli.invoke(app, ["challans", "pay-demo", number, "--url", live.base])
        assert again.exit_code == 1 and "refused (409)" in again.output
        unknown = cli.invoke(app, ["challans", "pay-demo", "PSW-2026-999999", "--url", live.base])
        assert unknown.exit_code == 1 and "no challan numbered" in unknown.output
        # No server there.
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            nobody = f"http://127.0.0.1:{unused.getsockname()[1]}"
        gone = cli.invoke(app, ["challans", "pay-demo", number, "--url", nobody])
        assert gone.exit_code == 1 and "is `safecity serve` running?" in " ".join(gone.output.split())
        # A production server's key is a real bank's: the command will not sign with it.
        monkeypatch.setenv("SAFECITY_MODE", "production")
        monkeypatch.setenv("SAFECITY_SECRET_KEY", "p" * 48)
        monkeypatch.setenv("SAFECITY_WEB__COOKIE_SECURE", "true")
        monkeypatch.setenv("SAFECITY_CHALLANS__PAYMENT_SECRET", "bank-key-" + "q" * 40)
        refused = cli.invoke(app, ["challans", "pay-demo", number, "--url", live.base])
        assert refused.exit_code == 2 and "development mode only" in refused.output
