"""The ClickHouse account and TLS settings fail at load, naming the variable, and reach the
driver as its options (TLS itself: tests/store/test_server_connection.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postbacks.settings import CommonSettings
from postbacks_cli.main import app as cli

UNSET = dict.fromkeys(
    (
        "CLICKHOUSE_URL",
        "POSTBACKS_CLICKHOUSE_URL",
        "POSTBACKS_CLICKHOUSE_USER",
        "POSTBACKS_CLICKHOUSE_PASSWORD",
        "POSTBACKS_CLICKHOUSE_CA_FILE",
        "POSTBACKS_CLICKHOUSE_CERT_FILE",
        "POSTBACKS_CLICKHOUSE_KEY_FILE",
    )
)


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n")
    return path


def _refusal(env: dict[str, str]) -> str:
    """What `postbacks migrate` says, loading the settings from `env`."""
    result = CliRunner().invoke(cli, ["migrate"], env={**UNSET, **env, "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    return result.stderr


def test_a_password_and_tls_files_need_a_server(pem: Path) -> None:
    refusal = _refusal({"POSTBACKS_CLICKHOUSE_PASSWORD": "hunter2"})
    assert refusal.startswith("invalid setting clickhouse_password (POSTBACKS_CLICKHOUSE_PASSWORD)")
    assert "CLICKHOUSE_URL is not set" in refusal
    assert "hunter2" not in refusal
    refusal = _refusal(
        {"CLICKHOUSE_URL": "http://ch:8123", "POSTBACKS_CLICKHOUSE_CA_FILE": str(pem)}
    )
    assert "(POSTBACKS_CLICKHOUSE_CA_FILE): Value error, is for TLS" in refusal
    assert "https://" in refusal


def test_a_tls_file_must_be_readable(tmp_path: Path, pem: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    refusal = _refusal(
        {"CLICKHOUSE_URL": "https://ch:8443", "POSTBACKS_CLICKHOUSE_CERT_FILE": str(missing)}
    )
    assert f"(POSTBACKS_CLICKHOUSE_CERT_FILE): Value error, {missing} is not a readable" in refusal
    if os.geteuid() != 0:  # root reads any file
        pem.chmod(0)
        refusal = _refusal(
            {"CLICKHOUSE_URL": "https://ch:8443", "POSTBACKS_CLICKHOUSE_CA_FILE": str(pem)}
        )
        assert "(POSTBACKS_CLICKHOUSE_CA_FILE)" in refusal


def test_a_client_certificate_needs_its_key(tmp_path: Path, pem: Path) -> None:
    https = {"CLICKHOUSE_URL": "https://ch:8443"}
    refusal = _refusal({**https, "POSTBACKS_CLICKHOUSE_CERT_FILE": str(pem)})
    assert "(POSTBACKS_CLICKHOUSE_KEY_FILE): Value error, must be set" in refusal
    assert "holds no private key" in refusal
    refusal = _refusal({**https, "POSTBACKS_CLICKHOUSE_KEY_FILE": str(pem)})
    assert "(POSTBACKS_CLICKHOUSE_KEY_FILE)" in refusal
    assert "set POSTBACKS_CLICKHOUSE_CERT_FILE too" in refusal
    both = tmp_path / "both.pem"
    both.write_text(pem.read_text() + "-----BEGIN PRIVATE KEY-----\n...\n")
    settings = CommonSettings.model_validate(
        {"clickhouse_url": "https://ch:8443", "clickhouse_cert_file": both}
    )
    assert settings.clickhouse_key_file is None  # the certificate's file holds it


def test_a_url_that_does_not_parse_is_refused_at_load() -> None:
    # An unencoded '/' and '@' in the password: the reason POSTBACKS_CLICKHOUSE_PASSWORD exists.
    refusal = _refusal({"CLICKHOUSE_URL": "http://writer:pa/ss@word@ch:8123/"})
    assert refusal.startswith("invalid setting CLICKHOUSE_URL (CLICKHOUSE_URL)")
    assert "POSTBACKS_CLICKHOUSE_PASSWORD" in refusal


def test_migrate_is_for_a_server() -> None:
    refusal = _refusal({})
    assert refusal.startswith("refusing to migrate: CLICKHOUSE_URL is not set")


def test_a_blank_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # `VAR=` (a compose file's `${VAR:-}`): the URL's account stands, no file is looked for.
    monkeypatch.setenv("CLICKHOUSE_URL", "https://writer:pw-7f3c9a@ch:8443/")
    for name in ("USER", "PASSWORD", "CA_FILE", "CERT_FILE", "KEY_FILE", "DATABASE"):
        monkeypatch.setenv(f"POSTBACKS_CLICKHOUSE_{name}", "")
    settings = CommonSettings()
    assert settings.clickhouse_url == "https://writer:pw-7f3c9a@ch:8443/"
    assert settings.clickhouse_user is None
    assert settings.clickhouse_password is None
    assert settings.clickhouse_ca_file is None
    assert settings.clickhouse_cert_file is None
    assert settings.clickhouse_key_file is None
    assert settings.clickhouse_database == "postbacks"
