"""Configuration: one strict tree from the environment and a TOML file; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from safecity.config import DEV_PAYMENT_SECRET, Settings, load_settings

STRONG = "k" * 48


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFECITY_WEB__PORT", "9001")
    monkeypatch.setenv("SAFECITY_AUTH__LOCKOUT_MINUTES", "15")
    settings = load_settings()
    assert (settings.web.port, settings.auth.lockout_minutes) == (9001, 15)


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "safecity.toml"
    config.write_text('mode = "development"\n[web]\nport = 8100\nhost = "0.0.0.0"\n', encoding="utf-8")
    monkeypatch.setenv("SAFECITY_CONFIG_FILE", str(config))
    monkeypatch.setenv("SAFECITY_WEB__HOST", "127.0.0.2")
    settings = load_settings()
    assert (settings.web.port, settings.web.host) == (8100, "127.0.0.2")


def test_unknown_keys_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(web={"prot": 1})  # type: ignore[arg-type]
    config = tmp_path / "bad.toml"
    config.write_text("databse_url = 'x'\n", encoding="utf-8")
    monkeypatch.setenv("SAFECITY_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="databse_url"):
        load_settings()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({}, "secret_key"),
        ({"secret_key": SecretStr("short")}, "secret_key"),
        ({"secret_key": SecretStr(STRONG)}, "database_url"),
        (
            {"secret_key": SecretStr(STRONG), "database_url": SecretStr("postgresql://db/safecity")},
            "cookie_secure",
        ),
    ],
)
def test_production_refuses_default_or_missing_secrets(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(mode="production", **overrides)  # type: ignore[arg-type]


def test_production_accepts_a_complete_configuration() -> None:
    settings = Settings(
        mode="production",
        secret_key=SecretStr(STRONG),
        database_url=SecretStr("postgresql://safecity:pw@db/safecity"),
        web={"cookie_secure": True},  # type: ignore[arg-type]
    )
    assert settings.mode == "production"


def test_secrets_are_masked_everywhere() -> None:
    settings = Settings(
        secret_key=SecretStr(STRONG),
        database_url=SecretStr("postgresql://safecity:hunter2pw@db/safecity"),
        bus_url=SecretStr("nats://bus:natspw@nats:4222"),
    )
    shown = str(settings.redacted()) + repr(settings) + str(settings)
    for secret in (STRONG, "hunter2pw", "natspw"):
        assert secret not in shown
    assert settings.redacted()["database_url"] == "postgresql://safecity:***@db/safecity"


def test_challans_link_to_the_web_address_unless_given_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().challans.public_url == "http://127.0.0.1:8000"
    assert Settings(web={"port": 8080}).challans.public_url == "http://127.0.0.1:8080"  # type: ignore[arg-type]
    monkeypatch.setenv("SAFECITY_WEB__PUBLIC_URL", "https://safecity.kp.example/")
    assert load_settings().challans.public_url == "https://safecity.kp.example"
    monkeypatch.setenv("SAFECITY_CHALLANS__PUBLIC_URL", "https://echallan.kp.example")
    assert load_settings().challans.public_url == "https://echallan.kp.example"


def test_only_development_mode_takes_the_demo_banks_payments() -> None:
    assert Settings().challans.payment_secret == SecretStr(DEV_PAYMENT_SECRET)
    own = Settings(challans={"payment_secret": "bank-key-" + STRONG})  # type: ignore[arg-type]
    assert own.challans.payment_secret == SecretStr("bank-key-" + STRONG)
    complete: dict[str, object] = {
        "mode": "production",
        "secret_key": SecretStr(STRONG),
        "database_url": SecretStr("postgresql://safecity:pw@db/safecity"),
        "web": {"cookie_secure": True},
    }
    assert Settings(**complete).challans.payment_secret is None  # type: ignore[arg-type]  # no payments taken
    with pytest.raises(ValidationError, match="payment_secret must not be the development value"):
        Settings(**complete, challans={"payment_secret": DEV_PAYMENT_SECRET})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("federation", "problem"),
    [
        ({"centre": "lhr", "key": "k" * 40}, "province_url"),
        ({"centre": "lhr", "province_url": "nats://p:4222", "key": "short"}, "at least 32"),
        ({"centre": "lhr.x", "province_url": "nats://p:4222", "key": "k" * 40}, "centre"),
        ({"centres": {"LHR": {"key": "k" * 40, "district": "LHR"}}}, "centre codes"),
        (
            {"centres": {"lhr": {"key": "k" * 40, "district": "LHR", "web_url": "https://x/../admin"}}},
            "web_url",
        ),
        ({"centres": {"lhr": {"key": "short", "district": "LHR"}}}, "at least 32"),
    ],
)
def test_federation_refuses_an_incomplete_or_unsafe_set_up(
    federation: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(federation=federation)
