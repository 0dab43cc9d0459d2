"""Other departments on a person's record: the identity service (a real HTTP service on 127.0.0.1) verifies
the CNIC and what it says is kept with its source beside the hand-entered values, never over them; the
prisons' and the counter-terrorism schedule's entries of the CNIC show on the record; a sick service gives a
clear message and the record still opens.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator

import cv2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from records.story import build
from safecity.audit.models import AuditEntry
from safecity.connectors.ctlist.models import Listing
from safecity.connectors.prisons.models import PrisonEvent
from safecity.records.models import Fact, Person, PersonPhoto

PURPOSE = "FIR 12/2026 PS Gulberg, the accused's identity"


@pytest.fixture
def identity() -> Iterator[Service]:
    with http_service("/verisys/v1/identities") as found:
        yield found


def _photo() -> bytes:
    from skimage import data

    face = cv2.cvtColor(data.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


def test_the_identity_service_fills_in_and_disagrees_beside_what_was_entered(
    identity: Service, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    story = build(session, district)
    session.add_all(
        [
            PrisonEvent(
                source="Prisons KP",
                remote_id="ev-77",
                cnic="35202-1234567-1",
                name="Muhammad Aslam",
                prison="Central Prison Peshawar",
                event="escaped",
                at=dt.datetime(2026, 11, 30, 22, 15, tzinfo=dt.UTC),
            ),
            Listing(
                cnic="35202-1234567-1",
                name="Muhammad Aslam",
                listed_on=dt.date(2025, 3, 1),
                source="CTD schedule",
            ),
        ]
    )
    session.commit()
    photo = _photo()
    identity.answer(
        "3520212345671",
        {
            "cnic": "3520212345671",
            "name_en": "Muhammad Aslam Khan",  # the record says "Muhammad Aslam": kept beside it
            "name_ur": "محمد اسلم خان",
            "guardian_name": "Ghulam Rasool",  # agrees with the record
            "guardian_relation": "father",
            "date_of_birth": "1991-06-02",  # the record has none: filled in
            "gender": "M",
            "present_address": "Mohalla Sethian, Peshawar",
            "photo": base64.b64encode(photo).decode(),
        },
    )
    admin = login_as(factory.user("admin"))
    investigator = login_as(factory.user("investigator", districts=[district], username="inv.nadra"))
    unconfigured = investigator.post(
        f"/api/v1/records/persons/{story.person_id}/identity", params={"purpose": PURPOSE}
    )
    assert unconfigured.status_code == 422 and unconfigured.json()["error"]["code"] == "no_identity"
    saved = admin.put(
        "/api/v1/connectors/NADRA",
        json={"type": "identity.rest", "config": {"url": identity.url}, "secrets": {"token": TOKEN}},
    )
    assert saved.status_code == 200, saved.text

    no_purpose = investigator.post(f"/api/v1/records/persons/{story.person_id}/identity")
    assert no_purpose.status_code == 422
    answer = investigator.post(
        f"/api/v1/records/persons/{story.person_id}/identity", params={"purpose": PURPOSE}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"date_of_birth", "gender", "photo"} <= set(body["changed"]) and "name" not in body["changed"]
    assert {"name", "name_ur"} <= set(body["differ"]) and "father_name" not in body["differ"]

    session.expire_all()
    person = session.get(Person, story.person_id)
    assert person is not None
    assert person.name == "Muhammad Aslam" and person.name_ur == "محمد اسلم"  # hand-entered values stand
    assert person.date_of_birth == dt.date(1991, 6, 2) and person.gender == "m"
    said = {
        (f.field, f.source, f.current): f.value
        for f in session.scalars(select(Fact).where(Fact.entity_id == story.person_id))
    }
    assert said[("name", "connector:NADRA", False)] == "Muhammad Aslam Khan"
    assert said[("father_name", "connector:NADRA", True)] == "Ghulam Rasool"  # now known from both
    assert said[("address", "connector:NADRA", True)] == "Mohalla Sethian, Peshawar"
    stored = session.scalars(select(PersonPhoto).where(PersonPhoto.person_id == story.person_id)).one()
    assert stored.source == "connector:NADRA"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.identity")).one()
    assert entry.purpose == PURPOSE and entry.actor_name == "inv.nadra"
    # Asking again adds nothing twice (the same photo, the same facts).
    again = investigator.post(
        f"/api/v1/records/persons/{story.person_id}/identity", params={"purpose": PURPOSE}
    )
    assert again.status_code == 200 and again.json()["changed"] == []
    assert (
        len(session.scalars(select(PersonPhoto).where(PersonPhoto.person_id == story.person_id)).all()) == 1
    )

    page = investigator.get(f"/records/persons/{story.person_id}", params={"purpose": PURPOSE})
    assert page.status_code == 200
    html = page.text
    assert "connector:NADRA said <bdi" in html and "Muhammad Aslam Khan" in html  # side by side
    assert 'data-testid="ct-listing"' in html and "On the counter-terrorism schedule" in html
    assert "escaped" in html and "Central Prison Peshawar" in html
    record = investigator.get(f"/api/v1/records/persons/{story.person_id}", params={"purpose": PURPOSE})
    assert record.json()["prison_events"][0]["event"] == "escaped"
    assert record.json()["ct_listing"]["listed_on"] == "2025-03-01"


def test_a_sick_identity_service_is_a_clear_message_and_the_record_still_opens(
    identity: Service, factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    story = build(session, district)
    session.commit()
    identity.answer("3520212345671", "<html><body>Service under maintenance</body></html>")
    admin = login_as(factory.user("admin"))
    assert (
        admin.put(
            "/api/v1/connectors/NADRA",
            json={
                "type": "identity.rest",
                "config": {"url": identity.url, "retries": 0},
                "secrets": {"token": TOKEN},
            },
        ).status_code
        == 200
    )
    investigator = login_as(factory.user("investigator", districts=[district]))
    pressed = investigator.post(
        f"/records/persons/{story.person_id}/identity",
        data={"purpose": PURPOSE},
        headers={"HX-Request": "true"},
    )
    assert pressed.headers.get("HX-Retarget") == "#flash" and "NADRA" in pressed.text
    page = investigator.get(f"/records/persons/{story.person_id}", params={"purpose": PURPOSE})
    assert page.status_code == 200 and "Muhammad Aslam" in page.text
    assert session.scalars(select(Fact).where(Fact.source == "connector:NADRA")).all() == []
