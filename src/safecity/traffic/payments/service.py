"""Payments of e-challans: banks' signed callbacks and the daily reconciliation per district.

A callback is authenticated by HMAC-SHA256 over "<X-Timestamp>.<raw body>" with the shared
`challans.payment_secret` (header `X-Signature: sha256=<hex>`); a timestamp older (or further ahead)
than `payment_max_skew_s` is refused, so a captured callback cannot be replayed later with a new body.
Every reported payment of a known challan is stored (money moved, even when it must be refunded), with
its outcome in `raw["outcome"]`; `transaction_id` is unique, so a replay finds its payment and gets the
same answer. Reading the reconciliation needs `payments.reconcile`, within the reader's districts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings
from safecity.core.crypto import check_signed, sign_body
from safecity.core.db import utcnow
from safecity.core.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, SafecityError
from safecity.org.models import District
from safecity.traffic.challans import flows as unpaid
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan, ChallanStatus
from safecity.traffic.payments.models import Payment
from safecity.traffic.payments.schemas import (
    CallbackIn,
    CallbackOut,
    DayAmountsOut,
    MismatchKind,
    MismatchOut,
    Outcome,
    ReconciliationOut,
)

logger = logging.getLogger(__name__)

RECONCILE = "payments.reconcile"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
# A challan in these states can still be paid (an overdue one, and one whose appeal is pending).
PAYABLE = (ChallanStatus.ISSUED, ChallanStatus.OVERDUE, ChallanStatus.IN_APPEAL)
OUTSTANDING = PAYABLE
CHART_DAYS = 30
CSV_HEADER = (
    "record",
    "date",
    "district",
    "challans_issued",
    "issued_amount_pkr",
    "paid",
    "paid_amount_pkr",
    "outstanding",
    "outstanding_amount_pkr",
    "cancelled",
    "payments_received",
    "received_amount_pkr",
    "mismatch",
    "challan_number",
    "transaction_id",
    "provider",
    "payment_amount_pkr",
    "challan_amount_pkr",
    "paid_at",
)


class PaymentsNotConfigured(SafecityError):
    """No payment secret: no callback can be trusted, so none is taken."""

    status = 503
    code = "payments_not_configured"


class PaymentRefused(SafecityError):
    """A callback that was recorded but did not pay its challan; the status says why (409 or 422)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


# --- the callback -----------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp` (what a bank computes)."""
    return sign_body(secret, timestamp, body)


def demo_callback(*, session: Session, number: str, now: dt.datetime) -> bytes:
    """The body the demo bank sends to pay challan `number` in full at `now` (`safecity challans pay-demo`,
    which signs it); NotFound for a number no challan has.
    """
    challan = session.scalars(select(Challan).where(Challan.number == number.strip().upper()[:32])).first()
    if challan is None:
        raise NotFound(f"no challan numbered {number.strip()[:32]!r}", code="unknown_challan")
    body = CallbackIn(
        transaction_id=f"DEMO-{uuid.uuid4().hex[:16].upper()}",
        payment_ref=challan.payment_ref,
        amount_pkr=challan.amount_pkr,
        paid_at=now,
        provider="demo",
    )
    return body.model_dump_json().encode()


def _provider_actor(provider: str, client_addr: str | None) -> Principal:
    return Principal(
        user_id=None,
        username=f"bank:{provider}"[:64],
        permissions=frozenset(),
        district_ids=None,
        client_addr=client_addr,
        via="system",
    )


def _refuse_unsigned(session: Session, client_addr: str | None, reason: str) -> None:
    """Audit a callback that is not believed, kept even though nothing else is written."""
    audit.record(
        session=session,
        action="payments.callback",
        outcome="denied",
        actor=_provider_actor("unknown", client_addr),
        detail={"reason": reason},
    )
    session.commit()


