"""A person of the records entered as the system would (each value's source kept), for the quality tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from safecity.records import service as records
from safecity.records.models import Person
from safecity.records.schemas import PersonIn


def add_person(session: Session, district_id: uuid.UUID, source: str = "own:clerk", **fields: Any) -> Person:
    """A person entered by hand by a clerk (own:clerk) unless another source is named; flushed."""
    person = records.add_person(
        session=session, data=PersonIn.model_validate(fields), district_id=district_id, source=source
    )
    session.flush()
    return person
