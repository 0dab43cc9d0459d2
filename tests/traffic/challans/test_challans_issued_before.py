"""Challans issued before public copies were made at issue: their packets held the copies, and the upgrade
gives each challan those, so its document and the portal show what they showed.
"""

from __future__ import annotations

import datetime as dt

from challan_data import confirmed_violation
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity import migrations
from safecity.config import Settings
from safecity.core.crypto import SecretBox
from safecity.core.db import create_db_engine
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan
from safecity.traffic.violations.models import Violation

NOW = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)


def test_a_challan_issued_before_keeps_the_public_copies_its_packet_holds(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    url, factory = own_db
    with factory() as session:
        challans.ensure_fines(session=session)
        district = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa")).district("PSW")
        violation = confirmed_violation(session, settings, district, occurred_at=NOW - dt.timedelta(days=1))
        challan, _ = challans.issue(session=session, settings=settings, violation_id=violation.id, now=NOW)
        session.commit()
        copies, manifest = challan.public_evidence, violation.evidence
    assert {c["role"] for c in copies} == {"public_before", "public_at", "public_after"}

    # As the earlier release left it: the public copies among the packet's own files, none on the challan.
    engine = create_db_engine(url)
    try:
        migrations.downgrade(engine, "0048")
        with engine.begin() as conn:
            conn.execute(
                update(Violation)
                .where(Violation.id == violation.id)
                .values(evidence={**manifest, "version": 1, "files": [*manifest["files"], *copies]})
            )
        migrations.upgrade(engine)
    finally:
        engine.dispose()

    with factory() as session:
        upgraded = session.get_one(Challan, challan.id)
        assert upgraded.public_evidence == copies
        document = challans.document(session=session, settings=settings, challan=upgraded)
    assert [image.role for image in document.images] == ["public_before", "public_at", "public_after"]