def verify_signature(
    *,
    session: Session,
    settings: ChallanSettings,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    client_addr: str | None = None,
    now: float | None = None,
) -> None:
    """Check a callback's HMAC and timestamp (constant-time); raise NotAuthenticated with a plain code.

    An unsigned request is refused before the configuration is looked at: only a caller that signs
    learns that this server takes no payments (503).
    """
    if not signature or not timestamp:
        _refuse_unsigned(session, client_addr, "unsigned")
        raise NotAuthenticated(
            f"sign the callback: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required", code="unsigned"
        )
    if settings.payment_secret is None or not settings.payment_secret.get_secret_value():
        raise PaymentsNotConfigured("payments are not configured on this server (no payment secret)")
    problem = check_signed(
        secret=settings.payment_secret.get_secret_value(),
        body=body,
        signature=signature,
        timestamp=timestamp,
        max_skew_s=settings.payment_max_skew_s,
        now=now,
    )
    if problem == "bad_signature":
        _refuse_unsigned(session, client_addr, "bad_signature")
        raise NotAuthenticated("the signature does not match the body", code="bad_signature")
    if problem is not None:
        _refuse_unsigned(session, client_addr, "stale_timestamp")
        raise NotAuthenticated(
            f"the timestamp is not within {settings.payment_max_skew_s} s of now", code="stale_timestamp"
        )


def parse_callback(body: bytes) -> CallbackIn:
    """The callback's fields, or InvalidInput naming what is wrong."""
    try:
        return CallbackIn.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"the callback is not valid: {problems}") from None


def _same_report(payment: Payment, data: CallbackIn) -> bool:
    sent = payment.raw.get("body", {})
    return (
        sent.get("payment_ref") == data.payment_ref
        and payment.amount_pkr == data.amount_pkr
        and payment.provider == data.provider
    )


def _answer(payment: Payment, challan: Challan, *, replayed: bool) -> CallbackOut:
    """The callback's answer for a stored payment: its outcome as recorded (a refusal raises it again)."""
    outcome = Outcome(payment.raw.get("outcome", Outcome.PAID))
    if outcome is Outcome.AMOUNT_MISMATCH:
        raise PaymentRefused(
            f"the amount paid ({payment.amount_pkr} PKR) is not the challan's ({challan.amount_pkr} PKR): "
            "recorded for reconciliation, the challan is unchanged",
            code=outcome.value,
            status=422,
        )
    if outcome is Outcome.CANCELLED:
        raise PaymentRefused(
            f"challan {challan.number} is cancelled: the payment is recorded for a refund",
            code=outcome.value,
            status=409,
        )
    if outcome is Outcome.ALREADY_PAID:
        raise PaymentRefused(
            f"challan {challan.number} was already paid: the payment is recorded for a refund",
            code=outcome.value,
            status=409,
        )
    return CallbackOut(
        result=outcome,
        payment_id=payment.id,
        challan_number=challan.number,
        challan_status=challan.status.value,
        replayed=replayed,
    )


def _replay(session: Session, existing: Payment, data: CallbackIn) -> CallbackOut:
    if not _same_report(existing, data):
        raise Conflict(
            "this transaction_id was reported before with another reference or amount",
            code="transaction_conflict",
        )
    challan = session.get(Challan, existing.challan_id)
    if challan is None:  # a foreign key with ON DELETE RESTRICT: never
        raise NotFound("the paid challan is missing")
    return _answer(existing, challan, replayed=True)


def receive(
    *,
    session: Session,
    data: CallbackIn,
    body: bytes,
    client_addr: str | None = None,
) -> CallbackOut:
    """Apply one authenticated callback and commit it; returns the answer or raises the refusal.

    Unknown reference: 404 `unknown_reference`, nothing stored. A wrong amount (422 `amount_mismatch`), a
    cancelled challan (409 `challan_cancelled`) or a paid one (409 `already_paid`): the payment is stored for
    reconciliation and the challan left as it is. Otherwise the challan becomes PAID (its plate leaves the
    unpaid-challans hotlist once below the threshold) and it is audited. A replayed transaction_id gets the
    first answer again and stores nothing more.
    """
    actor = _provider_actor(data.provider, client_addr)
    existing = session.scalars(select(Payment).where(Payment.transaction_id == data.transaction_id)).first()
    if existing is not None:
        return _replay(session, existing, data)
    challan = session.scalars(select(Challan).where(Challan.payment_ref == data.payment_ref)).first()
    if challan is None:
        audit.record(
            session=session,
            action="payments.callback",
            outcome="failure",
            actor=actor,
            object_type="payment",
            object_id=data.transaction_id,
            detail={"reason": "unknown_reference", "payment_ref": data.payment_ref},
        )
        session.commit()
        logger.warning("payment callback %s: unknown reference", data.transaction_id)
        raise NotFound(f"no challan has the payment reference {data.payment_ref}", code="unknown_reference")
    payment = Payment(
        id=uuid.uuid4(),
        provider=data.provider,
        transaction_id=data.transaction_id,
        challan_id=challan.id,
        district_id=challan.district_id,
        amount_pkr=data.amount_pkr,
        paid_at=data.paid_at,
        received_at=utcnow(),
        raw={"body": json.loads(body), "outcome": Outcome.PAID.value},
    )
    try:
        with session.begin_nested():  # two deliveries of one transaction at once: one row, one answer
            session.add(payment)
            session.flush()
    except IntegrityError:  # the savepoint's rollback took the new row out of the session
        raced = session.scalars(select(Payment).where(Payment.transaction_id == data.transaction_id)).first()
        if raced is None:
            raise
        return _replay(session, raced, data)
    outcome = _settle(session, challan, payment)
    payment.raw = {**payment.raw, "outcome": outcome.value}
    challans.audit_challan(
        session=session,
        action="payments.callback",
        challan=challan,
        actor=actor,
        ok=outcome is Outcome.PAID,
        transaction_id=data.transaction_id,
        amount_pkr=data.amount_pkr,
        outcome=outcome.value,
    )
    if outcome is Outcome.PAID:
        unpaid.sync_unpaid_hotlist(session=session, plates=[challan.plate])
    else:
        logger.warning("payment %s for challan %s: %s", data.transaction_id, challan.id, outcome.value)
    session.commit()
    return _answer(payment, challan, replayed=False)


