"""The issuing loop as the web process runs it (app lifespan, a real server on its own database): idle, it
asks the database one small question per interval; a violation confirmed meanwhile is issued and e-mailed
within an interval or two.
"""

from __future__ import annotations

import time
from pathlib import Path

from challan_data import OWNER, confirmed_violation, mail_server, with_delivery
from sqlalchemy import event, select

from conftest import Factory, serve, wait_until
from safecity.config import Settings
from safecity.core.db import transaction
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Challan

EVERY_S = 0.3


def test_the_web_process_issues_confirmed_violations(db_url: str, tmp_path: Path, settings: Settings) -> None:
    with mail_server() as box:
        live = with_delivery(settings, box, None)
        live = live.model_copy(
            update={"challans": live.challans.model_copy(update={"issue_every_s": EVERY_S})}
        )
        with serve(live, db_url, tmp_path) as app:
            engine = app.services.engine
            assert engine is not None
            statements: list[str] = []

            def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
                statements.append(statement)

            event.listen(engine, "before_cursor_execute", seen)
            time.sleep(EVERY_S * 5)  # idle: only the issuing loop's look, once per interval
            event.remove(engine, "before_cursor_execute", seen)
            # The issuing loop's part (other loops of the process, e.g. the connectors', ask their own
            # questions): nothing but the look, a SELECT of confirmed violations without a challan.
            ours = [s for s in statements if "traffic_" in s]
            assert 1 <= len(ours) <= 6, statements
            assert all(
                s.lstrip().upper().startswith("SELECT")
                and "traffic_violations" in s
                and "traffic_challans" in s
                for s in ours
            ), ours
            others = [s for s in statements if s not in ours]
            assert all(
                s.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK") or "connector" in s for s in others
            ), others

            with transaction(app.services.session_factory) as session:
                challans.ensure_fines(session=session)
                factory = Factory(session, app.services.mfa_box)
                violation = confirmed_violation(session, live, factory.district("PSW"), plate="LEC4321")
            wait_until(lambda: box.messages, within=30, message="no challan was e-mailed")
            (mail,) = box.messages
            assert mail["To"] == OWNER["email"]
            with app.services.session_factory() as session:
                challan = session.scalars(select(Challan).where(Challan.violation_id == violation.id)).one()
                assert challan.number in mail["Subject"] and challan.pdf_sha256 is not None
