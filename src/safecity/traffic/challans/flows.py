"""E-challan work across domains: confirmed violations issued as challans, their PDFs made and sent (SMS and
e-mail, through messaging.py); reminders, overdue notices, and the unpaid-challans hotlist of the plates
issue, kept in step with the unpaid challans.

Two loops run in the web process (app.py), like the other periodic traffic work:
- `Issuer.run`: every `issue_every_s` one small query for confirmed violations of the last week without a
  challan; nothing else touches the database while there are none.
- `run_sweeps`: every `sweep_every_s` (an hour by default) all confirmed violations without a challan (older
  ones too), PDFs that were never made, reminders, overdue marking and the hotlist.
Both wait one interval before their first look, so start-up touches nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.models import HotlistEntry, ListKind, MatchMode
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn
from safecity.auth.principal import Principal
from safecity.config import Settings
from safecity.core import periodic
from safecity.core.db import READ_ONLY, transaction, utcnow
from safecity.core.errors import NotFound, SafecityError
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.messaging import Attachment, Notice, notify
from safecity.traffic.challans.models import Challan, Delivery
from safecity.traffic.challans.pdf import OFFENCE_EN

logger = logging.getLogger(__name__)

RECENT = dt.timedelta(days=7)  # how far back the frequent look for violations to issue reaches
RETRY_S = 600.0  # a violation that could not be issued (no fine line, a bad picture) is tried again after
BATCH = 200
# The system acts on the unpaid list as its keeper (its entries are changed through the hotlists service).
KEEPER = Principal(
    user_id=None,
    username="e-challans",
    permissions=frozenset({hotlists.MANAGE, hotlists.READ}),
    district_ids=None,
    via="system",
)
UNPAID_LIST = "Unpaid e-challans"
ATTACHED_UR = "ای چالان منسلک ہے۔ تفصیل، ثبوت اور اپیل کے لیے اوپر دیا گیا لنک کھولیں۔"  # noqa: RUF001


# --- what the owner is told -----------------------------------------------------------------------


def _due(challan: Challan, settings: Settings) -> str:
    return challan.due_at.astimezone(challans.local_zone(settings)).strftime("%d %b %Y")


def challan_notice(settings: Settings, challan: Challan, document: bytes) -> Notice:
    """The challan itself: an SMS with what to pay and how, an e-mail with the PDF attached."""
    link = challans.verify_url(settings, challan)
    offence = OFFENCE_EN[challan.offence].lower()
    sms = (
        f"E-challan {challan.number}: {offence}, vehicle {challan.plate}. Fine PKR {challan.amount_pkr:,}, "
        f"pay by {_due(challan, settings)} with payment ref {challan.payment_ref} (bank app, ATM, 1Link, "
        f"wallet). Verify/appeal: {link}"
    )
    body = (
        f"Dear {challan.owner_name or 'vehicle owner'},\n\n"
        f"An e-challan has been issued to vehicle {challan.plate} for {offence}.\n\n"
        f"Challan number: {challan.number}\nFine: PKR {challan.amount_pkr:,}\n"
        f"Pay by: {_due(challan, settings)}\nPayment reference (PSID): {challan.payment_ref}\n\n"
        "Pay through any bank's app, an ATM, 1Link or a mobile wallet with the payment reference.\n"
        f"The challan with its evidence is attached. Verify it, see the evidence or appeal at:\n{link}\n\n"
        f"{ATTACHED_UR}\n"
    )
    return Notice(
        purpose="challan",
        sms=sms,
        subject=f"E-challan {challan.number}: PKR {challan.amount_pkr:,} due {_due(challan, settings)}",
        body=body,
        attachments=(Attachment(f"{challan.number}.pdf", document),),
    )


def reminder_notice(settings: Settings, challan: Challan) -> Notice:
    """A reminder before the due date."""
    link = challans.verify_url(settings, challan)
    text = (
        f"Reminder: e-challan {challan.number} (vehicle {challan.plate}), PKR {challan.amount_pkr:,}, is due "
        f"{_due(challan, settings)}. Pay with ref {challan.payment_ref}. {link}"
    )
    return Notice(
        purpose="reminder",
        sms=text,
        subject=f"Reminder: e-challan {challan.number} is due {_due(challan, settings)}",
        body=text + "\n",
    )


def overdue_notice(settings: Settings, challan: Challan) -> Notice:
    """The notice that a challan is past its due date and unpaid."""
    link = challans.verify_url(settings, challan)
    text = (
        f"E-challan {challan.number} (vehicle {challan.plate}) was due {_due(challan, settings)} and is "
        f"unpaid: PKR {challan.amount_pkr:,}, payment ref {challan.payment_ref}. Unpaid challans put the "
        f"vehicle on a police watch list. {link}"
    )
    return Notice(
        purpose="overdue",
        sms=text,
        subject=f"Overdue: e-challan {challan.number} is unpaid",
        body=text + "\n",
    )


# --- the document ---------------------------------------------------------------------------------------


def _make_document(
    session_factory: sessionmaker[Session], settings: Settings, challan_id: uuid.UUID
) -> tuple[Challan, bytes, bool]:
    """The challan and its PDF, made and stored if it has none: returns whether this call stored it."""
    with session_factory() as session:
        session.connection(execution_options=READ_ONLY)
        challan = session.get(Challan, challan_id)
        if challan is None:
            raise NotFound("no challan with that id")
        if challan.pdf_path is not None:
            return challan, challans.read_pdf(settings=settings, challan=challan), False
        document = challans.document(session=session, settings=settings, challan=challan)
    data = challans.render([document])
    # The same challan renders to the same bytes, so a second process making it at once writes the same file.
    relative, digest = challans.write_pdf(settings=settings, number=challan.number, data=data)
    with transaction(session_factory) as session:
        stored = challans.record_pdf(session=session, challan_id=challan_id, relative=relative, sha256=digest)
    challan.pdf_path, challan.pdf_sha256 = relative, digest
    return challan, data, stored


async def send_challan(
    *, session_factory: sessionmaker[Session], settings: Settings, challan: Challan, document: bytes
) -> list[Delivery]:
    """Send the challan to its owner by SMS and e-mail (PDF attached); every attempt is recorded."""
    notice = challan_notice(settings, challan, document)
    return await notify(
        session_factory=session_factory, settings=settings.challans, challan=challan, notice=notice
    )


async def finish(
    *, session_factory: sessionmaker[Session], settings: Settings, challan_id: uuid.UUID
) -> Challan:
    """Make an issued challan's PDF if it has none and, when this call made it, send it to the owner."""
    challan, data, stored = await asyncio.to_thread(_make_document, session_factory, settings, challan_id)
    if stored:
        await send_challan(session_factory=session_factory, settings=settings, challan=challan, document=data)
    return challan


