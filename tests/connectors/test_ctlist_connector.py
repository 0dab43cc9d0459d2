"""The counter-terrorism schedule (Fourth Schedule): fetched from a real HTTP list on 127.0.0.1 (a CNIC
gone from the list is marked delisted; a list that hangs or answers HTML changes nothing), and imported from
CSV with a dry run, all or nothing (a file with 5 % bad rows reports every one and stores none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Factory
from connectors.http_server import TOKEN, Service, http_service
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.connectors.base import ConnectorBadResponse, ConnectorTimeout
from safecity.connectors.ctlist import service as ctlist
from safecity.connectors.ctlist.models import Listing
from safecity.connectors.ctlist.schemas import CSV_HEADER
from safecity.connectors.ctlist.sources import RestCtList, RestCtListConfig
from safecity.core.errors import InvalidInput, PermissionDenied

HEADER = ",".join(CSV_HEADER)


def listing(cnic: str, name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "cnic": cnic,
        "name": name,
        "father_name": "Abdul Ghafoor",
        "district": "Peshawar",
        "listed_on": "12/03/2019",
        **overrides,
    }


@pytest.fixture
def service() -> Iterator[Service]:
    with http_service("/ctd/v1") as found:
        yield found


def source(service: Service) -> RestCtList:
    config = {"url": service.url, "token": TOKEN, "timeout_s": 0.4, "retries": 0}
    return RestCtList(RestCtListConfig.model_validate(config))


@pytest.fixture
def investigator(factory: Factory) -> Principal:
    return factory.principal(factory.user("investigator"))


def test_the_list_is_fetched_and_a_cnic_gone_from_it_is_delisted(service: Service, session: Session) -> None:
    service.answer(
        "listings",
        [
            listing("17301-1234567-2", "Gul Zaman"),
            listing("1730176543213", "محمد طارق", father_name="عبدالغفور"),
            listing("123", "Bad CNIC"),
        ],
    )
    feed = source(service)
    report = ctlist.sync(session=session, source=feed, today=dt.date(2026, 12, 6))
    assert (report.listed, report.new, report.delisted, report.refused) == (2, 2, 0, 1)
    found = ctlist.listing_for(session=session, cnic="1730112345672")
    assert found is not None and (found.name, found.listed_on, found.delisted_on) == (
        "Gul Zaman",
        dt.date(2019, 3, 12),
        None,
    )
    urdu = ctlist.listing_for(session=session, cnic="17301-7654321-3")
    assert urdu is not None and (urdu.name, urdu.father_name) == ("محمد طارق", "عبدالغفور")
    service.answer("listings", [listing("17301-1234567-2", "Gul Zaman")])
    again = ctlist.sync(session=session, source=feed, today=dt.date(2026, 12, 6))
    assert (again.new, again.delisted) == (0, 1)
    gone = ctlist.listing_for(session=session, cnic="17301-7654321-3")
    assert gone is not None and gone.delisted_on == dt.date(2026, 12, 6)
    assert ctlist.listing_for(session=session, cnic="35202-1234567-9") is None
    assert service.requests[0].authorisation == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("answer", "delay", "error", "message"),
    [
        ([], 2.0, ConnectorTimeout, "did not answer"),
        ("<!doctype html><title>Login</title>", 0, ConnectorBadResponse, "not JSON"),
        ({"listings": "soon"}, 0, ConnectorBadResponse, "other than a list"),
    ],
)
def test_a_failing_list_changes_nothing(
    service: Service, session: Session, answer: Any, delay: float, error: type[Exception], message: str
) -> None:
    service.answer("listings", [listing("17301-1234567-2", "Gul Zaman")])
    feed = source(service)
    ctlist.sync(session=session, source=feed)
    service.answer("listings", answer, delay_s=delay)
    with pytest.raises(error, match=message):
        ctlist.sync(session=session, source=feed)
    held = ctlist.listing_for(session=session, cnic="17301-1234567-2")
    assert held is not None and held.delisted_on is None


def _file(rows: int, bad_every: int = 0) -> str:
    lines = [HEADER]
    for i in range(rows):
        cnic = f"17301{i:07d}2"
        if bad_every and i % bad_every == 0:
            cnic = f"9{i:04d}"  # no CNIC
        lines.append(
            f'{cnic},"Robert\'); DROP TABLE ct_listings;--",Father {i},Peshawar,2020-01-{1 + i % 28:02d},'
        )
    return "\n".join(lines) + "\n"


def test_an_import_with_five_percent_bad_rows_reports_them_all_and_stores_none(
    session: Session, investigator: Principal
) -> None:
    text = _file(100, bad_every=20)
    dry = ctlist.import_csv(session=session, principal=investigator, text=text, dry_run=True)
    assert (dry.rows, dry.errors, dry.imported) == (100, 5, 0)
    assert [r.row for r in dry.results] == [2, 22, 42, 62, 82]
    assert all(r.problems[0].startswith("cnic:") for r in dry.results)
    real = ctlist.import_csv(session=session, principal=investigator, text=text, dry_run=False)
    assert (real.errors, real.imported) == (5, 0)
    assert session.scalars(select(Listing)).all() == []
    clean = ctlist.import_csv(session=session, principal=investigator, text=_file(100), dry_run=False)
    assert (clean.new, clean.imported) == (100, 100)
    stored = ctlist.listing_for(session=session, cnic="17301-0000003-2")
    assert stored is not None and stored.name == "Robert'); DROP TABLE ct_listings;--"
    again = ctlist.import_csv(session=session, principal=investigator, text=_file(100), dry_run=True)
    assert (again.new, again.updated) == (0, 100)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "ctlist.import")).one()
    assert entry.detail["new"] == 100


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("cnic,name\n17301-1234567-2,Gul\n", "bad_csv_header"),
        (HEADER + "\n", "empty_import"),
        (HEADER + "\n\x00\x00", "bad_encoding"),
    ],
)
def test_a_file_that_is_no_schedule_is_refused(
    text: str, code: str, session: Session, investigator: Principal
) -> None:
    with pytest.raises(InvalidInput) as refused:
        ctlist.import_csv(session=session, principal=investigator, text=text, dry_run=True)
    assert refused.value.code == code


def test_duplicate_and_out_of_order_rows_are_bad_rows(session: Session, investigator: Principal) -> None:
    text = "\n".join(
        [
            HEADER,
            "17301-1234567-2,Gul Zaman,,Peshawar,2020-01-01,",
            "1730112345672,Gul Zaman,,Peshawar,2020-01-01,",
            "17301-7654321-3,Sher Khan,,Mardan,2021-05-01,2020-01-01",
        ]
    )
    report = ctlist.import_csv(session=session, principal=investigator, text=text, dry_run=True)
    assert [(r.row, r.problems[0]) for r in report.results] == [
        (3, "cnic: 17301-1234567-2 is also on row 2"),
        (4, "row: delisted_on is before listed_on"),
    ]


def test_the_api_imports_with_a_dry_run_and_refuses_others(
    factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    investigator = login_as(factory.user("investigator"))
    dry = investigator.post("/api/v1/connectors/ctlist/imports", json={"csv": _file(3)})
    assert dry.status_code == 200 and dry.json()["dry_run"] is True and dry.json()["new"] == 3
    bad = investigator.post(
        "/api/v1/connectors/ctlist/imports?dry_run=false", json={"csv": _file(3, bad_every=2)}
    )
    assert bad.status_code == 422 and bad.json()["errors"] == 2
    done = investigator.post("/api/v1/connectors/ctlist/imports?dry_run=false", json={"csv": _file(3)})
    assert done.status_code == 200 and done.json()["imported"] == 3
    operator = login_as(factory.user("operator"))
    assert operator.post("/api/v1/connectors/ctlist/imports", json={"csv": _file(3)}).status_code == 403


def test_only_the_records_right_imports(session: Session, factory: Factory) -> None:
    with pytest.raises(PermissionDenied):
        ctlist.import_csv(
            session=session,
            principal=factory.principal(factory.user("operator")),
            text=_file(1),
            dry_run=True,
        )
