"""The deployment examples (deploy/): every configuration file is one the system accepts in production, and
every systemd unit runs a command and options the CLI has, so the documented set-up cannot rot unseen."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
import typer

from safecity.cli import app
from safecity.config import load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SHARED = Path("/srv")  # where the examples mount the storage every node shares


def _secrets(config: Path) -> dict[str, str]:
    """The secrets every stack has, and those of this configuration's shape (`<name>.secrets.env.example`)."""
    files = [DEPLOY / "config" / "secrets.env.example", config.with_suffix(".secrets.env.example")]
    lines = [line for f in files if f.exists() for line in f.read_text(encoding="utf-8").splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("config", sorted((DEPLOY / "config").glob("*.toml")), ids=lambda p: p.name)
def test_each_example_configuration_starts_in_production(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFECITY_CONFIG_FILE", str(config))
    for name, value in _secrets(config).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.mode == "production" and settings.web.cookie_secure
    assert settings.database_url.get_secret_value().startswith("postgresql://")
    assert settings.bus_url.get_secret_value().startswith("nats://")
    assert not settings.video.run_in_web  # workers run the cameras
    # What one node writes and another serves lies on the storage every node mounts; each node's audit
    # checkpoints stay its own.
    shared = (settings.recordings_dir, settings.snapshots_dir, settings.evidence_dir, settings.challans_dir)
    assert all(
        folder.is_relative_to(SHARED) for folder in (*shared, settings.synopses_dir, settings.data_dir)
    )
    assert not settings.audit_checkpoint_path.is_relative_to(SHARED)
    federation = settings.federation
    if config.stem == "district":  # signs what it forwards, to a province it can reach
        assert federation.centre and federation.province_url.get_secret_value().startswith("nats://")
    if config.stem == "province":  # knows each centre's key, web stack and video token
        assert federation.centres and all(c.web_url and c.api_token for c in federation.centres.values())


@pytest.mark.parametrize("unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=lambda p: p.name)
def test_each_systemd_unit_runs_a_real_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit, encoding="utf-8")
    service = parser["Service"]
    assert service["User"] == "safecity"
    assert service["EnvironmentFile"] == "/etc/safecity/secrets.env"
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "safecity"
    command = typer.main.get_group(app).commands[argv[1]]  # KeyError: a command the CLI does not have
    options = {o for p in command.params for o in p.opts}
    assert {a for a in argv[2:] if a.startswith("--")} <= options