async def resend(
    *, session_factory: sessionmaker[Session], settings: Settings, challan_id: uuid.UUID
) -> list[Delivery]:
    """Send a challan to its owner again (staff asked: the first notice did not reach them)."""
    challan, data, _ = await asyncio.to_thread(_make_document, session_factory, settings, challan_id)
    return await send_challan(
        session_factory=session_factory, settings=settings, challan=challan, document=data
    )


async def resend_logged(
    *, session_factory: sessionmaker[Session], settings: Settings, challan_id: uuid.UUID
) -> None:
    """`resend`, run after a request has been answered: a failure is logged (the deliveries show it)."""
    try:
        await resend(session_factory=session_factory, settings=settings, challan_id=challan_id)
    except Exception:
        logger.exception("challan %s could not be sent again", challan_id)


# --- issuing ----------------------------------------------------------------------------------------------


def _issue_one(
    session_factory: sessionmaker[Session],
    settings: Settings,
    violation_id: uuid.UUID,
    now: dt.datetime | None,
) -> tuple[Challan, bool]:
    with transaction(session_factory) as session:
        return challans.issue(session=session, settings=settings, violation_id=violation_id, now=now)


async def issue_and_send(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    violation_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> tuple[Challan, bool]:
    """Issue the challan of a confirmed violation (once, however often asked), make its PDF, send it to the
    owner and put the plate on the unpaid hotlist if it crossed the threshold. Returns it and whether it is
    new.
    """
    challan, created = await asyncio.to_thread(_issue_one, session_factory, settings, violation_id, now)
    if created or challan.pdf_path is None:
        challan = await finish(session_factory=session_factory, settings=settings, challan_id=challan.id)
    if created:
        try:
            await asyncio.to_thread(_sync_plates, session_factory, [challan.plate])
        except Exception:  # the hourly sweep puts it right
            logger.exception("unpaid hotlist not updated for challan %s", challan.number)
    return challan, created


def _pending(session_factory: sessionmaker[Session], since: dt.datetime | None) -> list[uuid.UUID]:
    with session_factory() as session:
        session.connection(execution_options=READ_ONLY)
        return challans.confirmed_without_challan(session=session, since=since, limit=BATCH)


@dataclass
class Issuer:
    """Issues a challan for each confirmed violation that has none; remembers those that failed, to try
    them again after RETRY_S instead of every interval.
    """

    session_factory: sessionmaker[Session]
    settings: Settings
    retry_at: dict[uuid.UUID, float] = field(default_factory=dict)

    async def issue_pending(self, *, full: bool = False, now: dt.datetime | None = None) -> list[Challan]:
        """Issue and send the challans of confirmed violations without one (the last week's unless `full`)."""
        since = None if full else (now or utcnow()) - RECENT
        found = await asyncio.to_thread(_pending, self.session_factory, since)
        issued = []
        clock = time.monotonic()
        for violation_id in found:
            if self.retry_at.get(violation_id, 0.0) > clock:
                continue
            try:
                challan, created = await issue_and_send(
                    session_factory=self.session_factory,
                    settings=self.settings,
                    violation_id=violation_id,
                    now=now,
                )
            except SafecityError as exc:
                self.retry_at[violation_id] = clock + RETRY_S
                logger.error("violation %s: no challan issued (%s): %s", violation_id, exc.code, exc.message)
                continue
            except Exception:  # the database may be away: the next interval tries again
                self.retry_at[violation_id] = clock + RETRY_S
                logger.exception("violation %s: issuing failed", violation_id)
                continue
            self.retry_at.pop(violation_id, None)
            if created:
                issued.append(challan)
        return issued

    async def run(self, *, stop: asyncio.Event, every_s: float | None = None) -> None:
        """Look for violations to issue every `every_s` seconds until `stop` is set."""
        every = every_s or self.settings.challans.issue_every_s
        await periodic.repeat(
            stop, every, self.issue_pending, what="issuing challans for confirmed violations"
        )


# --- reminders, overdue, the unpaid hotlist ---------------------------------------------------------------


def _unpaid_list(session: Session, *, create: bool) -> uuid.UUID | None:
    """The unpaid-challans hotlist (province-wide: a vehicle's unpaid challans count in every district);
    created the first time a plate goes on it.
    """
    for found in hotlists.list_hotlists(session=session, principal=KEEPER):
        if found.kind == ListKind.UNPAID_CHALLANS and found.name == UNPAID_LIST:
            return found.id
    if not create:
        return None
    created = hotlists.create_hotlist(
        session=session,
        principal=KEEPER,
        data=HotlistIn(
            kind=ListKind.UNPAID_CHALLANS,
            name=UNPAID_LIST,
            agency="Traffic police (e-challans)",
            reason=f"Vehicles with {challans.unpaid_hotlist_threshold()} or more unpaid e-challans",
            legal_reference="Fine schedule (traffic/challans/fines.toml): unpaid_hotlist_threshold",
            instructions="Unpaid e-challans only: no pursuit. At a checkpoint, tell the driver the challans "
            "are unpaid and how to pay (the portal lists them).",
            match_mode=MatchMode.EXACT,
            severity=1,
        ),
    )
    return created.id


def sync_unpaid_hotlist(
    *, session: Session, plates: Iterable[str] | None = None
) -> tuple[list[str], list[str]]:
    """Put on the unpaid-challans hotlist every plate (of `plates`, or all) with at least the threshold of
    unpaid challans, and take off those below it; the entries go through the hotlists service (audited).
    Returns the plates added and removed. Payments and appeals call it for a plate whose challan closed.
    """
    wanted_plates = None if plates is None else sorted(set(plates))
    threshold = challans.unpaid_hotlist_threshold()
    if wanted_plates is None:
        over = set(challans.plates_over(session=session, threshold=threshold))
    else:
        counts = challans.unpaid_numbers(session=session, plates=wanted_plates)
        over = {p for p, numbers in counts.items() if len(numbers) >= threshold}
    list_id = _unpaid_list(session, create=bool(over))
    if list_id is None:
        return [], []
    query = select(HotlistEntry.plate, HotlistEntry.id).where(HotlistEntry.hotlist_id == list_id)
    if wanted_plates is not None:
        query = query.where(HotlistEntry.plate.in_(wanted_plates))
    listed: dict[str, uuid.UUID] = {row.plate: row.id for row in session.execute(query)}
    numbers = challans.unpaid_numbers(session=session, plates=sorted(over - listed.keys()))
    added = []
    for plate in sorted(over - listed.keys()):
        reason = f"{len(numbers[plate])} unpaid e-challans: {', '.join(numbers[plate])}"
        entry = EntryIn(
            plate=plate,
            reason=reason if len(reason) <= 500 else reason[:499] + "…",
            reference=numbers[plate][0],
            description="unpaid e-challans",
        )
        hotlists.add_entry(session=session, principal=KEEPER, hotlist_id=list_id, data=entry)
        added.append(plate)
    removed = []
    for plate in sorted(listed.keys() - over):
        hotlists.remove_entry(session=session, principal=KEEPER, hotlist_id=list_id, entry_id=listed[plate])
        removed.append(plate)
    if added or removed:
        logger.info("unpaid hotlist: %d plate(s) added, %d removed", len(added), len(removed))
    return added, removed


def _sync_plates(
    session_factory: sessionmaker[Session], plates: list[str] | None
) -> tuple[list[str], list[str]]:
    with transaction(session_factory) as session:
        return sync_unpaid_hotlist(session=session, plates=plates)


@dataclass
class SweepReport:
    """What one sweep did."""

    issued: list[str] = field(default_factory=list)  # challan numbers
    documents: list[str] = field(default_factory=list)  # PDFs made for challans that had none
    reminded: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    hotlisted: list[str] = field(default_factory=list)  # plates
    unlisted: list[str] = field(default_factory=list)


def _ids(
    session_factory: sessionmaker[Session], settings: Settings, now: dt.datetime
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    with session_factory() as session:
        session.connection(execution_options=READ_ONLY)
        return (
            challans.without_document(session=session),
            challans.reminders_due(session=session, settings=settings, now=now),
        )


def _claim(session_factory: sessionmaker[Session], challan_id: uuid.UUID, now: dt.datetime) -> Challan | None:
    with transaction(session_factory) as session:
        return challans.claim_reminder(session=session, challan_id=challan_id, now=now)


def _overdue(session_factory: sessionmaker[Session], now: dt.datetime) -> list[Challan]:
    with transaction(session_factory) as session:
        return challans.mark_overdue(session=session, now=now)


async def sweep(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    issuer: Issuer | None = None,
    now: dt.datetime | None = None,
) -> SweepReport:
    """One pass: issue for every confirmed violation without a challan, make missing PDFs, remind the
    challans due within `reminder_days`, mark the ones past due overdue (and tell their owners), then
    bring the unpaid hotlist in step. Each part goes on when another fails.
    """
    now = now or utcnow()
    report = SweepReport()
    issuer = issuer or Issuer(session_factory, settings)
    report.issued = [c.number for c in await issuer.issue_pending(full=True, now=now)]
    missing, due = await asyncio.to_thread(_ids, session_factory, settings, now)
    for challan_id in missing:
        try:
            challan = await finish(session_factory=session_factory, settings=settings, challan_id=challan_id)
            report.documents.append(challan.number)
        except Exception:
            logger.exception("the PDF of challan %s could not be made", challan_id)
    for challan_id in due:
        claimed = await asyncio.to_thread(_claim, session_factory, challan_id, now)
        if claimed is not None:
            await notify(
                session_factory=session_factory,
                settings=settings.challans,
                challan=claimed,
                notice=reminder_notice(settings, claimed),
            )
            report.reminded.append(claimed.number)
    while True:
        overdue = await asyncio.to_thread(_overdue, session_factory, now)
        for challan in overdue:
            await notify(
                session_factory=session_factory,
                settings=settings.challans,
                challan=challan,
                notice=overdue_notice(settings, challan),
            )
            report.overdue.append(challan.number)
        if len(overdue) < challans.OVERDUE_BATCH:
            break
    report.hotlisted, report.unlisted = await asyncio.to_thread(_sync_plates, session_factory, None)
    return report


async def run_sweeps(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    stop: asyncio.Event,
    every_s: float | None = None,
) -> None:
    """Sweep every `every_s` seconds (settings: an hour) until `stop` is set."""
    every = every_s or settings.challans.sweep_every_s
    issuer = Issuer(session_factory, settings)

    async def once() -> None:
        report = await sweep(session_factory=session_factory, settings=settings, issuer=issuer)
        logger.info(
            "challans sweep: %d issued, %d PDFs made, %d reminded, %d overdue, hotlist +%d -%d",
            len(report.issued),
            len(report.documents),
            len(report.reminded),
            len(report.overdue),
            len(report.hotlisted),
            len(report.unlisted),
        )

    await periodic.repeat(stop, every, once, what="the challans sweep")
