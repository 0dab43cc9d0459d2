"""The auditor's page: filters that never fail on empty values, names instead of ids, pages with counts,
a CSV file of the view, and a district auditor who sees the logins of their district's users."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory
from safecity.audit import labels
from safecity.audit import service as audit
from safecity.audit.models import AuditEntry
from safecity.auth import sessions
from safecity.cameras.models import Camera
from safecity.config import AuthSettings
from safecity.org.models import District

EMPTY = {"actor": "", "action": "", "object": "", "outcome": "", "purpose": "", "since": "", "until": ""}


def _camera(session: Session, district: District, name: str) -> Camera:
    camera = Camera(
        name=name, district_id=district.id, latitude=34.0, longitude=71.5, stream_url="rtsp://10.0.0.9/1"
    )
    session.add(camera)
    session.flush()
    return camera


def _rows(html: str) -> list[str]:
    body = html.split('data-testid="audit-entries"')[1].split("</tbody>")[0]
    return re.findall(r"<tr class=\"outcome-.*?</tr>", body, re.S)


def test_empty_filters_names_and_a_district_auditors_view(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    a, b = factory.district(), factory.district()
    ours = factory.user("operator", districts=[a], mfa=False)
    ours.full_name = "Nadia Khan"
    theirs = factory.user("operator", districts=[b], mfa=False)
    for user in (ours, theirs):  # logins carry no district
        sessions.login(session=session, policy=AuthSettings(), username=user.username, password=PASSWORD)
    camera = _camera(session, a, "Chowk Yadgar")
    audit.record(
        session=session,
        action="cameras.update",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=a.id,
        purpose="moved the camera",
    )
    auditor = login_as(factory.user("auditor", districts=[a]))

    page = auditor.get("/audit", params=EMPTY)  # what the form sends untouched: every field empty
    assert page.status_code == 200, page.text
    rows = _rows(page.text)
    logins = [r for r in rows if "auth.login" in r and ours.username in r]
    assert logins and all(f"Nadia Khan ({ours.username})" in r for r in logins)
    assert theirs.username not in page.text  # another district's user stays out of sight
    camera_row = next(r for r in rows if "cameras.update" in r)
    assert (
        f'<a href="/cameras/{camera.id}">Chowk Yadgar</a>' in camera_row
        and str(camera.id)[:8] + "…" not in camera_row
    )

    # A province-wide auditor sees both users' logins.
    everyone = login_as(factory.user("auditor"))
    both = everyone.get("/audit", params={**EMPTY, "action": "auth.login"}).text
    assert ours.username in both and theirs.username in both

    # Filters by object name and by words of the purpose; a bad date is said, not a failure.
    by_name = _rows(auditor.get("/audit", params={**EMPTY, "object": "chowk yadgar"}).text)
    assert len(by_name) == 1 and "cameras.update" in by_name[0]
    assert len(_rows(auditor.get("/audit", params={**EMPTY, "purpose": "moved"}).text)) == 1
    bad = auditor.get("/audit", params={**EMPTY, "since": "yesterday", "outcome": "maybe"})
    assert bad.status_code == 200 and "is not a date" in bad.text and "is not an outcome" in bad.text


def test_pages_with_counts_in_both_directions(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    district = factory.district()
    for n in range(120):
        audit.record(
            session=session, action="test.bulk", outcome="success", district_id=district.id, detail={"n": n}
        )
    client = login_as(factory.user("auditor", districts=[district]))

    first = client.get("/audit", params={**EMPTY, "action": "test.bulk"})
    assert "Entries 1 to 50 of 120" in first.text and len(_rows(first.text)) == 50
    older = re.search(r'href="\?([^"]*before_seq=\d+)" rel="next"', first.text)
    assert older and 'rel="prev"' not in first.text
    second = client.get("/audit?" + older.group(1).replace("&amp;", "&"))
    assert "Entries 51 to 100 of 120" in second.text and "action=test.bulk" in older.group(1)
    third_link = re.search(r'href="\?([^"]*before_seq=\d+)" rel="next"', second.text)
    assert third_link
    third = client.get("/audit?" + third_link.group(1).replace("&amp;", "&"))
    assert "Entries 101 to 120 of 120" in third.text and 'rel="next"' not in third.text
    newer = re.search(r'href="\?([^"]*after_seq=\d+)" rel="prev"', third.text)
    assert newer
    back = client.get("/audit?" + newer.group(1).replace("&amp;", "&"))
    assert "Entries 51 to 100 of 120" in back.text
    assert _rows(back.text)[0] == _rows(second.text)[0]


def test_names_are_looked_up_once_per_kind_not_once_per_entry(factory: Factory, session: Session) -> None:
    district = factory.district()
    for n in range(30):
        camera = _camera(session, district, f"Camera {n}")
        user = factory.user("operator", districts=[district], mfa=False)
        audit.record(
            session=session, action="x", outcome="success", object_type="camera", object_id=str(camera.id)
        )
        audit.record(
            session=session, action="x", outcome="success", object_type="user", object_id=str(user.id)
        )
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "x")))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        described = labels.describe(session=session, entries=entries)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2
    names = {d.name for d in described.values()}
    assert {f"Camera {n}" for n in range(30)} <= names


def test_the_filtered_view_exports_as_csv(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    district = factory.district()
    camera = _camera(session, district, "=cmd|' /C calc'!A0")  # a name a spreadsheet would run
    audit.record(
        session=session,
        action="cameras.update",
        outcome="success",
        object_type="camera",
        object_id=str(camera.id),
        district_id=district.id,
    )
    auditor = factory.user("auditor", districts=[district])
    client = login_as(auditor)
    page = client.get("/audit", params={**EMPTY, "action": "cameras.update"})
    assert 'href="/audit/export.csv?action=cameras.update"' in page.text
    exported = client.get("/audit/export.csv", params={**EMPTY, "action": "cameras.update"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["seq", "time", "who"] and len(rows) == 2
    assert rows[1][5] == "'=cmd|' /C calc'!A0" and rows[1][7] == str(camera.id)
    recorded = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "audit.export", AuditEntry.actor_id == auditor.id)
    ).one()
    assert recorded.detail["returned"] == 1


def test_the_api_filters_by_object_name_and_purpose_words(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    district = factory.district()
    camera = _camera(session, district, "Firdous Chowk")
    for purpose in ("FIR 12/2026 theft", "routine check"):
        audit.record(
            session=session,
            action="cameras.view",
            outcome="success",
            object_type="camera",
            object_id=str(camera.id),
            district_id=district.id,
            purpose=purpose,
        )
    client = login_as(factory.user("auditor"))
    found = client.get(
        "/api/v1/audit", params={"object": "Firdous Chowk", "purpose_contains": "12/2026", "purpose": "test"}
    )
    assert found.status_code == 200 and [e["purpose"] for e in found.json()] == ["FIR 12/2026 theft"]
    assert len(client.get("/api/v1/audit", params={"object": "camera", "action": "cameras.view"}).json()) == 2
