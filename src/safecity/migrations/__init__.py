"""Alembic migrations, run on SQLite and PostgreSQL alike (`safecity migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs on the given engine, with no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head", *, audit_key: bytes | None = None) -> None:
    """Bring the database schema up to `revision`; `audit_key` re-chains an audit log from before keying."""
    config = alembic_config(engine)
    config.attributes["audit_key"] = audit_key
    command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, *, audit_key: bytes | None = None) -> None:
    """Take the database schema down to `revision` (`audit_key`: to go below the keyed audit chain)."""
    config = alembic_config(engine)
    config.attributes["audit_key"] = audit_key
    command.downgrade(config, revision)


def is_current(engine: Engine) -> bool:
    """Whether the database's schema is at the latest revision."""
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
