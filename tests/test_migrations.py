"""Migrations build exactly the schema the models describe, and go down and up again, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from conftest import new_database
from safecity import migrations, tables
from safecity.core.db import create_db_engine


def test_one_linear_history() -> None:
    engine = create_db_engine("sqlite://")
    script = ScriptDirectory.from_config(migrations.alembic_config(engine))
    assert len(script.get_heads()) == 1, "two migrations branch from one parent: chain them"


def test_schema_matches_the_models_and_round_trips(db_url: str, tmp_path: Path) -> None:
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        engine = create_db_engine(url)
        try:
            with engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
            migrations.downgrade(engine, "base")
            with engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() is None
            migrations.upgrade(engine)
            with engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
        finally:
            engine.dispose()


def test_an_existing_database_gives_the_built_in_roles_the_new_permission(
    db_url: str, tmp_path: Path
) -> None:
    with new_database(make_url(db_url).get_backend_name(), tmp_path) as url:
        engine = create_db_engine(url)
        try:
            migrations.downgrade(engine, "0010")
            with engine.begin() as conn:  # roles as `safecity migrate` seeded them before this release
                for role in ("admin", "supervisor", "operator"):
                    conn.execute(text("INSERT INTO roles VALUES (:r, :d)"), {"r": role, "d": role.title()})
                    conn.execute(
                        text(
                            "INSERT INTO role_permissions (role_name, permission) VALUES (:r, 'cameras.read')"
                        ),
                        {"r": role},
                    )
            migrations.upgrade(engine)
            grant = text("SELECT role_name FROM role_permissions WHERE permission = 'analytics.manage'")
            with engine.connect() as conn:
                assert sorted(conn.scalars(grant)) == ["admin", "supervisor"]
                assert "camera_id" in {c["name"] for c in inspect(conn).get_columns("events")}
            migrations.downgrade(engine, "0010")
            with engine.connect() as conn:
                assert list(conn.scalars(grant)) == []
                assert "camera_id" not in {c["name"] for c in inspect(conn).get_columns("events")}
                assert not inspect(conn).has_table("analytics_rules")
        finally:
            engine.dispose()


@pytest.fixture(autouse=True)
def _quiet_alembic(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="alembic")
