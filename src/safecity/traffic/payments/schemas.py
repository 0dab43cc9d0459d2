"""Pydantic shapes of payments: a bank's signed callback, its answer, and the daily reconciliation."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import Field

from safecity.core.schemas import InModel, IsoDateTime, OutModel

# Identifiers a bank sends: letters, digits and a few separators (nothing a spreadsheet would run).
TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"  # noqa: S105 - a pattern, not a secret


class Outcome(enum.StrEnum):
    """What a reported payment did (kept with the payment, so a replayed callback gets the same answer)."""

    PAID = "paid"  # the challan is paid by it
    AMOUNT_MISMATCH = "amount_mismatch"  # not the challan's amount: recorded, the challan unchanged
    CANCELLED = "challan_cancelled"  # the challan was cancelled: the money is to be refunded
    ALREADY_PAID = "already_paid"  # a second payment of a paid challan: to be refunded


class CallbackIn(InModel):
    """What a bank or payment aggregator reports for one settled payment."""

    transaction_id: str = Field(min_length=1, max_length=64, pattern=TOKEN_PATTERN)
    payment_ref: str = Field(min_length=1, max_length=24, pattern=TOKEN_PATTERN)
    amount_pkr: int = Field(ge=1, le=100_000_000, strict=True)
    paid_at: IsoDateTime
    provider: str = Field(min_length=1, max_length=32, pattern=TOKEN_PATTERN)


class CallbackOut(OutModel):
    """The answer to a callback that paid a challan (a replay gets the same, with `replayed`)."""

    result: Outcome
    payment_id: uuid.UUID
    challan_number: str
    challan_status: str
    replayed: bool


class MismatchKind(enum.StrEnum):
    """Why a payment needs a person's attention."""

    AMOUNT = "amount"  # it differs from the challan's amount
    CANCELLED = "cancelled"  # its challan is cancelled (before or after the payment): a refund
    DUPLICATE = "duplicate"  # the challan was already paid


class MismatchOut(OutModel):
    """A payment that does not simply settle its challan."""

    kind: MismatchKind
    payment_id: uuid.UUID
    transaction_id: str
    provider: str
    challan_number: str
    payment_amount_pkr: int
    challan_amount_pkr: int
    paid_at: dt.datetime


class ReconciliationOut(OutModel):
    """One district's day: challans issued and what became of them, payments the banks dated that day,
    and the payments that need attention.

    `paid_*`, `outstanding_*` (issued, overdue or in appeal) and `cancelled_count` are of the challans
    issued that day, as they stand now; `received_*` counts every payment dated that day, mismatches too.
    """

    date: dt.date
    district_id: uuid.UUID
    district_code: str
    district_name: str
    issued_count: int
    issued_amount_pkr: int
    paid_count: int
    paid_amount_pkr: int
    outstanding_count: int
    outstanding_amount_pkr: int
    cancelled_count: int
    received_count: int
    received_amount_pkr: int
    mismatches: list[MismatchOut]


class DayAmountsOut(OutModel):
    """Amounts of one day in the caller's districts (the chart of the last 30 days)."""

    date: dt.date
    issued_amount_pkr: int
    received_amount_pkr: int
