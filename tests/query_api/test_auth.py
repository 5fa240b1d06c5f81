"""Bearer tokens and scopes on the served API (ASGI in process, chDB, the embedded broker), and
how the commands start with and without POSTBACKS_API_TOKENS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from typer.testing import CliRunner

from postbacks.embedded_broker import free_port
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks_cli.dev import DevSettings
from postbacks_cli.main import app as cli
from query_api.app import build_app
from query_api.auth import Scope, TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.guardrails import QueryLimits
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings
from tests.attempts import attempt_record, insert_attempts
from tests.serving import running, served

READER = "reader-6f1c2b9d0e7a4c15"
WRITER = "writer-b94e07aa13d2f668"
BOTH = "admin-0d5a9e3c7b21f84e"
TOKENS: dict[str, list[Scope]] = {
    READER: ["logs:read"],
    WRITER: ["postbacks:write"],
    BOTH: ["logs:read", "postbacks:write"],
}
UNKNOWN = "reader-6f1c2b9d0e7a4c16"  # one character off READER
SECRETS = (READER, WRITER, BOTH, UNKNOWN)
CONFIG = {"name": "Acme", "type": "Conversion", "url": "https://acme.example/pb?t={transaction_id}"}
MISSING = "00000000-0000-4000-8000-000000000000"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line of the test, whatever its level (pytest's own capture may be off)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    records = Records()
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    yield records.lines
    # `postbacks query-api` reconfigures logging (basicConfig(force=True)): put it back.
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def app(embedded_store: EmbeddedStore, publisher: DispatcherPublisher) -> FastAPI:
    return build_app(embedded_store, publisher, tokens=TokenTable(TOKENS))


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def insert_failed(store: EmbeddedStore, count: int) -> None:
    records = [
        attempt_record(
            attempted_at=datetime.now(UTC), status="Failed",
            postback_id=uuid.uuid4(), postback_name="Acme", postback_type="Conversion",
            offer_id=1, publisher_id=1, transaction_id=f"tx-{n}", response_code=500,
            url="http://127.0.0.1/pb", latency_ms=1, source="{}",
        )
        for n in range(count)
    ]  # fmt: skip
    await insert_attempts(store, records)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()["error"]
    assert body["code"]
    assert body["message"]
    return body


async def created_id(api: httpx.AsyncClient) -> str:
    answer = await api.post("/api/v1/postbacks", json=CONFIG, headers=bearer(WRITER))
    assert answer.status_code == 201, answer.text
    config_id: str = answer.json()["id"]
    return config_id


# method, path ({id}: a configuration that exists), body, a token that may, one that may not,
# the status the allowed call gets, the scope named when refused.
ROUTES = [
    ("GET", "/api/v1/logs", None, READER, WRITER, 200, "logs:read"),
    ("GET", "/api/v1/logs/count", None, READER, WRITER, 200, "logs:read"),
    ("GET", f"/api/v1/logs/{MISSING}", None, READER, WRITER, 404, "logs:read"),
    ("GET", "/api/v1/stats/failure-rate", None, READER, WRITER, 200, "logs:read"),
    ("GET", "/api/v1/postbacks", None, READER, None, 200, ""),
    ("GET", "/api/v1/postbacks", None, WRITER, None, 200, ""),
    ("GET", "/api/v1/postbacks/{id}", None, READER, None, 200, ""),
    ("POST", "/api/v1/postbacks", {**CONFIG, "name": "B"}, WRITER, READER, 201, "postbacks:write"),
    ("PUT", "/api/v1/postbacks/{id}", CONFIG, WRITER, READER, 200, "postbacks:write"),
    ("POST", f"/api/v1/postbacks/{MISSING}/test", None, WRITER, READER, 404, "postbacks:write"),
    ("DELETE", "/api/v1/postbacks/{id}", None, BOTH, READER, 204, "postbacks:write"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "allowed", "denied", "status", "scope"), ROUTES)
async def test_each_route_group_needs_a_token_with_its_scope(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any,
    allowed: str,
    denied: str | None,
    status: int,
    scope: str,
) -> None:
    if "{id}" in path:
        path = path.replace("{id}", await created_id(api))

    async def call(token: str | None) -> httpx.Response:
        return await api.request(method, path, json=body, headers=bearer(token))

    missing = await call(None)
    assert "needs a bearer token" in error_of(missing, 401)["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_scheme = await api.request(method, path, json=body, headers={"Authorization": READER})
    assert error_of(wrong_scheme, 401)["code"] == "unauthorized"
    unknown = await call(UNKNOWN)
    assert "not one this server accepts" in error_of(unknown, 401)["message"]
    assert unknown.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    if denied is not None:
        refused = error_of(await call(denied), 403)
        assert refused["code"] == "forbidden"
        assert f"needs a token with the {scope} scope" in refused["message"]
    answer = await call(allowed)
    assert answer.status_code == status, answer.text


async def test_operations_and_documentation_stay_open(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert (await api.get(path)).status_code == 200, path
    document = (await api.get("/openapi.json")).json()
    assert "HTTPBearer" in document["components"]["securitySchemes"]


async def test_no_token_shows_in_answers_or_logs(
    api: httpx.AsyncClient,
    logs: list[str],
    embedded_store: EmbeddedStore,
    publisher: DispatcherPublisher,
) -> None:
    answers = []
    for token in [*SECRETS, f"{READER}x", None]:
        for method, path in [
            ("GET", "/api/v1/logs"),
            ("GET", "/api/v1/logs?from=2000-01-01T00:00:00Z"),  # refused by the span check
            ("POST", "/api/v1/postbacks"),
            ("DELETE", f"/api/v1/postbacks/{MISSING}"),
        ]:
            answers.append(await api.request(method, path, json=CONFIG, headers=bearer(token)))
    # A query stopped at its limits is logged: that line must not carry the token either.
    tiny = build_app(
        embedded_store, publisher, tokens=TokenTable(TOKENS), limits=QueryLimits(max_rows_to_read=1)
    )
    await insert_failed(embedded_store, 3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=tiny), base_url="http://api"
    ) as client:
        answers.append(await client.get("/api/v1/logs", headers=bearer(READER)))
    assert answers[-1].status_code == 400
    assert any("stopped at its limits" in line for line in logs)
    seen = "\n".join([*logs, *(f"{a.headers}\n{a.text}" for a in answers)])
    for secret in SECRETS:
        assert secret not in seen
    assert repr(TokenTable(TOKENS)) == "TokenTable(3 tokens)"


def test_a_token_is_found_by_its_whole_value_only() -> None:
    table = TokenTable(TOKENS)
    assert table.scopes_of(READER) == frozenset(TOKENS[READER])
    assert table.scopes_of(BOTH) == frozenset(TOKENS[BOTH])
    for other in (UNKNOWN, READER[:-1], READER + "0", "", READER.upper()):
        assert table.scopes_of(other) is None


BAD_TOKENS = [
    ("{not json", "not valid JSON"),
    ('["sekrit-1"]', "JSON object"),
    ("{}", "holds no tokens"),
    ('{"": ["logs:read"]}', "token #1 is empty"),
    ('{"ok-token": ["logs:read"], "sekrit 2": ["logs:read"]}', "token #2 has characters"),
    ('{"sekrit-1": ["logs:write"]}', "unknown scope 'logs:write'"),
    ('{"sekrit-1": []}', "non-empty list of scopes"),
    ('{"sekrit-1": "logs:read"}', "give a list of scopes"),
    ('{"sekrit-1": {"publisher_ids": [42]}}', "token #1 has no 'scopes'"),
    ('{"sekrit-1": {"scopes": [], "publisher_ids": [42]}}', "non-empty list of scopes"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher_ids": []}}', "'publisher_ids' must be"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher_ids": 42}}', "'publisher_ids' must be"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher_ids": ["42"]}}', "'publisher_ids' must"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher_ids": [true]}}', "'publisher_ids' must"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "offer_ids": [1.5]}}', "'offer_ids' must be"),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher_ids": [-1]}}', "outside 0.."),
    ('{"sekrit-1": {"scopes": ["logs:read"], "publisher": [1]}}', "unknown key 'publisher'"),
    (
        '{"sekrit-1": {"scopes": ["logs:read"], "offer_ids": [1], "offer_ids": [2]}}',
        "an entry gives 'offer_ids' twice",
    ),
    ('{"sekrit-1": ["logs:read"], "sekrit-1": ["postbacks:write"]}', "token #2 repeats token #1"),
]


@pytest.mark.parametrize(("value", "says"), BAD_TOKENS)
def test_invalid_tokens_are_refused_at_start_naming_the_variable(
    value: str, says: str, monkeypatch: pytest.MonkeyPatch, logs: list[str]
) -> None:
    monkeypatch.setenv("POSTBACKS_API_TOKENS", value)
    with pytest.raises(ValidationError) as caught:
        QueryApiSettings()
    assert says in str(caught.value)
    assert "sekrit" not in str(caught.value)

    for command in ("query-api", "dev"):
        result = CliRunner().invoke(cli, [command], env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert "invalid setting api_tokens (POSTBACKS_API_TOKENS)" in result.stderr
        assert says in result.stderr
        assert "sekrit" not in result.output


def test_the_production_command_refuses_to_start_without_tokens(logs: list[str]) -> None:
    result = CliRunner().invoke(
        cli, ["query-api"], env={"POSTBACKS_API_TOKENS": None, "COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert "refusing to start: POSTBACKS_API_TOKENS is not set" in result.stderr
    assert "logs:read, postbacks:write" in result.stderr


def serving(api: QueryApi, port: int) -> contextlib.AbstractAsyncContextManager[str]:
    return running(api.serve(), f"http://127.0.0.1:{port}")


async def test_dev_without_tokens_serves_open_with_a_warning(
    kafka_topics: str, embedded_store: EmbeddedStore, logs: list[str]
) -> None:
    port = free_port()
    settings = DevSettings(kafka_bootstrap=kafka_topics, api_port=port, api_tokens=None)
    async with serving(QueryApi(settings, embedded_store), port) as url:
        answer = await asyncio.to_thread(httpx.get, f"{url}/api/v1/logs", trust_env=False)
        assert answer.status_code == 200, answer.text
    warnings = [line for line in logs if "NO API TOKENS" in line]
    assert len(warnings) == 1
    assert f"{url} is OPEN" in warnings[0]
    assert "set POSTBACKS_API_TOKENS" in warnings[0]


async def test_dev_with_tokens_enforces_them(
    kafka_topics: str, embedded_store: EmbeddedStore, logs: list[str]
) -> None:
    port = free_port()
    settings = DevSettings(
        kafka_bootstrap=kafka_topics, api_port=port, api_tokens=json.dumps(TOKENS)
    )
    async with serving(QueryApi(settings, embedded_store), port) as url:
        assert (await asyncio.to_thread(httpx.get, f"{url}/api/v1/logs")).status_code == 401
        answer = await asyncio.to_thread(httpx.get, f"{url}/api/v1/logs", headers=bearer(READER))
        assert answer.status_code == 200, answer.text
    assert not [line for line in logs if "NO API TOKENS" in line]


async def test_apply_sends_the_token_from_the_environment_or_the_flag(
    app: FastAPI, tmp_path: Path
) -> None:
    async with served(app) as url:
        path = tmp_path / "postbacks.yaml"
        path.write_text(
            "postbacks:\n  - {name: A, type: Click, url: 'https://a.example/c?id={click_id}'}\n"
        )
        args = ["apply", "-f", str(path), "--api", url]

        def run(*extra: str, token: str | None = None) -> Any:
            env = {"POSTBACKS_API_TOKEN": token, "COLUMNS": "200"}
            return CliRunner().invoke(cli, [*args, *extra], env=env)

        # In a thread: the command runs asyncio.run() while this loop serves the API.
        none = await asyncio.to_thread(run)
        assert none.exit_code == 1, none.output
        assert "refused by the query-api (401)" in none.stderr
        assert "--token or POSTBACKS_API_TOKEN" in none.stderr
        reader = await asyncio.to_thread(run, "--dry-run", token=READER)
        assert reader.exit_code == 0, reader.output  # listing takes logs:read
        assert (await asyncio.to_thread(run, token=READER)).exit_code == 1  # writing does not
        from_env = await asyncio.to_thread(run, token=WRITER)
        assert from_env.exit_code == 0, from_env.output
        assert "applied: 1 created" in from_env.stdout
        from_flag = await asyncio.to_thread(run, "--token", BOTH, token=UNKNOWN)
        assert from_flag.exit_code == 0, from_flag.output  # the flag wins over the variable
        assert "1 unchanged" in from_flag.stdout
