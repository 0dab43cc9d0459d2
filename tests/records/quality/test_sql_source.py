"""Importing from another department's database: a real second SQLite file the test creates, read through
one SELECT whose columns name the fields; URLs of other schemes and anything but one SELECT are refused;
credentials never shown."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.records.models import Person
from safecity.records.quality.models import ImportSource

URL = "/api/v1/records/quality/sources"
QUERY = "SELECT nic AS cnic, full_name AS name, father AS father_name, mobile AS phones FROM inmates;"


@pytest.fixture
def admin(factory: Factory, login_as: Callable[..., TestClient]) -> TestClient:
    return login_as(factory.user("admin"))


@pytest.fixture
def prisons(tmp_path: Path) -> Path:
    """The prisons department's database: a SQLite file with its own table and column names."""
    path = tmp_path / "prisons.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE inmates (nic TEXT, full_name TEXT, father TEXT, mobile TEXT)")
        db.executemany(
            "INSERT INTO inmates VALUES (?, ?, ?, ?)",
            [
                ("17301-1111111-1", "Gul Khan", "Sher Khan", "0300 1111111"),
                ("17301-2222222-1", "Robert'); DROP TABLE inmates;--", "", None),
                ("1730133", "Short Cnic", "", "042 111"),  # two problems
            ],
        )
    db.close()
    return path


def inmates(path: Path) -> int:
    with sqlite3.connect(path) as db:
        count = int(db.execute("SELECT count(*) FROM inmates").fetchone()[0])
    db.close()
    return count


def test_a_source_is_read_with_a_dry_run_first_and_stored_all_or_nothing(
    admin: TestClient, factory: Factory, prisons: Path, session: Session
) -> None:
    district = factory.district()
    added = admin.post(
        URL,
        json={
            "name": "prisons-kp",
            "kind": "persons",
            "district_id": str(district.id),
            "url": f"sqlite:///{prisons}",
            "query": QUERY,
        },
    )
    assert added.status_code == 201, added.text
    run = f"{URL}/{added.json()['id']}/run"

    checked = admin.post(f"{run}?dry_run=true").json()
    assert (checked["rows"], checked["new"], checked["errors"], checked["source"]) == (
        3,
        2,
        1,
        "import:prisons-kp",
    )
    problems = checked["results"][0]
    assert problems["line"] == 3 and len(problems["problems"]) == 2  # the CNIC and the phone
    refused = admin.post(f"{run}?dry_run=false")
    assert refused.status_code == 422
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Person)) == 0

    with sqlite3.connect(prisons) as db:
        db.execute("DELETE FROM inmates WHERE full_name = 'Short Cnic'")
    db.close()
    stored = admin.post(f"{run}?dry_run=false")
    assert stored.status_code == 200 and stored.json()["imported"] == 2
    session.expire_all()
    names = set(session.scalars(select(Person.name)))
    assert names == {"Gul Khan", "Robert'); DROP TABLE inmates;--"}
    assert inmates(prisons) == 2  # the source is only read


def test_other_schemes_and_anything_but_one_select_are_refused_and_credentials_never_shown(
    admin: TestClient, factory: Factory, prisons: Path, session: Session
) -> None:
    district = factory.district()

    def add(name: str, url: str, query: str = QUERY) -> tuple[int, str]:
        response = admin.post(
            URL,
            json={
                "name": name,
                "kind": "persons",
                "district_id": str(district.id),
                "url": url,
                "query": query,
            },
        )
        code = response.json()["error"]["code"] if response.status_code >= 400 else ""
        assert "s3cret" not in response.text
        return response.status_code, code

    assert add("mysql", "mysql://reader:s3cret@db.excise/vehicles") == (422, "bad_source_url")
    assert add("file", "file:///etc/passwd") == (422, "bad_source_url")
    assert add("junk", "not a url at all s3cret") == (422, "bad_source_url")
    assert add("memory", "sqlite://") == (422, "bad_source_url")
    for query in (
        "DELETE FROM inmates",
        "SELECT * FROM inmates; DROP TABLE inmates",
        "SELECT * FROM inmates -- and more",
        "WITH x AS (SELECT 1) DELETE FROM inmates",
        "UPDATE inmates SET nic = NULL",
    ):
        assert add("writes", f"sqlite:///{prisons}", query) == (422, "not_a_select"), query
    assert inmates(prisons) == 3

    # A password is kept sealed: not in the answer, the list, the table's shown URL or the audit entry.
    status, _ = add("excise", "postgresql+psycopg://reader:s3cret@127.0.0.1:1/excise")
    assert status == 201
    listed = admin.get(URL)
    assert "s3cret" not in listed.text and "127.0.0.1:1/excise" in listed.text
    source = session.scalars(select(ImportSource).where(ImportSource.name == "excise")).one()
    assert "s3cret" not in source.url_sealed and "s3cret" not in source.url_shown
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.import_source")).all()
    assert entries and all("s3cret" not in str(e.detail) for e in entries)
    # A source that does not answer: a plain message, without the credentials.
    failed = admin.post(f"{URL}/{source.id}/run?dry_run=true")
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "source_failed"
    assert "s3cret" not in failed.text

    # A SQLite file that is not there is an error; none is made on this server.
    assert add("gone", f"sqlite:///{prisons.with_name('gone.db')}") == (201, "")
    gone = session.scalars(select(ImportSource).where(ImportSource.name == "gone")).one()
    assert admin.post(f"{URL}/{gone.id}/run").json()["error"]["code"] == "source_failed"
    assert not prisons.with_name("gone.db").exists()


