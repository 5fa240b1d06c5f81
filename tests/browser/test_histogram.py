"""Issue 21, item 5: the Logs page shows where failures started. Above the table, attempts per
time bucket stacked by status for the page's filters and range; a click on a bucket narrows
the range (and the table) to it. Real Chromium, the real app on loopback over chDB; the log
rows are written straight into the attempt table at chosen times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from playwright.async_api import Page, expect

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.attempts import attempt_record, insert_attempts
from tests.browser.page_helpers import add_filter, expect_count, page_query, shown_transactions
from tests.serving import served

# An hour of the past, on the hour: its minutes are the buckets (1 min for a 1 h range).
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
# Minute 10 is where failures started: 3 failed and 1 success; minute 40 has 2 successes.
ATTEMPTS = {
    "early-ok": (10, 5, "Success"),
    "fail-1": (10, 20, "Failed"),
    "fail-2": (10, 35, "Failed"),
    "fail-3": (10, 50, "Failed"),
    "late-ok-1": (40, 1, "Success"),
    "late-ok-2": (40, 2, "Success"),
}


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def open_url(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    records = [
        attempt_record(
            n,
            attempted_at=START + timedelta(minutes=minute, seconds=second),
            status=status,
            response_code=200 if status == "Success" else 503,
            transaction_id=tx,
            publisher_id=42,
        )
        for n, (tx, (minute, second, status)) in enumerate(ATTEMPTS.items())
    ]
    await insert_attempts(embedded_store, records)
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    try:
        async with served(build_app(embedded_store, publisher)) as url:
            yield url
    finally:
        await publisher.stop()


async def test_the_histogram_shows_the_buckets_and_a_click_narrows_to_one(
    page: Page, open_url: str
) -> None:
    end = START + timedelta(hours=1)
    await page.goto(f"{open_url}/logs?from={rfc3339(START)}&to={rfc3339(end)}")
    await expect_count(page, 6)
    bars = page.locator("#histogram .histogram-bar")
    await expect(bars).to_have_count(60)
    await expect(page.locator("#histogram")).to_contain_text("6 attempts per 1 min, by status")

    def bar(at: datetime) -> str:
        """A bucket's name, as a screen reader reads it."""
        return f"{at:%Y-%m-%d %H:%M:%S} to {at + timedelta(minutes=1):%H:%M:%S} UTC: "

    minute_10 = START + timedelta(minutes=10)
    started = page.get_by_role("button", name=bar(minute_10), exact=False)
    label = bar(minute_10) + "4 attempts (Failed 3, Success 1)"
    await expect(started).to_have_attribute("aria-label", label)
    await expect(started).to_have_attribute("title", label)
    await expect(started).to_have_attribute("data-start", rfc3339(minute_10))
    await expect(started.locator("rect.failed")).to_have_count(1)
    await expect(started.locator("rect.success")).to_have_count(1)
    minute_40 = START + timedelta(minutes=40)
    late = bars.and_(page.locator(f'[data-start="{rfc3339(minute_40)}"]'))
    await expect(late).to_have_accessible_name(bar(minute_40) + "2 attempts (Failed 0, Success 2)")
    await expect(late.locator("rect.failed")).to_have_count(0)
    empty = bars.and_(page.locator(f'[data-start="{rfc3339(START)}"]'))
    await expect(empty).to_have_attribute("data-total", "0")
    await expect(empty.locator("rect")).to_have_count(0)

    # The bucket where failures started: the range, the table and the histogram follow it.
    await started.click()
    query = parse_qs(page_query(page))
    narrowed = [rfc3339(minute_10)], [rfc3339(minute_10 + timedelta(minutes=1))]
    assert (query["from"], query["to"]) == narrowed
    await expect_count(page, 4)
    assert sorted(await shown_transactions(page)) == ["early-ok", "fail-1", "fail-2", "fail-3"]
    # A datetime-local input leaves out the seconds when they are zero.
    await expect(page.get_by_label("From (UTC)", exact=True)).to_have_value(
        f"{minute_10:%Y-%m-%dT%H:%M}"
    )
    # A minute is read from the log second by second.
    await expect(page.locator("#histogram")).to_contain_text("4 attempts per 1 s, by status")
    await expect(bars).to_have_count(60)
    await expect(bars.and_(page.locator("[data-total='1']"))).to_have_count(4)

    # A filter narrows the histogram as it narrows the table; Back restores the wider view.
    await add_filter(page, "Status", "is", "Failed")
    await expect_count(page, 3)
    await expect(page.locator("#histogram")).to_contain_text("3 attempts per 1 s")
    await page.go_back()
    await page.go_back()
    await expect_count(page, 6)
    await expect(bars).to_have_count(60)
    await expect(page.locator("#histogram")).to_contain_text("6 attempts per 1 min")

    # From the keyboard: one tab stop, the arrow keys, Home and End move, Enter picks.
    await expect(bars.first).to_have_attribute("tabindex", "0")
    await bars.first.focus()
    await page.keyboard.press("End")
    await expect(bars.last).to_be_focused()
    await late.focus()
    await page.keyboard.press("Enter")
    await expect_count(page, 2)
