"""Migrations build exactly the schema the models describe, and go down and up again, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
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


@pytest.fixture(autouse=True)
def _quiet_alembic(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="alembic")
