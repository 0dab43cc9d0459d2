"""The counter-terrorism schedule: a fetch of the list, a CSV import (dry run, all or nothing), and a
person's listing for the records pages.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.connectors import csvimport
from safecity.connectors.ctlist.models import Listing
from safecity.connectors.ctlist.schemas import CSV_HEADER, ImportReport, ListingIn, RowResult, SyncReport
from safecity.connectors.ctlist.sources import CtListSource
from safecity.core import csvfile
from safecity.core.db import utcnow
from safecity.core.identifiers import format_cnic, normalise_cnic

logger = logging.getLogger(__name__)

IMPORT = "records.manage"


def _held(session: Session, source: str) -> dict[str, Listing]:
    return {row.cnic: row for row in session.scalars(select(Listing).where(Listing.source == source))}


def _upsert(session: Session, held: dict[str, Listing], source: str, listings: Sequence[ListingIn]) -> int:
    """Insert or refresh the rows of `source`; the number of new ones."""
    now, new = utcnow(), 0
    for listing in listings:
        row = held.get(listing.cnic)
        if row is None:
            row = Listing(id=uuid.uuid4(), source=source)
            session.add(row)
            new += 1
        for name, value in listing.row().items():
            setattr(row, name, value)
        row.updated_at = now
    session.flush()
    return new


def sync(*, session: Session, source: CtListSource, today: dt.date | None = None) -> SyncReport:
    """Fetch the whole list and make the source's rows match it; does not commit.

    A CNIC held as listed but absent from the list is marked delisted today. Raises a ConnectorError when
    the list cannot be fetched (nothing changes then).
    """
    listings, refused = source.listings()
    held = _held(session, source.name)
    listed = {listing.cnic for listing in listings}
    new = _upsert(session, held, source.name, listings)
    gone = [row for cnic, row in held.items() if cnic not in listed and row.delisted_on is None]
    for row in gone:
        row.delisted_on = today or utcnow().date()
    session.flush()
    report = SyncReport(
        source=source.name, listed=len(listings), new=new, delisted=len(gone), refused=refused
    )
    if new or gone or refused:
        audit.record(
            session=session,
            action="ctlist.sync",
            outcome="success" if not refused else "failure",
            object_type="ct_listings",
            object_id=source.name,
            detail=report.model_dump(),
        )
    return report


def import_csv(
    *, session: Session, principal: Principal, text: str, dry_run: bool, file_name: str = "schedule.csv"
) -> ImportReport:
    """Check every row of a schedule file; unless `dry_run`, store them all, but only if none is bad.

    Rows are kept under the source "import:<file name>"; a CNIC already imported from that file is
    replaced. The import is one audit entry with its counts.
    """
    principal.require(IMPORT)
    name = csvfile.file_label(file_name, "schedule.csv")
    checked = csvimport.check_rows(
        text, header=CSV_HEADER, model=ListingIn, key=lambda r: r.cnic, what="listings"
    )
    source = f"import:{name}"[:64]
    held = _held(session, source)
    known = sum(1 for r in checked.good if r.cnic in held)
    report = ImportReport(
        dry_run=dry_run,
        file_name=name,
        rows=checked.rows,
        new=len(checked.good) - known,
        updated=known,
        imported=0,
        errors=len(checked.bad),
        results=[
            RowResult(row=b.row, cnic=b.shown, problems=b.problems)
            for b in checked.bad[: csvimport.MAX_REPORTED]
        ],
    )
    if dry_run or checked.bad:
        return report
    _upsert(session, held, source, checked.good)
    audit.record(
        session=session,
        action="ctlist.import",
        outcome="success",
        actor=principal,
        object_type="ct_listings",
        detail={"file": name, "rows": checked.rows, "new": report.new, "updated": report.updated},
    )
    logger.info("CT schedule: imported %d listings (%d new)", len(checked.good), report.new)
    return report.model_copy(update={"imported": len(checked.good)})


def listing_for(*, session: Session, cnic: str) -> Listing | None:
    """A person's listing: the current one from any source, else the latest delisted one; None if never
    listed (for the records pages; the caller checks the reader's right and audits the read). InvalidInput
    (bad_cnic) for a malformed CNIC."""
    key = format_cnic(normalise_cnic(cnic))
    rows = session.scalars(select(Listing).where(Listing.cnic == key)).all()
    if not rows:
        return None
    return max(rows, key=lambda r: (r.delisted_on is None, r.delisted_on or r.listed_on, r.updated_at))
