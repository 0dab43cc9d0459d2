"""Two officers deciding the same violation at the same moment, on real threads with their own connections:
exactly one decision stands, the other officer gets `already_decided`, and one review row is written.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from review_world import make_camera, make_violation, register
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from conftest import Factory
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings, RegistrySettings, Settings
from safecity.connectors.vehicles.registries import build_registry
from safecity.core.crypto import SecretBox
from safecity.core.db import transaction
from safecity.core.errors import Conflict
from safecity.traffic.reviews import service as reviews
from safecity.traffic.reviews.models import Decision, Review
from safecity.traffic.violations.models import Violation, ViolationStatus

ROUNDS = 4


def _setup(
    factory_: sessionmaker[Session], settings: Settings
) -> tuple[list[uuid.UUID], Principal, Principal]:
    with transaction(factory_) as session:
        factory = Factory(session, SecretBox(settings.secret_key.get_secret_value(), "mfa"))
        district = factory.district()
        camera = make_camera(session, district)
        register(session, "LEA1234")
        ids = [make_violation(session, camera, settings.evidence_dir).id for _ in range(ROUNDS)]
        first, second = (
            factory.principal(factory.user("traffic_officer", districts=[district])) for _ in "ab"
        )
    return ids, first, second


def _race(
    factory_: sessionmaker[Session], violation_id: uuid.UUID, confirmer: Principal, rejecter: Principal
) -> dict[str, str]:
    """One officer confirms while another rejects, each on a thread and a connection of their own."""
    registry = build_registry(RegistrySettings())
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def act(who: Principal, decision: Decision) -> None:
        with factory_() as session:
            seen = session.get(Violation, violation_id)
            assert seen is not None and seen.version == 0
            barrier.wait(timeout=10)  # both have read version 0: now both decide
            try:
                reviews.decide(
                    session=session,
                    principal=who,
                    violation_id=violation_id,
                    decision=decision,
                    version=seen.version,
                    reason_code="not_a_violation" if decision == Decision.REJECT else None,
                    registry=registry,
                    policy=ChallanSettings(),
                )
                session.commit()
                outcomes[decision.value] = "decided"
            except Conflict as exc:
                session.rollback()
                outcomes[decision.value] = exc.code

    threads = [
        threading.Thread(target=act, args=(confirmer, Decision.CONFIRM)),
        threading.Thread(target=act, args=(rejecter, Decision.REJECT)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_officers_acting_at_once_give_one_decision(
    own_db: tuple[str, sessionmaker[Session]], settings: Settings
) -> None:
    url, factory_ = own_db
    if make_url(url).get_backend_name() == "sqlite":
        # Every SQLite write transaction begins IMMEDIATE (core/db.py): two never interleave, so there is
        # no race to lose there; test_a_decision_on_a_stale_version_is_refused covers the guard itself.
        pytest.skip("concurrent transactions interleave on PostgreSQL only")
    ids, confirmer, rejecter = _setup(factory_, settings)
    for violation_id in ids:
        outcomes = _race(factory_, violation_id, confirmer, rejecter)
        assert sorted(outcomes.values()) == ["already_decided", "decided"], outcomes
        with factory_() as session:
            row = session.get(Violation, violation_id)
            assert row is not None and row.version == 1
            winner = next(k for k, v in outcomes.items() if v == "decided")
            expected = ViolationStatus.CONFIRMED if winner == "confirm" else ViolationStatus.REJECTED
            assert row.status == expected
            written = session.scalar(
                select(func.count()).select_from(Review).where(Review.violation_id == violation_id)
            )
            assert written == 1
