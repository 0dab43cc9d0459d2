"""`safecity migrate` seeds the fine schedules from fines.toml once: run again, it adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from safecity.cli import app
from safecity.core.db import create_db_engine
from safecity.traffic.challans import service as challans
from safecity.traffic.challans.models import Fine


def test_migrate_seeds_the_fines_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "safecity.db"
    monkeypatch.setenv("SAFECITY_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    runner = CliRunner()
    first = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())  # the console wraps long lines
    assert "fines KP from 2021-07-01 (16 lines)" in said and "fines PB from 2025-11-01 (13 lines)" in said
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0 and "none (already there)" in again.output
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Fine)) == len(challans.seed_lines()) == 29
    finally:
        engine.dispose()