def _settle(session: Session, challan: Challan, payment: Payment) -> Outcome:
    """Pay the challan if the payment may (a conditional UPDATE: of two payments at once, one pays)."""
    if payment.amount_pkr != challan.amount_pkr:
        return Outcome.AMOUNT_MISMATCH
    now = utcnow()
    paid_now = session.execute(
        update(Challan)
        .where(Challan.id == challan.id, Challan.status.in_(PAYABLE))
        .values(status=ChallanStatus.PAID, paid_at=payment.paid_at, closed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(challan)
    if paid_now:
        return Outcome.PAID
    return Outcome.CANCELLED if challan.status is ChallanStatus.CANCELLED else Outcome.ALREADY_PAID


# --- reconciliation ---------------------------------------------------------------------------------


FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start and end of a local calendar day (InvalidInput for a day no challan can have)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"give a day between {FIRST_DAY} and {LAST_DAY}", code="bad_date")
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def districts_in_scope(
    *, session: Session, principal: Principal, district_id: uuid.UUID | None = None
) -> list[District]:
    """The districts whose payments the principal reconciles (one, when asked; 404 outside the scope)."""
    principal.require(RECONCILE)
    query = select(District).where(principal.district_filter(District.id)).order_by(District.code)
    if district_id is not None:
        found = list(session.scalars(query.where(District.id == district_id)))
        if not found:
            raise NotFound("no such district in your scope")
        return found
    return list(session.scalars(query))


@dataclass
class _Tally:
    count: int = 0
    amount: int = 0

    def add(self, count: int, amount: int | None) -> None:
        self.count += count
        self.amount += amount or 0


def _mismatch(payment: Payment, challan: Challan) -> MismatchKind | None:
    outcome = payment.raw.get("outcome")
    if outcome == Outcome.AMOUNT_MISMATCH or payment.amount_pkr != challan.amount_pkr:
        return MismatchKind.AMOUNT
    if outcome == Outcome.CANCELLED or challan.status is ChallanStatus.CANCELLED:
        return MismatchKind.CANCELLED
    if outcome == Outcome.ALREADY_PAID:
        return MismatchKind.DUPLICATE
    return None


def reconcile(
    *,
    session: Session,
    principal: Principal,
    day: dt.date,
    zone: ZoneInfo,
    district_id: uuid.UUID | None = None,
) -> list[ReconciliationOut]:
    """One row per district in scope for a local day: issued, paid, outstanding, received, mismatches."""
    districts = districts_in_scope(session=session, principal=principal, district_id=district_id)
    ids = [d.id for d in districts]
    start, end = day_bounds(day, zone)
    by_status: dict[uuid.UUID, dict[ChallanStatus, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    issued = session.execute(
        select(Challan.district_id, Challan.status, func.count(), func.sum(Challan.amount_pkr))
        .where(Challan.district_id.in_(ids), Challan.issued_at >= start, Challan.issued_at < end)
        .group_by(Challan.district_id, Challan.status)
    )
    for of_district, status, count, amount in issued:
        by_status[of_district][status].add(count, amount)
    received: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    mismatches: dict[uuid.UUID, list[MismatchOut]] = defaultdict(list)
    payments = session.execute(
        select(Payment, Challan)
        .join(Challan, Challan.id == Payment.challan_id)
        .where(Payment.district_id.in_(ids), Payment.paid_at >= start, Payment.paid_at < end)
        .order_by(Payment.paid_at, Payment.id)
    )
    for payment, challan in payments:
        received[payment.district_id].add(1, payment.amount_pkr)
        kind = _mismatch(payment, challan)
        if kind is not None:
            mismatches[payment.district_id].append(
                MismatchOut(
                    kind=kind,
                    payment_id=payment.id,
                    transaction_id=payment.transaction_id,
                    provider=payment.provider,
                    challan_number=challan.number,
                    payment_amount_pkr=payment.amount_pkr,
                    challan_amount_pkr=challan.amount_pkr,
                    paid_at=payment.paid_at,
                )
            )
    rows = []
    for district in districts:
        states = by_status[district.id]
        total, paid_, outstanding = _Tally(), states[ChallanStatus.PAID], _Tally()
        for status, tally in states.items():
            total.add(tally.count, tally.amount)
            if status in OUTSTANDING:
                outstanding.add(tally.count, tally.amount)
        rows.append(
            ReconciliationOut(
                date=day,
                district_id=district.id,
                district_code=district.code,
                district_name=district.name,
                issued_count=total.count,
                issued_amount_pkr=total.amount,
                paid_count=paid_.count,
                paid_amount_pkr=paid_.amount,
                outstanding_count=outstanding.count,
                outstanding_amount_pkr=outstanding.amount,
                cancelled_count=states[ChallanStatus.CANCELLED].count,
                received_count=received[district.id].count,
                received_amount_pkr=received[district.id].amount,
                mismatches=mismatches[district.id],
            )
        )
    audit.record(
        session=session,
        action="payments.reconciliation.read",
        outcome="success",
        actor=principal,
        detail={"date": day.isoformat(), "district_id": str(district_id) if district_id else None},
    )
    return rows


def reconciliation_csv(rows: list[ReconciliationOut]) -> Iterator[str]:
    """The reconciliation as CSV lines: a `district` record per district, then a `mismatch` record each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(list(CSV_HEADER))
    for r in rows:
        yield line(
            [
                "district",
                r.date.isoformat(),
                r.district_code,
                r.issued_count,
                r.issued_amount_pkr,
                r.paid_count,
                r.paid_amount_pkr,
                r.outstanding_count,
                r.outstanding_amount_pkr,
                r.cancelled_count,
                r.received_count,
                r.received_amount_pkr,
                len(r.mismatches),
                *[""] * 6,
            ]
        )
    for r in rows:
        for m in r.mismatches:
            yield line(
                [
                    "mismatch",
                    r.date.isoformat(),
                    r.district_code,
                    *[""] * 9,
                    m.kind.value,
                    m.challan_number,
                    m.transaction_id,
                    m.provider,
                    m.payment_amount_pkr,
                    m.challan_amount_pkr,
                    m.paid_at.astimezone(dt.UTC).isoformat(),
                ]
            )


def daily_amounts(
    *,
    session: Session,
    principal: Principal,
    until: dt.date,
    zone: ZoneInfo,
    days: int = CHART_DAYS,
    district_id: uuid.UUID | None = None,
) -> list[DayAmountsOut]:
    """Amounts issued and received per local day over the `days` days ending on `until`, in scope."""
    ids = [d.id for d in districts_in_scope(session=session, principal=principal, district_id=district_id)]
    day_bounds(until - dt.timedelta(days=days - 1), zone)  # the whole span must be a range of real days
    result = []
    for back in range(days - 1, -1, -1):
        day = until - dt.timedelta(days=back)
        start, end = day_bounds(day, zone)
        issued = session.scalar(
            select(func.coalesce(func.sum(Challan.amount_pkr), 0)).where(
                Challan.district_id.in_(ids), Challan.issued_at >= start, Challan.issued_at < end
            )
        )
        received = session.scalar(
            select(func.coalesce(func.sum(Payment.amount_pkr), 0)).where(
                Payment.district_id.in_(ids), Payment.paid_at >= start, Payment.paid_at < end
            )
        )
        result.append(
            DayAmountsOut(
                date=day, issued_amount_pkr=int(issued or 0), received_amount_pkr=int(received or 0)
            )
        )
    return result
