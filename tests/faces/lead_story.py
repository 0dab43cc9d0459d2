"""A person of the records on a watchlist, her astronaut photo enrolled, under a live authorisation for one
camera: what the face-lead tests start from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from faces_data import Place, astronaut_jpeg, authorise, listed_entry, place
from sqlalchemy.orm import Session

from conftest import Factory
from safecity.analytics.faces.engine import FaceEngine
from safecity.auth.principal import Principal
from safecity.core.crypto import SecretBox
from safecity.faces import service as faces
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
    entry = listed_entry(session, requester, district, here.person_id)
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
        authorise(session, requester, approver, district, entry.watchlist_id, cameras=[here.camera_id])
        if authorised
        else None
    )
    return Listed(here, entry.watchlist_id, entry.id, enrolment_id, authorisation_id, requester, approver)
