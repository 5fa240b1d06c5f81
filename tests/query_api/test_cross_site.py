"""Without POSTBACKS_API_TOKENS (`postbacks dev`), changes sent by another site's page and requests
at a name that is not this machine's (DNS rebinding) are refused; the pages' own requests, curl
and the CLIs still work. On the real app (ASGI in process and on a loopback socket), chDB and the
embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from postbacks.store.chdb_backend import EmbeddedStore
from postbacks_cli.main import app as cli
from query_api.app import build_app
from query_api.auth import Scope, TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.serving import served

CONFIG = {"name": "Acme", "type": "Conversion", "url": "https://acme.example/pb?t={transaction_id}"}
MISSING = "00000000-0000-4000-8000-000000000000"
OWN_ORIGIN = "http://api"  # the clients' base_url: what a page served by the app sends
WRITER = "writer-b94e07aa13d2f668"
TOKENS: dict[str, list[Scope]] = {WRITER: ["logs:read", "postbacks:write"]}

# Headers a browser sends with a request from a page on another site (or an opaque origin).
CROSS_SITE = {
    "other host": {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    "other port": {"Origin": "http://api:8081"},
    "other scheme": {"Origin": "https://api"},
    "opaque origin": {"Origin": "null"},  # a sandboxed frame, a file:// page
    "loopback by another name": {"Origin": "http://127.0.0.1"},
    "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
    "Sec-Fetch-Site same-site": {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain
}
# What `postbacks dev` is opened at, and what a rebound name looks like, in the Host header.
LOOPBACK_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LocalHost", "[::1]:{port}", "127.9.9.9"]
REBOUND_HOSTS = ["rebound.example:{port}", "localhost.evil.example", "10.0.0.1:{port}", "[::1"]


@pytest.fixture
def app(embedded_store: EmbeddedStore, publisher: DispatcherPublisher) -> FastAPI:
    """The API as `postbacks dev` serves it without tokens."""
    return build_app(embedded_store, publisher)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=OWN_ORIGIN) as client:
        yield client


def refused(answer: httpx.Response) -> str:
    """The message of a 403 in the API's error shape."""
    assert answer.status_code == 403, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "forbidden"
    message: str = error["message"]
    assert "POSTBACKS_API_TOKENS" in message
    return message


