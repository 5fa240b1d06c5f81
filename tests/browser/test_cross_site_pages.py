"""In Chromium, against the API as `postbacks dev` serves it without tokens: the pages' own calls
(api.js, same-origin fetch) still change configurations, and a page on another site cannot
change anything, neither by a form nor by a no-cors fetch (which need no CORS permission)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from postbacks.embedded_broker import free_port
from postbacks.kafka_connection import KafkaConnection
from postbacks.ops_server import serve_asgi
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.serving import running, served

CONFIG = {"name": "Acme", "type": "Conversion", "url": "https://acme.example/pb?t={transaction_id}"}
# Another loopback address is another site (an IP address is a site of its own), and a local
# one, so Chromium's private-network rules do not stop its requests before the API sees them.
OTHER_SITE_ADDRESS = "127.0.0.2"


@pytest.fixture
async def open_url(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    try:
        async with served(build_app(embedded_store, publisher)) as url:
            yield url
    finally:
        await publisher.stop()


@pytest.fixture
async def other_site() -> AsyncIterator[str]:
    async def blank(_: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>another site</title>")

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", blank), Route("/healthz", healthz)])
    port = free_port()
    url = f"http://{OTHER_SITE_ADDRESS}:{port}"
    async with running(serve_asgi(app, OTHER_SITE_ADDRESS, port), url):
        yield url


async def test_the_pages_change_things_and_another_site_cannot(
    page: Page, open_url: str, other_site: str
) -> None:
    await page.goto(f"{open_url}/postbacks")
    kept = await page.evaluate(
        """async (config) => {
            const { api } = await import("/static/js/api.js");
            const kept = await api("POST", "/api/v1/postbacks", config);
            const dropped = await api("POST", "/api/v1/postbacks", { ...config, name: "Dropped" });
            await api("PUT", `/api/v1/postbacks/${kept.id}`, { ...config, name: "Renamed" });
            await api("DELETE", `/api/v1/postbacks/${dropped.id}`);
            return kept.id;
        }""",
        CONFIG,
    )

    await page.goto(other_site)
    # A no-cors fetch is sent without asking; its answer is opaque, so only the API can tell.
    sent = await page.evaluate(
        """async (target) => (await fetch(target, { method: "POST", mode: "no-cors" })).type""",
        f"{open_url}/api/v1/refires?status=Failed",
    )
    assert sent == "opaque"
    await page.evaluate(
        """(target) => {
            const form = document.createElement("form");
            form.method = "POST";
            form.action = target;
            document.body.append(form);
            form.submit();
        }""",
        f"{open_url}/api/v1/postbacks/{kept}/test",
    )
    await page.wait_for_url(f"{open_url}/api/v1/postbacks/{kept}/test")
    assert '"code":"forbidden"' in (await page.content())

    async with httpx.AsyncClient(base_url=open_url, trust_env=False) as client:
        listed = (await client.get("/api/v1/postbacks")).json()["items"]
        assert [(c["id"], c["name"]) for c in listed] == [(kept, "Renamed")]
        assert (await client.get("/api/v1/refires")).json()["items"] == []
