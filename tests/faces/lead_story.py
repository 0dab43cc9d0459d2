"""A person of the records on a watchlist, her astronaut photo enrolled, under a live authorisation for one
camera: what the face-lead tests start from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from faces_data import Place, astronaut_jpeg, place, watchlist_in
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.analytics.faces.engine import FaceEngine
from safecity.auth.principal import Principal
from safecity.core.crypto import SecretBox
from safecity.faces import service as faces
from safecity.faces.models import AuthorisationKind
from safecity.faces.schemas import AuthorisationIn, EntryIn
from safecity.org.models import District


@dataclass(frozen=True)
class Listed:
    """Who is sought, where, under which authorisation (None: none was asked for)."""

    place: Place
    watchlist_id: uuid.UUID
    entry_id: uuid.UUID
    enrolment_id: uuid.UUID
    authorisation_id: uuid.UUID | None
    requester: Principal
    approver: Principal


def listed(
    session: Session,
    factory: Factory,
    engine: FaceEngine,
    box: SecretBox,
    district: District,
    *,
    authorised: bool = True,
) -> Listed:
    """Eileen Collins wanted on a watchlist with her astronaut photo enrolled; optionally authorised live on
    the camera (requested by an investigator, approved by a supervisor).
    """
    requester = factory.principal(factory.user("investigator", districts=[district]))
    approver = factory.principal(factory.user("supervisor", districts=[district]))
    here = place(session, district)
    watchlist = faces.create_watchlist(session=session, principal=requester, data=watchlist_in(district))
    entry = faces.add_entry(
        session=session,
        principal=requester,
        watchlist_id=watchlist.id,
        data=EntryIn(person_id=here.person_id, reason="Warrant 12/2026 of the Judicial Magistrate"),
    )
    report = faces.enrol(
        session=session,
        principal=requester,
        engine=engine,
        box=box,
        entry_id=entry.id,
        photos=[("astronaut.jpg", astronaut_jpeg())],
    )
    enrolment_id = report.results[0].enrolment_id
    assert enrolment_id is not None, report
    authorisation_id = (
        authorise(session, requester, approver, watchlist.id, here.camera_id, district)
        if authorised
        else None
    )
    return Listed(here, watchlist.id, entry.id, enrolment_id, authorisation_id, requester, approver)


def authorise(
    session: Session,
    requester: Principal,
    approver: Principal,
    watchlist_id: uuid.UUID,
    camera_id: uuid.UUID,
    district: District,
) -> uuid.UUID:
    """A live authorisation for the camera and watchlist, current from a minute ago for a day, approved."""
    now = dt.datetime.now(dt.UTC)
    asked = faces.request_authorisation(
        session=session,
        principal=requester,
        data=AuthorisationIn(
            kind=AuthorisationKind.LIVE,
            legal_basis="Order of the Sessions Judge, Lahore, 4/2026",
            purpose="Find Eileen Collins, wanted under warrant 12/2026",
            district_id=district.id,
            watchlist_ids=[watchlist_id],
            camera_ids=[camera_id],
            starts_at=now - dt.timedelta(minutes=1),
            ends_at=now + dt.timedelta(days=1),
        ),
    )
    faces.approve_authorisation(session=session, principal=approver, authorisation_id=asked.id)
    return asked.id
