"""The demo seeds a few records in Peshawar: `make run` shows persons, an FIR, a warrant and vehicles."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity import seed
from safecity.config import Settings
from safecity.records.models import Fir, FirParty, Person, PersonLink, Vehicle, Warrant


def test_the_demo_seeds_linked_records_once(
    session: Session, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safecity.video.demo

    monkeypatch.setattr(safecity.video.demo, "VTEST", tmp_path / "not-installed.avi")  # no footage: faster
    first = seed.demo(session=session, settings=settings)
    assert any(line.startswith("records of Imtiaz Ali") for line in first.added)
    people = {p.name: p for p in session.scalars(select(Person))}
    assert people["Gul Zaman"].name_ur == "گل زمان" and people["Gul Zaman"].cnic == "1730144556671"
    fir = session.scalars(select(Fir)).one()
    assert (fir.number, fir.year, fir.status.value) == (512, 2026, "under_investigation")
    roles = {
        (people_id, role.value)
        for people_id, role in session.execute(select(FirParty.person_id, FirParty.role))
    }
    assert (people["Gul Zaman"].id, "accused") in roles and (people["Imtiaz Ali"].id, "complainant") in roles
    owner = session.scalars(select(Vehicle.owner_id).where(Vehicle.plate_key == "LXR9021")).one()
    assert owner == people["Imtiaz Ali"].id
    assert session.scalars(select(Warrant.person_id)).one() == people["Gul Zaman"].id
    assert len(session.scalars(select(PersonLink)).all()) == 1
    again = seed.demo(session=session, settings=settings)
    assert not any(line.startswith("records of") for line in again.added)
    assert len(session.scalars(select(Person)).all()) == 4
