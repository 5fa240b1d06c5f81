"""With POSTBACKS_API_TOKENS set, the pages ask for a token and send it (bearer header, the
export included); the log pages by cursor with Load more; the time range and its presets.
The real query-api app on loopback, over real chDB and the embedded broker; the log rows are
written straight into the attempt table at chosen times."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.attempts import attempt_record, insert_attempts
from tests.browser.page_helpers import csv_rows, expect_count, page_query, shown_transactions
from tests.serving import served

READER = "reader-2b7f0c9e51d4a8e3"
RECENT = 55  # one a minute over the last hour
OLDER = 5  # three hours ago: inside the default 24 hours, outside "Last 1 h"


async def insert_paged_attempts(store: EmbeddedStore) -> None:
    now = datetime.now(UTC)
    times = [now - timedelta(minutes=n) for n in range(RECENT)]
    times += [now - timedelta(hours=3, minutes=n) for n in range(OLDER)]
    records = [
        attempt_record(
            attempted_at=at, status="Failed" if n % 3 else "Success",
            postback_id=uuid.uuid4(), postback_name="Paged", postback_type="Conversion",
            offer_id=1, publisher_id=42, transaction_id=f"page-{n:02d}",
            response_code=500 if n % 3 else 200, url=f"http://127.0.0.1/pb?tx=page-{n:02d}",
            latency_ms=3, source="{}",
        )
        for n, at in enumerate(times)
    ]  # fmt: skip
    await insert_attempts(store, records)


@pytest.fixture
async def guarded_url(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    await insert_paged_attempts(embedded_store)
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    app = build_app(embedded_store, publisher, tokens=TokenTable({READER: ["logs:read"]}))
    try:
        async with served(app) as url:
            yield url
    finally:
        await publisher.stop()


async def test_token_paging_export_and_time_range(page: Page, guarded_url: str) -> None:
    await page.goto(f"{guarded_url}/logs")
    notice = page.locator("#notice")
    await expect(notice).to_contain_text("needs a bearer token")
    await expect(notice).to_contain_text("Enter an API token")
    token = page.get_by_label("API token", exact=True)
    await expect(token).to_be_focused()
    await token.fill(READER)
    await token.press("Enter")
    await expect(notice).to_be_hidden()

    # 60 in the default window, 50 a page; Load more follows the cursor to the end.
    await expect_count(page, RECENT + OLDER, shown=50)
    await page.get_by_role("button", name="Load more").click()
    await expect_count(page, RECENT + OLDER)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    assert await shown_transactions(page) == [f"page-{n:02d}" for n in range(RECENT + OLDER)]

    # The export cannot be a plain link with a token: it is fetched with the header.
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Export CSV").click()
    exported = await csv_rows(await download_info.value)
    assert len(exported) == RECENT + OLDER

    await page.get_by_role("button", name="Last 1 h").click()
    assert page_query(page).startswith("from=")
    await expect_count(page, RECENT, shown=50)

    await page.get_by_label("From (UTC)", exact=True).fill("2020-01-01T00:00:00")
    await page.get_by_label("To (UTC)", exact=True).fill("2020-01-02T00:00:00")
    await page.get_by_role("button", name="Apply range").click()
    assert page_query(page) == "from=2020-01-01T00%3A00%3A00Z&to=2020-01-02T00%3A00%3A00Z"
    await expect_count(page, 0)
    await expect(page.locator("#empty")).to_be_visible()

    # Too wide a range: the API's 400 is shown as it is, and the export is off.
    await page.get_by_label("To (UTC)", exact=True).fill("2020-03-01T00:00:00")
    await page.get_by_role("button", name="Apply range").click()
    await expect(notice).to_contain_text("31 days")
    await expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "aria-disabled", "true"
    )

    # A reading token lists configurations but cannot create one: the 403 is in the form.
    await page.goto(f"{guarded_url}/postbacks")
    await expect(page.locator("#empty")).to_be_visible()
    await page.get_by_role("button", name="New postback").click()
    editor = page.locator("#editor")
    await editor.get_by_label("Name", exact=True).fill("Not allowed")
    await editor.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/pb")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor.locator("#form-error")).to_contain_text("postbacks:write")