async def created(api: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    answer = await api.post("/api/v1/postbacks", json=CONFIG, headers=headers)
    assert answer.status_code == 201, answer.text
    config: dict[str, Any] = answer.json()
    return config


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
async def test_a_cross_site_change_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    config = await created(api)
    path = f"/api/v1/postbacks/{config['id']}"
    changes = [
        ("POST", "/api/v1/postbacks", {**CONFIG, "name": "Planted"}),
        ("PUT", path, {**CONFIG, "url": "https://evil.example/steal?t={transaction_id}"}),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/test", None),  # a test fire
        ("POST", "/api/v1/refires?status=Failed", None),  # a bulk re-fire: no body needed
        ("POST", f"/api/v1/logs/{MISSING}/refire", None),  # refused before it is looked up
    ]
    for method, target, body in changes:
        answer = await api.request(method, target, json=body, headers=headers)
        assert f"{method} {target.split('?')[0]} from " in refused(answer)
    assert (await api.get("/api/v1/postbacks")).json()["items"] == [config]
    assert (await api.get("/api/v1/refires")).json()["items"] == []


async def test_same_origin_and_origin_less_changes_work(api: httpx.AsyncClient) -> None:
    # What the pages' fetch sends (api.js), then what curl and the CLIs send: no Origin at all.
    page = {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "same-origin"}
    config = await created(api, **page)
    path = f"/api/v1/postbacks/{config['id']}"
    renamed = {**CONFIG, "name": "Renamed"}
    answer = await api.put(path, json=renamed, headers={"Origin": "http://API:80"})
    assert answer.status_code == 200, answer.text  # the same origin, spelled differently
    assert (await created(api, **{"Sec-Fetch-Site": "none"}))["name"] == "Acme"  # typed URL
    assert (await api.delete(path)).status_code == 204
    assert [c["name"] for c in (await api.get("/api/v1/postbacks")).json()["items"]] == ["Acme"]


async def test_a_cross_site_read_still_answers(api: httpx.AsyncClient) -> None:
    # A read changes nothing, and without CORS headers the other page cannot see the answer.
    config = await created(api)
    for path in ("/api/v1/postbacks", "/api/v1/logs", "/api/v1/logs/export.csv", "/logs"):
        answer = await api.get(path, headers=CROSS_SITE["other host"])
        assert answer.status_code == 200, (path, answer.text)
        assert "access-control-allow-origin" not in answer.headers
    listed = await api.get("/api/v1/postbacks", headers=CROSS_SITE["other host"])
    assert listed.json()["items"] == [config]


async def test_a_host_that_is_not_this_machine_is_refused_on_a_real_socket(app: FastAPI) -> None:
    async with served(app) as url, httpx.AsyncClient(base_url=url, trust_env=False) as client:
        port = url.rsplit(":", 1)[1]
        for host in LOOPBACK_HOSTS:
            answer = await client.get("/api/v1/logs", headers={"Host": host.format(port=port)})
            assert answer.status_code == 200, (host, answer.text)
        for host in REBOUND_HOSTS:
            named = {"Host": host.format(port=port)}
            for path in ("/api/v1/logs", "/api/v1/postbacks", "/logs", "/healthz"):
                message = refused(await client.get(path, headers=named))
                assert "DNS rebinding" in message
                assert f"http://127.0.0.1:{port}" in message
            # The rebound page is same-origin with itself: its Origin matches its Host.
            same_origin = {**named, "Origin": f"http://{named['Host']}"}
            answer = await client.post("/api/v1/postbacks", json=CONFIG, headers=same_origin)
            assert "DNS rebinding" in refused(answer)
        assert (await client.get("/api/v1/postbacks")).json()["items"] == []


async def test_the_configured_api_host_is_accepted_besides_loopback(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> None:
    app = build_app(embedded_store, publisher, api_host="devbox.lan")
    async with served(app) as url, httpx.AsyncClient(base_url=url, trust_env=False) as client:
        port = url.rsplit(":", 1)[1]
        ok = await client.get("/api/v1/logs", headers={"Host": f"devbox.lan:{port}"})
        assert ok.status_code == 200, ok.text
        refused(await client.get("/api/v1/logs", headers={"Host": f"other.lan:{port}"}))


async def test_with_tokens_neither_check_applies(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> None:
    # Behind a TLS proxy the Host and scheme are the proxy's; another site cannot send a token.
    app = build_app(embedded_store, publisher, tokens=TokenTable(TOKENS))
    transport = httpx.ASGITransport(app=app)
    headers = {
        "Authorization": f"Bearer {WRITER}",
        "Host": "postbacks.example.com",
        **CROSS_SITE["other host"],
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        answer = await client.post("/api/v1/postbacks", json=CONFIG, headers=headers)
        assert answer.status_code == 201, answer.text
        assert (await client.get("/api/v1/logs", headers=headers)).status_code == 200


async def test_apply_and_refire_work_without_tokens_over_a_socket(
    app: FastAPI, tmp_path: Path
) -> None:
    async with served(app) as url:
        path = tmp_path / "postbacks.yaml"
        path.write_text(
            "postbacks:\n  - {name: A, type: Click, url: 'https://a.example/c?id={click_id}'}\n"
        )

        def run(*args: str) -> Any:
            env = {"POSTBACKS_API_TOKEN": None, "COLUMNS": "200"}
            return CliRunner().invoke(cli, [*args, "--api", url], env=env)

        # In a thread: the command runs asyncio.run() while this loop serves the API.
        applied = await asyncio.to_thread(run, "apply", "-f", str(path))
        assert applied.exit_code == 0, applied.output
        assert "applied: 1 created" in applied.stdout
        refire = await asyncio.to_thread(run, "refire", "--status", "Failed", "--yes")
        assert refire.exit_code == 0, refire.output  # its POST (a dry run) got through
        assert "Nothing to re-fire" in refire.stdout
