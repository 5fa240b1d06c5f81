"""`postbacks token`: a new random token and the POSTBACKS_API_TOKENS entry the server accepts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from postbacks_cli.main import app as cli
from query_api.confinement import Confinement
from query_api.settings import QueryApiSettings


def _made(*arguments: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["token", *arguments])
    assert result.exit_code == 0, result.output
    first, _, entry = result.stdout.splitlines()
    return first.removeprefix("token: "), entry


def test_the_entry_grants_the_printed_token_what_was_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, entry = _made(
        "--scope", "logs:read", "--scope", "postbacks:write",
        "--publisher-id", "43", "--publisher-id", "42", "--offer-id", "7",
    )  # fmt: skip
    other, other_entry = _made()
    assert token != other
    assert len(token) == 64
    # Pasted into the variable beside another entry, as the output says.
    monkeypatch.setenv("POSTBACKS_API_TOKENS", "{" + f"{entry}, {other_entry}" + "}")
    table = QueryApiSettings().token_table
    assert table is not None
    grant = table.grant_of(token)
    assert grant is not None
    assert grant.scopes == {"logs:read", "postbacks:write"}
    assert grant.confinement == Confinement(frozenset({42, 43}), frozenset({7}))
    unconfined = table.grant_of(other)
    assert unconfined is not None
    assert unconfined.scopes == {"logs:read"}
    assert not unconfined.confinement.confined


def test_an_unknown_scope_is_refused_naming_the_scopes() -> None:
    result = CliRunner().invoke(cli, ["token", "--scope", "logs:write"])
    assert result.exit_code == 2
    assert "unknown scope 'logs:write'; scopes are logs:read, postbacks:write" in result.stderr
    assert result.stdout == ""
