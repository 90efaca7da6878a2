"""Configuration: environment + TOML, and production mode refusing unsafe settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from proctorhub import config


def _env(tmp_path, **extra):
    return {"PROCTORHUB_VAR_DIR": str(tmp_path), **extra}


def test_local_run_generates_and_keeps_a_secret_key(tmp_path):
    first = config.load(_env(tmp_path))
    second = config.load(_env(tmp_path))
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_defaults_to_sqlite_under_var(tmp_path):
    cfg = config.load(_env(tmp_path))
    assert cfg.database_url == f"sqlite:///{tmp_path / 'proctorhub.sqlite3'}"
    cfg = config.load(_env(tmp_path, DATABASE_URL="postgres://u@h/db"))
    assert cfg.database_url == "postgres://u@h/db"


def test_toml_file_sets_providers_and_review_switches(tmp_path):
    path = tmp_path / "ph.toml"
    path.write_text('base_url = "https://ph.example.org/"\n[reviews]\nallow_review_updates = false\n'
                    '[providers.mock]\nreview_outcome = "passed"\n')
    cfg = config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(path)))
    assert cfg.base_url == "https://ph.example.org"
    assert cfg.reviews["allow_review_updates"] is False
    assert cfg.reviews["require_failure_second_reviews"] is True  # default kept
    assert cfg.providers["mock"]["review_outcome"] == "passed"


def test_example_config_file_loads(tmp_path):
    cfg = config.load(_env(tmp_path, PROCTORHUB_CONFIG="proctorhub.example.toml"))
    assert cfg.reviews["max_body_bytes"] == 1048576


@pytest.mark.parametrize("content, needle", [("[reviews\n", "not valid TOML")])
def test_broken_toml_is_a_clear_error(tmp_path, content, needle):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(config.ConfigError, match=needle):
        config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(path)))


@pytest.mark.parametrize("toml, needle", [
    ("[webhooks]\nsend_threads = \"8\"\n", r"\[webhooks\] send_threads must be a whole number >= 1, not '8'"),
    ("[webhooks]\nsend_threads = 0\n", r"send_threads must be a whole number >= 1, not 0"),
    ("[webhooks]\ntimeout_seconds = -1\n", r"\[webhooks\] timeout_seconds must be a number"),
    ("[outbox]\nbatch_size = 2.5\n", r"\[outbox\] batch_size must be a whole number"),
    ("[outbox]\nbase_delay_seconds = true\n", r"\[outbox\] base_delay_seconds must be a number"),
])
def test_outbox_numbers_are_checked_at_start(tmp_path, toml, needle):
    path = tmp_path / "outbox.toml"
    path.write_text(toml)
    with pytest.raises(config.ConfigError, match=needle):
        config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(path)))


def test_outbox_numbers_may_be_fractions_where_they_are_seconds(tmp_path):
    path = tmp_path / "outbox.toml"
    path.write_text("[outbox]\nbase_delay_seconds = 0.25\n[webhooks]\ntimeout_seconds = 0.3\n"
                    "send_threads = 2\n")
    cfg = config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(path)))
    assert cfg.outbox["base_delay_seconds"] == 0.25 and cfg.webhooks["send_threads"] == 2


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(tmp_path / "nope.toml")))


PROD_OK = {"PROCTORHUB_ENV": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "ph.example.org"}


def test_production_starts_with_safe_settings(tmp_path):
    cfg = config.load(_env(tmp_path, **PROD_OK))
    assert cfg.is_production and not cfg.debug


@pytest.mark.parametrize("change, needle", [
    ({"DEBUG": "true"}, "DEBUG is on"),
    ({"SECRET_KEY": ""}, "SECRET_KEY is missing"),
    ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
])
def test_production_refuses_unsafe_environment(tmp_path, change, needle):
    with pytest.raises(config.ConfigError, match=needle):
        config.load(_env(tmp_path, **{**PROD_OK, **change}))
    assert not (tmp_path / "secret_key").exists()  # never generates a secret in production


@pytest.mark.parametrize("toml, needle", [
    ("[reviews]\nallow_callback_simulation = true\n", "allow_callback_simulation"),
    ("[providers.mock]\nenabled = true\n", "dev-only provider"),
])
def test_production_refuses_dev_only_switches(tmp_path, toml, needle):
    path = tmp_path / "ph.toml"
    path.write_text(toml)
    with pytest.raises(config.ConfigError, match=needle):
        config.load(_env(tmp_path, PROCTORHUB_CONFIG=str(path), **PROD_OK))


def test_production_cli_refuses_to_start_and_says_why(tmp_path):
    env = {"PATH": "/usr/bin:/bin", **_env(tmp_path), "PROCTORHUB_ENV": "production",
           "DEBUG": "true"}
    result = subprocess.run([sys.executable, "-m", "proctorhub.cli", "check"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to start in production mode" in result.stderr
    assert "DEBUG is on" in result.stderr and "SECRET_KEY is missing" in result.stderr