def test_a_source_of_another_district_is_not_seen(
    admin: TestClient, factory: Factory, login_as: Callable[..., TestClient], prisons: Path, session: Session
) -> None:
    mine, other = factory.district(), factory.district()
    added = admin.post(
        URL,
        json={
            "name": "theirs",
            "kind": "persons",
            "district_id": str(other.id),
            "url": f"sqlite:///{prisons}",
            "query": QUERY,
        },
    )
    clerk = factory.user("admin", districts=[mine])
    local = login_as(clerk)
    assert local.get(URL).json() == []
    assert local.post(f"{URL}/{added.json()['id']}/run").status_code == 404


def test_a_postgresql_source_is_read_in_a_read_only_transaction(
    admin: TestClient, factory: Factory, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL source is read from the PostgreSQL leg's own server")
    probe = f"probe_{uuid.uuid4().hex[:8]}"
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SEQUENCE {probe}"))
    try:
        district = factory.district()

        def source(name: str, query: str) -> str:
            body = {
                "name": name,
                "kind": "persons",
                "district_id": str(district.id),
                "url": db_url,
                "query": query,
            }
            added = admin.post(URL, json=body)
            assert added.status_code == 201, added.text
            return f"{URL}/{added.json()['id']}/run?dry_run=true"

        # nextval() writes: a read-only transaction refuses it.
        writes = admin.post(source("pg-writes", f"SELECT 'Probe' AS name, nextval('{probe}')::text AS notes"))
        assert writes.status_code == 422 and "read-only transaction" in writes.json()["error"]["message"]
        reads = admin.post(source("pg-reads", "SELECT '17301-5555555-1' AS cnic, 'Pg Person' AS name"))
        assert reads.status_code == 200 and reads.json()["new"] == 1
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SEQUENCE {probe}"))
        engine.dispose()


def test_the_import_page_adds_a_source_and_never_shows_its_password(
    admin: TestClient, factory: Factory, login_as: Callable[..., TestClient], prisons: Path
) -> None:
    district = factory.district()
    operator = login_as(factory.user("operator"))
    assert operator.get("/records/quality/imports").status_code == 403
    assert operator.get("/records/quality/duplicates").status_code == 403
    page = admin.get("/records/quality/imports")
    assert page.status_code == 200 and 'data-testid="source-form"' in page.text
    form = {"name": "prisons", "kind": "persons", "district_id": str(district.id), "query": QUERY}
    refused = admin.post("/records/quality/sources", data={**form, "url": "mysql://reader:s3cret@h/db"})
    assert refused.headers["HX-Retarget"] == "#flash" and "s3cret" not in refused.text
    added = admin.post("/records/quality/sources", data={**form, "url": f"sqlite:///{prisons}"})
    assert added.status_code == 204
    listed = admin.get("/records/quality/imports")
    assert "prisons.db" in listed.text and QUERY.removesuffix(";") in listed.text
    source_id = listed.text.split("/records/quality/sources/")[1].split("/run")[0]
    report = admin.post(f"/records/quality/sources/{source_id}/run", data={"dry_run": "1"})
    assert 'data-testid="import-report"' in report.text and "3 rows checked" in report.text
