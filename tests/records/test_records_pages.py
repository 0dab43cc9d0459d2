"""The records pages: a person opens only with a purpose (break glass beyond one's districts), shows each
field's source, FIRs, warrants, vehicles and sightings; one click from a plate hit or an incident; who read
it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from records.story import CLERK, Story, build
from safecity.analytics.plates.hotlists.models import HotlistHit
from safecity.audit.models import AuditEntry
from safecity.incidents import service as incidents
from safecity.incidents.models import Category
from safecity.incidents.schemas import IncidentIn
from safecity.org.models import District
from safecity.records import service as records
from safecity.records.models import Sensitivity


def _story(factory: Factory, session: Session) -> tuple[District, Story]:
    district = factory.district()
    return district, build(session, district)


def test_a_person_opens_with_a_purpose_and_shows_the_whole_record(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district, story = _story(factory, session)
    investigator = login_as(factory.user("investigator", districts=[district], username="inv.page"))
    asked = investigator.get(f"/records/persons/{story.person_id}")
    assert asked.status_code == 200 and 'data-testid="purpose-form"' in asked.text
    assert "Muhammad Aslam" not in asked.text  # nothing of the record before the purpose
    page = investigator.get(
        f"/records/persons/{story.person_id}", params={"purpose": "FIR 12/2026 PS Gulberg"}
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert '<span dir="rtl" lang="ur" data-testid="person-name-ur">محمد اسلم</span>' in html
    assert "35202-1234567-1" in html and "own:records-clerk" in html  # the value and where it came from
    assert "12/2026 PS Gulberg" in html and "accused" in html
    assert re.search(r'class="warrant active" data-state="active"', html)
    assert re.search(r'class="warrant expired" data-state="expired"', html)
    assert "LEB-1234" in html and "Kalma Chowk" in html  # the vehicle and its plate read
    assert ("[31.504" not in html and '"lat": 31.504' in html.replace("&#34;", '"')) or "31.504" in html
    read = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "records.read", AuditEntry.object_id == str(story.person_id)
        )
    ).one()
    assert read.purpose == "FIR 12/2026 PS Gulberg" and read.actor_name == "inv.page"


def test_a_plate_hit_and_an_incident_open_the_linked_records_in_one_click(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district, story = _story(factory, session)
    user = factory.user("investigator", "operator", districts=[district])
    client = login_as(user)
    pane = client.get(f"/console/alerts/{story.alert_id}")
    link = re.search(r'href="(/records/linked\?plate=[^"]+)"[^>]*data-testid="open-records"', pane.text)
    assert link is not None, pane.text
    opened = client.get(link.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"].startswith(
        f"/records/persons/{story.person_id}?purpose=Alert+{story.alert_id}"
    )
    assert "Muhammad Aslam" in client.get(opened.headers["location"]).text
    # An incident opened from the hit links the vehicle of its plate, and the FIR's parties.
    incident = incidents.create_incident(
        session=session,
        principal=factory.principal(user),
        data=IncidentIn(district_id=district.id, category=Category.VEHICLE_THEFT, title="Stolen car sighted"),
    )
    session.scalars(select(HotlistHit)).one().incident_id = incident.id
    session.commit()
    detail = client.get(f"/incidents/{incident.id}")
    href = re.search(r'href="(/records/linked\?incident_id=[^"]+)"', detail.text)
    assert href is not None
    linked = client.get(href.group(1).replace("&amp;", "&"))
    assert "LEB-1234" in linked.text and "owner of LEB-1234" in linked.text
    assert f"purpose=Incident+{incident.number}" in linked.text.replace("%20", "+")


def test_another_district_breaks_glass_and_an_auditor_sees_who_read(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    _district, story = _story(factory, session)
    outsider = login_as(factory.user("investigator", districts=[factory.district()], username="inv.far"))
    asked = outsider.get(f"/records/persons/{story.person_id}", params={"purpose": "case 44"})
    assert asked.status_code == 403 and 'data-testid="break-glass-note"' in asked.text
    read = outsider.get(
        f"/records/persons/{story.person_id}",
        params={"purpose": "case 44", "reason": "Suspect crossed into our district tonight"},
    )
    assert read.status_code == 200 and 'data-testid="break-glass-banner"' in read.text
    auditor = login_as(factory.user("auditor"))
    reads = auditor.get(f"/records/persons/{story.person_id}/reads")
    assert reads.status_code == 200 and "inv.far" in reads.text and "case 44" in reads.text
    assert outsider.get(f"/records/persons/{story.person_id}/reads").status_code == 403


def test_a_sensitive_person_page_is_not_found(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district, story = _story(factory, session)
    person = records.get_person(session=session, principal=CLERK, person_id=story.person_id)
    person.sensitivity = Sensitivity.VICTIM
    investigator = login_as(factory.user("investigator", districts=[district]))
    assert investigator.get(f"/records/persons/{story.person_id}?purpose=case 5").status_code == 404
    assert investigator.get(f"/records/persons/{uuid.uuid4()}?purpose=case 5").status_code == 404


def test_the_person_form_enters_and_edits_a_record_with_urdu_names_and_clear_refusals(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    investigator = login_as(factory.user("investigator", districts=[district], username="inv.form"))
    form = {
        "name": "Sher  Zaman",
        "name_ur": "شیر زمان",
        "cnic": "17301-7654321-3",
        "father_name": "Gul Zaman",
        "date_of_birth": "1990-01-31",
        "aliases": "Sheru\nZaman Khan",
        "phones": "0301 2345678",
    }
    bad = investigator.post("/records/persons", data={**form, "cnic": "1730"}, headers={"HX-Request": "true"})
    assert bad.headers.get("HX-Retarget") == "#flash" and "13 digits" in bad.text
    made = investigator.post("/records/persons", data=form, headers={"HX-Request": "true"})
    assert made.status_code == 204, made.text
    person_id = uuid.UUID(made.headers["HX-Redirect"].split("/")[3].split("?")[0])
    edited = investigator.post(
        f"/records/persons/{person_id}",
        data={**form, "identifying_marks": "scar on the left hand", "purpose": "case 9"},
        headers={"HX-Request": "true"},
    )
    assert edited.status_code == 204, edited.text
    session.expire_all()
    person = records.get_person(session=session, principal=CLERK, person_id=person_id)
    assert (person.name, person.name_ur, person.cnic) == ("Sher Zaman", "شیر زمان", "1730176543213")
    assert person.identifying_marks == "scar on the left hand" and person.district_id == district.id
    page = investigator.get(f"/records/persons/{person_id}", params={"purpose": "case 9"})
    assert "Sheru" in page.text and "+923012345678" in page.text and "own:inv.form" in page.text
