"""Issue 21: the Logs page's Live switch. From a test fire on the Postbacks page, "Watch its next
attempts live" opens the log filtered to that postback with Live on; conversions then arrive
at the top of the table within seconds, without a reload, only those the filters match; off
stops them. Real Chromium against the running pipeline (GET /api/v1/logs/stream). And with
tokens: the stream carries the bearer token, and a server serving as many live clients as it
may says so (503): the page shows it and tries again until a place is free."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.live.limits import StreamLimits
from tests.browser.page_helpers import (
    add_filter,
    chips,
    conversion,
    page_query,
    settle,
    use_token,
)
from tests.e2e.receivers import Receiver
from tests.e2e.system import System
from tests.serving import served
from tests.waiting import ceiling, until

OFFER = 7705
SHOWN = 9951  # the publisher the view is narrowed to
HIDDEN = 9952  # another publisher of the same postback, filtered out
NAME = "Live network"
# What "within a few seconds" allows: a conversion through Kafka, the dispatcher, the publisher
# and the log-writer, then the stream.
ARRIVAL_MS = ceiling(15) * 1000


async def test_live_rows_arrive_on_top_under_the_filters_and_stop_when_off(
    page: Page, stack: System, publisher_server: Receiver
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    await stack.create_postback(
        name=NAME,
        type="Conversion",
        offer_id=OFFER,
        url=publisher_server.url("/ok?tx={transaction_id}"),
    )
    await stack.configs_applied()

    # A test fire, then the offer to watch the postback's next attempts.
    await page.goto(f"{base}/postbacks")
    await page.get_by_role("button", name=f"Test \u201c{NAME}\u201d").click()
    result = page.locator("#test-result")
    await expect(result.locator("#test-status")).to_have_text("\u2714 Success", timeout=30_000)
    await result.get_by_role("link", name="Watch its next attempts live").click()
    await page.wait_for_url("**/logs?**")
    assert page_query(page) == "postback_name=Live+network&live=1"
    assert await chips(page) == [f"Postback Name is {NAME}"]
    live = page.get_by_role("switch", name="Live")
    await expect(live).to_be_checked()
    # The test fire's attempt is in the table, read with it.
    await expect(page.locator("#log-rows tr")).to_have_count(1)

    # Narrowed to one publisher: the stream starts again under the new filters, Live stays on.
    await add_filter(page, "Publisher ID", "is", str(SHOWN))
    assert page_query(page) == f"postback_name=Live+network&publisher_id={SHOWN}&live=1"
    await expect(page.locator("#log-rows tr")).to_have_count(0)
    state = page.locator("#live-state")
    await expect(state).to_have_text("Live: new attempts appear at the top.")

    # The filtered-out publisher's conversion first, then the shown one's.
    stack.produce("conversions", [conversion("live-hidden-1", OFFER, HIDDEN)])
    stack.produce("conversions", [conversion("live-shown-1", OFFER, SHOWN)])
    first = page.locator("#log-rows tr").first
    top = first.locator("td.c-transaction_id")
    await expect(top).to_have_text("live-shown-1", timeout=ARRIVAL_MS)
    await expect(first).to_have_class(re.compile(r"\barrived\b"))
    stack.produce("conversions", [conversion("live-shown-2", OFFER, SHOWN)])
    await expect(top).to_have_text("live-shown-2", timeout=ARRIVAL_MS)
    await expect(page.locator("#match-count")).to_have_text("2 matching attempts \u00b7 showing 2")
    # The other publisher's attempt is logged by now, and the stream has read the log since
    # (every second): it did not reach the table.
    await stack.settled()
    await settle(2)
    texts = await page.locator("#log-rows td.c-transaction_id").all_inner_texts()
    assert texts == ["live-shown-2", "live-shown-1"]

    # Off: the stream is closed and nothing more arrives; the address forgets live.
    await live.uncheck()
    assert page_query(page) == f"postback_name=Live+network&publisher_id={SHOWN}"
    await expect(state).to_have_text("")
    stack.produce("conversions", [conversion("live-shown-3", OFFER, SHOWN)])
    await stack.wait_for_logs(3, offer_id=OFFER, publisher_id=SHOWN)
    # Logged: a stream still open would bring it within its next read (every second).
    await asyncio.sleep(2)
    assert await page.locator("#log-rows td.c-transaction_id").all_inner_texts() == texts


READER = "live-reader-3e9b1c7d05a2"


@pytest.fixture
async def one_live_client(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    """The query-api with a token and room for one live client."""
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    app = build_app(
        embedded_store,
        publisher,
        tokens=TokenTable({READER: ["logs:read"]}),
        stream_limits=StreamLimits(max_clients=1),
    )
    try:
        async with served(app) as url:
            try:
                yield url
            finally:
                # The page's stream, still retrying or open, would keep the server from stopping.
                await services_of(app).live.close()
    finally:
        await publisher.stop()


async def test_the_stream_carries_the_token_and_a_full_server_is_waited_for(
    page: Page, one_live_client: str
) -> None:
    await page.goto(f"{one_live_client}/logs")
    await use_token(page, READER)
    live = page.get_by_role("switch", name="Live")
    await live.check()
    assert page_query(page) == "live=1"
    # Connected: fetch() sent the bearer token, which EventSource could not.
    await expect(page.locator("#live-state")).to_have_text("Live: new attempts appear at the top.")
    await live.uncheck()

    # Another client takes the one place (once the page's stream is gone).
    headers = {"Authorization": f"Bearer {READER}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=one_live_client, trust_env=False, headers=headers) as client,
        contextlib.AsyncExitStack() as held,
    ):

        async def taken() -> httpx.Response | None:
            response = await held.enter_async_context(client.stream("GET", "/api/v1/logs/stream"))
            if response.status_code == 200:
                return response
            await response.aclose()
            await asyncio.sleep(0.1)
            return None

        await until(taken, "the one live place taken by another client")
        await live.click()
        state = page.locator("#live-state")
        # The API's own words (503 too_many_streams): the page waits and tries again.
        await expect(state).to_contain_text(
            "Live is waiting: this server already streams the live log to 1 clients"
        )
        await expect(live).to_be_checked()
        # The place freed, the page's next try gets it.
        await held.aclose()
        await expect(state).to_have_text(
            "Live: new attempts appear at the top.", timeout=ceiling(15) * 1000
        )
