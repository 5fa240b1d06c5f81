"""`postbacks apply` against the real query-api (ASGI in process, chDB, the embedded broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from postbacks.embedded_broker import free_port
from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks_cli.apply import ApiFailed, Plan, apply, apply_to
from postbacks_cli.config_file import InvalidFile, read_file
from postbacks_cli.main import app as cli
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.serving import served

API = "/api/v1/postbacks"
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "postbacks.example.yaml"
FILE = """\
postbacks:
  - name: Acme
    type: Conversion
    publisher_id: 42
    url: https://acme.example/pb?tx={transaction_id}&payout={payout}
  - name: Beta
    type: Conversion
    statuses: [rejected, pending]
    timeout_ms: 10000
    enabled: true
    url: https://beta.example/pb?tx={transaction_id}&why={rejection_reason}
  - name: Gamma
    type: Event
    event_id: 7
    method: POST
    url: https://gamma.example/pb
    body: '{"tx": "{transaction_id}", "payout": {payout}}'
    headers: {X-Token: abc, X-Tx: "{transaction_id}"}
"""
# FILE as someone else might write it: defaults left out, statuses reordered, event_id as text.
SAME_AS_FILE = (
    FILE.replace("[rejected, pending]", "[pending, rejected, pending]")
    .replace("    timeout_ms: 10000\n    enabled: true\n", "")
    .replace("event_id: 7", 'event_id: "7"')
    .replace("{X-Token: abc, X-Tx: ", "{X-Tx: ")
    .replace('"{transaction_id}"}', '"{transaction_id}", X-Token: abc}')
)
OLD = {"name": "Old", "type": "Click", "url": "https://old.example/c?id={click_id}"}


@pytest.fixture
async def query_api(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[FastAPI]:
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    yield build_app(embedded_store, publisher)
    await publisher.stop()


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
async def api(query_api: FastAPI, sent: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    async def record(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    transport = httpx.ASGITransport(app=query_api)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", event_hooks={"request": [record]}
    ) as client:
        yield client


async def run(
    client: httpx.AsyncClient, tmp_path: Path, text: str, **flags: bool
) -> tuple[Plan, str]:
    path = tmp_path / "postbacks.yaml"
    path.write_text(text)
    lines: list[str] = []
    plan = await apply(client, path, echo=lines.append, **flags)
    return plan, "\n".join(lines)


async def on_server(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in (await client.get(API)).json()["items"]}


async def test_an_empty_server_gets_every_entry_created(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, out = await run(api, tmp_path, FILE)
    assert "+ create 'Acme'\n+ create 'Beta'\n+ create 'Gamma'\n" in out
    assert "plan: 3 to create, 0 to update, 0 to delete, 0 unchanged" in out
    assert out.endswith("applied: 3 created, 0 updated, 0 deleted")
    server = await on_server(api)
    assert {name: c["version"] for name, c in server.items()} == {"Acme": 1, "Beta": 1, "Gamma": 1}
    assert server["Beta"]["statuses"] == ["pending", "rejected"]
    assert server["Gamma"]["event_id"] == "7"
    assert server["Gamma"]["headers"] == {"X-Token": "abc", "X-Tx": "{transaction_id}"}


async def test_applying_the_same_configurations_again_writes_nothing(
    api: httpx.AsyncClient, tmp_path: Path, sent: list[str]
) -> None:
    await run(api, tmp_path, FILE)
    before = await on_server(api)
    sent.clear()
    for text in (FILE, SAME_AS_FILE):
        _, out = await run(api, tmp_path, text)
        assert "= unchanged 'Acme'\n= unchanged 'Beta'\n= unchanged 'Gamma'\n" in out
        assert "plan: 0 to create, 0 to update, 0 to delete, 3 unchanged" in out
    assert sent == [f"GET {API}", f"GET {API}"]
    assert await on_server(api) == before  # versions and updated_at untouched


async def test_one_changed_field_is_exactly_one_update(
    api: httpx.AsyncClient, tmp_path: Path, sent: list[str]
) -> None:
    await run(api, tmp_path, FILE)
    acme = (await on_server(api))["Acme"]
    sent.clear()
    _, out = await run(api, tmp_path, FILE.replace("&payout={payout}", "&amount={payout}"))
    assert (
        "~ update 'Acme'\n    url: 'https://acme.example/pb?tx={transaction_id}&payout={payout}'"
        " -> 'https://acme.example/pb?tx={transaction_id}&amount={payout}'\n= unchanged 'Beta'"
    ) in out
    assert "plan: 0 to create, 1 to update, 0 to delete, 2 unchanged" in out
    assert sent == [f"GET {API}", f"PUT {API}/{acme['id']}"]
    server = await on_server(api)
    assert {name: c["version"] for name, c in server.items()} == {"Acme": 2, "Beta": 1, "Gamma": 1}
    assert server["Acme"]["url"].endswith("&amount={payout}")
    assert server["Acme"]["created_at"] == acme["created_at"]


async def test_dry_run_reports_the_plan_and_changes_nothing(
    api: httpx.AsyncClient, tmp_path: Path, sent: list[str]
) -> None:
    await run(api, tmp_path, FILE)
    assert (await api.post(API, json=OLD)).status_code == 201
    before = await on_server(api)
    sent.clear()
    changed = FILE.replace("publisher_id: 42", "publisher_id: 43") + (
        "  - name: Delta\n    type: Click\n    url: https://delta.example/c?id={click_id}\n"
    )
    plan, out = await run(api, tmp_path, changed, dry_run=True, prune=True)
    assert "~ update 'Acme'\n    publisher_id: 42 -> 43\n" in out
    assert "+ create 'Delta'\n- delete 'Old'\n" in out
    assert "plan: 1 to create, 1 to update, 1 to delete, 2 unchanged" in out
    assert out.endswith("dry run: nothing was changed")
    assert len(plan.writes) == 3
    assert sent == [f"GET {API}"]
    assert await on_server(api) == before


async def test_prune_deletes_what_the_file_lacks_only_when_asked(
    api: httpx.AsyncClient, tmp_path: Path, sent: list[str]
) -> None:
    await run(api, tmp_path, FILE)
    old = (await api.post(API, json=OLD)).json()

    _, out = await run(api, tmp_path, FILE)
    assert "1 on the server but not in the file left alone (--prune deletes them)" in out
    assert "Old" in await on_server(api)

    sent.clear()
    _, out = await run(api, tmp_path, FILE, prune=True)
    assert "- delete 'Old'" in out
    assert out.endswith("applied: 0 created, 0 updated, 1 deleted")
    assert sent == [f"GET {API}", f"DELETE {API}/{old['id']}"]
    server = await on_server(api)
    assert {name: c["version"] for name, c in server.items()} == {"Acme": 1, "Beta": 1, "Gamma": 1}


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param(
            FILE.replace("{rejection_reason}", "{reason}"),
            ["postbacks.yaml:6: postbacks[1] (name 'Beta').url: unknown macro {reason}"],
            id="unknown-macro",
        ),
        pytest.param(
            FILE.replace("timeout_ms: 10000", "timeout_ms: 50").replace("X-Token", "X Token"),
            [
                "postbacks[1] (name 'Beta').timeout_ms: Input should be greater than or equal",
                "postbacks[2] (name 'Gamma').headers: header name 'X Token' is not a valid",
            ],
            id="every-problem-at-once",
        ),
        pytest.param(
            FILE + "  - name: Acme\n    type: Click\n    url: https://x.example/\n",
            ["postbacks[3] (name 'Acme').name: the same name as postbacks[0]; names are unique"],
            id="duplicate-name",
        ),
        pytest.param(
            "postbacks:\n  - name: A\n    type: Conversion\n    event_id: 5\n    url: http://a.b/\n",
            ["postbacks[0] (name 'A'): event_id is only allowed when type is Event"],
            id="invalid-combination",
        ),
        pytest.param(
            "postbacks:\n  - {name: A, type: Click, url: 'http://a.b/', id: 12}\n  - A\n",
            [
                "postbacks[0] (name 'A').id: unknown field; the fields are name, type, url",
                "postbacks[1]: must be a mapping of fields (name:, url:, ...), not a string",
            ],
            id="unknown-field-and-not-a-mapping",
        ),
        pytest.param(
            "postbacks:\n  name: A\n  type: Click\n",
            [
                "postbacks: must be a list of configurations, each starting `- name:` (write [] "
                "for none), not a mapping"
            ],
            id="not-a-list",
        ),
        pytest.param(
            "postbacks:\n  - name: [A\n    type: Click\n",
            ["postbacks.yaml:3:9: not valid YAML: expected ',' or ']', but got ':'"],
            id="yaml-syntax",
        ),
        pytest.param(
            "postback:\n  - name: A\n", ["unknown top-level key 'postback'"], id="misspelt-key"
        ),
        pytest.param("", ["one top-level key, `postbacks:`, with a list"], id="empty-file"),
        pytest.param("postbacks:\n", ["(write [] for none), not nothing"], id="empty-list"),
    ],
)
async def test_an_invalid_file_changes_nothing_and_names_entry_and_field(
    api: httpx.AsyncClient, tmp_path: Path, sent: list[str], text: str, problems: list[str]
) -> None:
    await run(api, tmp_path, FILE)
    before = await on_server(api)
    sent.clear()
    with pytest.raises(InvalidFile) as caught:
        await run(api, tmp_path, text, prune=True)
    assert len(caught.value.problems) == len(problems), caught.value.problems
    for problem, expected in zip(caught.value.problems, problems, strict=True):
        assert expected in problem
    assert sent == []  # not even the list: the file is judged before the API is asked anything
    assert await on_server(api) == before


class SomeoneElseWritesFirst(httpx.AsyncBaseTransport):
    """Just before the first write, another client creates `config` on the same API."""

    def __init__(self, inner: httpx.AsyncBaseTransport, config: dict[str, Any]) -> None:
        self._inner = inner
        self._config: dict[str, Any] | None = config

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" and self._config is not None:
            other = httpx.Request("POST", f"http://api{API}", json=self._config)
            answer = await self._inner.handle_async_request(other)
            await answer.aread()
            assert answer.status_code == 201
            self._config = None
        return await self._inner.handle_async_request(request)


async def test_the_first_refusal_stops_the_run_naming_the_entry(
    query_api: FastAPI, tmp_path: Path
) -> None:
    theirs = {**OLD, "name": "Beta"}
    transport = SomeoneElseWritesFirst(httpx.ASGITransport(app=query_api), theirs)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        with pytest.raises(ApiFailed) as caught:
            await run(client, tmp_path, FILE)
        assert caught.value.problems[0].startswith(
            "postbacks[1] (name 'Beta'): create: refused by the query-api (422): name: a "
            "postback configuration named 'Beta' already exists"
        )
        assert caught.value.problems[1] == (
            "1 of 3 changes were made before this one; the rest were not"
        )
        server = await on_server(client)
    assert sorted(server) == ["Acme", "Beta"]  # Gamma was not tried
    assert server["Beta"]["url"] == OLD["url"]


async def test_an_unreachable_api_is_named(tmp_path: Path) -> None:
    path = tmp_path / "postbacks.yaml"
    path.write_text(FILE)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiFailed) as caught:
        await apply_to(url, path, echo=lambda _: None)
    assert caught.value.problems[0].startswith(
        f"listing the current configurations: cannot reach the query-api at {url}"
    )


async def test_the_example_file_is_valid_and_applies_cleanly(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    configs = [entry.config for entry in read_file(EXAMPLE)]
    shown = {
        (c.type, c.method, c.content_type, bool(c.headers), tuple(c.statuses)) for c in configs
    }
    assert ("Conversion", "GET", "json", False, ("rejected",)) in shown  # rejection forwarding
    assert ("Conversion", "POST", "json", True, ("approved",)) in shown  # JSON body and header
    assert any(c.content_type == "form" and c.body for c in configs)
    assert any(c.type == "Event" and c.event_id for c in configs)
    assert any(c.type == "Click" and c.offer_id and c.publisher_id for c in configs)

    _, out = await run(api, tmp_path, EXAMPLE.read_text())
    assert f"applied: {len(configs)} created, 0 updated, 0 deleted" in out
    assert sorted(await on_server(api)) == sorted(c.name for c in configs)
    _, out = await run(api, tmp_path, EXAMPLE.read_text())
    assert f"0 to create, 0 to update, 0 to delete, {len(configs)} unchanged" in out


async def test_the_command_dry_runs_and_applies_against_a_served_api(
    query_api: FastAPI, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with served(query_api) as url:
        path = tmp_path / "postbacks.yaml"
        path.write_text(FILE)
        args = ["apply", "-f", str(path), "--api", url]
        # In a thread: the command runs asyncio.run() while this loop serves the API.
        dry = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "+ create 'Acme'" in dry.stdout
        assert "dry run: nothing was changed" in dry.stdout
        assert await on_server(api) == {}

        real = await asyncio.to_thread(CliRunner().invoke, cli, args)
        assert real.exit_code == 0, real.output
        assert "applied: 3 created, 0 updated, 0 deleted" in real.stdout
        assert sorted(await on_server(api)) == ["Acme", "Beta", "Gamma"]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["-f", "missing.yaml"], 2, "does not exist"),
        (["-f", "{file}", "--api", "127.0.0.1:8080"], 2, "use an http:// URL"),
        # Judged before any request, so no API needs to be running.
        (["-f", "{file}", "--api", "http://127.0.0.1:9"], 1, "postbacks[0] (name 'A').url:"),
    ],
)
def test_the_command_reports_usage_and_file_errors(
    tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("postbacks:\n  - {name: A, type: Click, url: 'http://a.b/?x={nope}'}\n")
    argv = ["apply", *(a.replace("{file}", str(path)) for a in args)]
    result = CliRunner().invoke(cli, argv, env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert says in result.stderr
