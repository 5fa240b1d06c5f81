"""What a person does on the pages, as steps the browser tests share."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from playwright.async_api import Download, Page, expect

# The contract: a configuration change reaches the dispatcher within 2 seconds.
CONFIG_PROPAGATION_S = 2


def conversion(transaction_id: str, offer_id: int, publisher_id: int, **extra: object) -> bytes:
    return orjson.dumps(
        {"transaction_id": transaction_id, "offer_id": offer_id, "publisher_id": publisher_id}
        | extra
    )


async def add_filter(page: Page, column: str, condition: str, value: str) -> None:
    """Picks the column and condition, types the value and presses Enter."""
    await page.get_by_label("Column", exact=True).select_option(label=column)
    await page.get_by_label("Condition", exact=True).select_option(label=condition)
    await page.get_by_label("Value", exact=True).fill(value)
    await page.get_by_label("Value", exact=True).press("Enter")


async def expect_count(page: Page, matching: int, shown: int | None = None) -> None:
    noun = "attempt" if matching == 1 else "attempts"
    shown = matching if shown is None else shown
    await expect(page.locator("#match-count")).to_have_text(
        f"{matching} matching {noun} \u00b7 showing {shown}"
    )


async def shown_transactions(page: Page) -> list[str]:
    """The Transaction ID column of the table, top to bottom."""
    return await page.locator("#log-rows td.c-transaction_id").all_inner_texts()


async def chips(page: Page) -> list[str]:
    return await page.locator("#chips .chip-text").all_inner_texts()


def page_query(page: Page) -> str:
    return urlsplit(page.url).query


async def settle(seconds: float = CONFIG_PROPAGATION_S) -> None:
    await asyncio.sleep(seconds)


async def csv_rows(download: Download) -> list[dict[str, str]]:
    """The rows of a downloaded CSV export (UTF-8 with a byte order mark)."""
    path = Path(await download.path())
    text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


async def use_token(page: Page, token: str) -> None:
    """Types the API token into the header's field and applies it; the page reloads its data."""
    field = page.get_by_label("API token", exact=True)
    await field.fill(token)
    await field.press("Enter")
    await expect(page.locator("#token-state")).to_contain_text("Token in use")
