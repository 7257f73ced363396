"""Settings: safe defaults for development, refusal in production without what matters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from docservice import create_app
from docservice.cli import main
from docservice.config import DeskSettings, Settings
from docservice.errors import ConfigurationError


def test_development_defaults_stay_inside_the_checkout(tmp_path: Path):
    settings = Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'docservice.sqlite3'}"
    assert settings.blob_path == tmp_path / "blobs"
    assert len(settings.secret_key) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    # The secret is kept: a restart does not log everyone out.
    assert Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path)}).secret_key == settings.secret_key


def test_production_refuses_to_start_without_secret_database_mail(tmp_path: Path):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"DOCSERVICE_ENV": "production", "DOCSERVICE_INSTANCE_PATH": str(tmp_path)})
    message = str(caught.value)
    for name in ("DOCSERVICE_SECRET_KEY", "DOCSERVICE_DATABASE_URL", "DOCSERVICE_SMTP_HOST"):
        assert name in message


def test_production_refuses_to_start_without_tsa_hsm_and_trust_roots(tmp_path: Path):
    env = {
        "DOCSERVICE_ENV": "production", "DOCSERVICE_INSTANCE_PATH": str(tmp_path),
        "DOCSERVICE_SECRET_KEY": "x" * 48, "DOCSERVICE_SMTP_HOST": "smtp.example.org",
        "DOCSERVICE_DATABASE_URL": "postgresql+psycopg://u@db/docservice",
        "DOCSERVICE_BASE_URL": "https://stages.example.be",
    }
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    for missing in ("TSA URL", "PKCS#11 module", "token label", "key label", "trust roots"):
        assert missing in message, missing

    roots = tmp_path / "roots.pem"
    roots.write_text("-----BEGIN CERTIFICATE-----\n")
    module = tmp_path / "libpkcs11.so"
    module.write_bytes(b"")
    settings = Settings.from_env({
        **env, "DOCSERVICE_TSA_URL": "https://tsa.example.org", "DOCSERVICE_SEAL": "pkcs11",
        "DOCSERVICE_PKCS11_MODULE": str(module), "DOCSERVICE_PKCS11_TOKEN": "school",
        "DOCSERVICE_PKCS11_KEY_LABEL": "seal", "DOCSERVICE_PKCS11_PIN": "1234",
        "DOCSERVICE_TRUST_ROOTS": str(roots),
    })
    assert settings.signatures.tsa_url == "https://tsa.example.org"


def test_production_needs_https_and_a_long_secret(tmp_path: Path):
    env = {"DOCSERVICE_ENV": "production", "DOCSERVICE_INSTANCE_PATH": str(tmp_path),
           "DOCSERVICE_SECRET_KEY": "short", "DOCSERVICE_SMTP_HOST": "smtp.example.org",
           "DOCSERVICE_DATABASE_URL": "postgresql+psycopg://u@db/docservice"}
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        Settings.from_env(env)
    with pytest.raises(ConfigurationError, match="https://"):
        Settings.from_env({**env, "DOCSERVICE_SECRET_KEY": "y" * 40})


def test_bad_values_are_named():
    with pytest.raises(ConfigurationError, match="DOCSERVICE_CONVERTERS must be a whole number"):
        Settings.from_env({"DOCSERVICE_CONVERTERS": "two"})
    with pytest.raises(ConfigurationError, match="DOCSERVICE_SMTP_SECURITY"):
        Settings.from_env({"DOCSERVICE_SMTP_SECURITY": "tls1.0"})


def test_the_verification_child_limits_are_read_and_checked(tmp_path: Path):
    env = {"DOCSERVICE_INSTANCE_PATH": str(tmp_path)}
    settings = Settings.from_env(env)
    assert (settings.verify_memory_mb, settings.verify_seconds) == (512, 20.0)
    settings = Settings.from_env({**env, "DOCSERVICE_VERIFY_MEMORY_MB": "1024",
                                  "DOCSERVICE_VERIFY_SECONDS": "7.5"})
    assert (settings.verify_memory_mb, settings.verify_seconds) == (1024, 7.5)
    for name, value in (("DOCSERVICE_VERIFY_MEMORY_MB", "64"),
                        ("DOCSERVICE_VERIFY_MEMORY_MB", "lots"),
                        ("DOCSERVICE_VERIFY_SECONDS", "0"), ("DOCSERVICE_VERIFY_SECONDS", "soon")):
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({**env, name: value})


def test_a_command_that_serves_nothing_needs_no_production_settings(tmp_path: Path):
    # `docservice verify` on an auditor's machine: no database, secret or mail, and nothing
    # written to the instance folder.
    settings = Settings.from_env({"DOCSERVICE_ENV": "production",
                                  "DOCSERVICE_INSTANCE_PATH": str(tmp_path / "instance")},
                                 serving=False)
    assert settings.database_url == "" and settings.secret_key == ""
    assert not (tmp_path / "instance").exists()


def test_the_desk_settings_are_read_with_the_others(tmp_path: Path):
    settings = Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path),
                                  "DOCSERVICE_REMINDER_OFFSETS": "1, 30,7",
                                  "DOCSERVICE_RISK_WINDOW_DAYS": "21",
                                  "DOCSERVICE_VERIFY_GRACE_SECONDS": "30"})
    assert settings.desk == DeskSettings(reminder_offsets=(30, 7, 1), risk_window_days=21,
                                         verify_grace_seconds=30.0)
    assert Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path)}).desk == DeskSettings()


BAD_DESK_VALUES = [("DOCSERVICE_REMINDER_OFFSETS", "14,soon"),
                   ("DOCSERVICE_REMINDER_OFFSETS", "7,0"),
                   ("DOCSERVICE_RISK_WINDOW_DAYS", "two weeks"),
                   ("DOCSERVICE_RISK_WINDOW_DAYS", "-1"),
                   ("DOCSERVICE_VERIFY_GRACE_SECONDS", "later")]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DOCSERVICE_* variable but a private instance folder."""
    for name in [n for n in os.environ if n.startswith("DOCSERVICE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOCSERVICE_INSTANCE_PATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("name", "value"), BAD_DESK_VALUES)
def test_a_bad_desk_setting_stops_the_app_at_start(clean_env: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   name: str, value: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        create_app()
    assert not (clean_env / "docservice.sqlite3").exists()  # refused before any work


@pytest.mark.parametrize(("name", "value"), BAD_DESK_VALUES[:1])
def test_a_bad_desk_setting_stops_every_command(clean_env: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                name: str, value: str):
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["jobs", "status"])
    assert result.exit_code == 1
    assert name in result.output
