"""Issue 7, item 6: an account manager creates a postback on the page, conversions come in
through Kafka, and on the log page they find exactly the failed ones, read why, and export
them. Real Chromium, real broker, dispatcher, log-writer, chDB and publisher servers."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.page_helpers import (
    add_filter,
    chips,
    conversion,
    csv_rows,
    expect_count,
    page_query,
    settle,
    shown_transactions,
)
from tests.e2e.receivers import Receiver
from tests.e2e.system import System

OFFER = 7701
# Publisher ids 88xx are this module's alone: "contains 880" must find only its rows.
# Which receiver route each conversion's sub1 sends it to, by publisher.
CONVERSIONS = {
    "flow-a1": (8801, "ok"),
    "flow-a2": (8801, "missing"),
    "flow-a3": (8801, "broken"),
    "flow-b1": (8802, "missing"),
    "flow-b2": (8802, "ok"),
}
NAME = "Flow network"


def base_url(stack: System) -> str:
    return str(stack.api.base_url).rstrip("/")


async def create_postback_on_page(page: Page, base: str, url: str) -> None:
    await page.goto(f"{base}/postbacks")
    await page.get_by_role("button", name="New postback").click()
    editor = page.locator("#editor")
    await expect(editor).to_be_visible()
    await editor.get_by_label("Name", exact=True).fill(NAME)
    await editor.get_by_label("Type", exact=True).select_option("Conversion")
    await editor.get_by_label("Offer ID", exact=True).fill(str(OFFER))
    await editor.get_by_label("URL", exact=True).fill(url)
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_be_hidden()
    await expect(page.locator("#postback-rows tr", has_text=NAME)).to_have_count(1)


async def test_create_send_filter_detail_contains_export(
    page: Page, stack: System, publisher_server: Receiver, screenshots: Path
) -> None:
    base = base_url(stack)
    # The path is a macro, so one postback reaches a different receiver route per conversion.
    url = publisher_server.url("/") + "{sub1}?tx={transaction_id}&pub={publisher_id}"
    await create_postback_on_page(page, base, url)
    (config,) = [c for c in (await stack.api.get("/api/v1/postbacks")).json()["items"]
                 if c["name"] == NAME]  # fmt: skip
    assert (config["type"], config["offer_id"], config["publisher_id"]) == (
        "Conversion",
        OFFER,
        None,
    )
    assert config["url"] == url

    await settle()
    stack.produce(
        "conversions",
        [conversion(tx, OFFER, pub, sub1=route) for tx, (pub, route) in CONVERSIONS.items()],
    )
    logged = await stack.wait_for_logs(len(CONVERSIONS), offer_id=OFFER)
    assert sorted(i["transaction_id"] for i in logged) == sorted(CONVERSIONS)

    # Status = Failed and Publisher ID = 8801, typed and applied with Enter.
    await page.goto(f"{base}/logs")
    await add_filter(page, "Status", "is", "Failed")
    await add_filter(page, "Publisher ID", "is", "8801")
    assert page_query(page) == "status=Failed&publisher_id=8801"
    await expect_count(page, 2)
    assert sorted(await shown_transactions(page)) == ["flow-a2", "flow-a3"]
    assert await chips(page) == ["Status is Failed", "Publisher ID is 8801"]
    # Newest first, as the API orders them; every row marked failed by class, icon and word.
    api_order = [i["transaction_id"] for i in await stack.logs(status="Failed", publisher_id=8801)]
    assert await shown_transactions(page) == api_order
    rows = page.locator("#log-rows tr")
    for index in range(2):
        await expect(rows.nth(index)).to_have_class("failed")
        await expect(rows.nth(index).locator("td.c-status")).to_have_text("\u2716 Failed")

    # The detail of the 500, opened from the keyboard; Esc closes it and focus comes back.
    row = page.locator("#log-rows tr", has_text="flow-a3")
    opener = row.locator("button.row-open")
    await opener.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#detail")
    await expect(dialog).to_be_visible()
    record = next(i for i in logged if i["transaction_id"] == "flow-a3")
    await expect(dialog.locator("#detail-url")).to_have_text(record["url"])
    await expect(dialog.locator("#detail-code strong")).to_have_text("500")
    await expect(dialog.locator("#detail-meaning")).to_contain_text("contact the publisher")
    await expect(dialog.locator("#detail-error")).to_contain_text("HTTP 500")
    await expect(dialog.locator("#detail-response")).to_have_text("database is down")
    await expect(dialog.locator("#detail-attempt-number")).to_have_text("Attempt 1")
    source = json.loads(await dialog.locator("#detail-source").inner_text())
    assert source["transaction_id"] == "flow-a3"
    assert source["sub1"] == "broken"
    config_link = dialog.get_by_role("link", name="Open its configuration")
    await expect(config_link).to_have_attribute("href", f"/postbacks?id={config['id']}")
    await page.screenshot(path=screenshots / "log-detail.png")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()

    # The 404 reads as a rejection to fix in the URL.
    await page.locator("#log-rows tr", has_text="flow-a2").locator("button.row-open").click()
    await expect(dialog.locator("#detail-meaning")).to_contain_text("check the URL parameters")
    await dialog.get_by_role("button", name="Close details").click()

    # Change the publisher filter to Contains: its chip puts it back in the filter form.
    await page.get_by_role("button", name="Change filter: Publisher ID is 8801").click()
    await expect(page.get_by_label("Condition", exact=True)).to_be_focused()
    await page.get_by_label("Condition", exact=True).select_option(label="contains")
    await page.get_by_label("Value", exact=True).fill("880")
    await page.get_by_label("Value", exact=True).press("Enter")
    assert page_query(page) == "status=Failed&publisher_id__contains=880"
    await expect_count(page, 3)
    assert sorted(await shown_transactions(page)) == ["flow-a2", "flow-a3", "flow-b1"]

    # Export CSV of the current filters: the download holds exactly those rows.
    export = page.get_by_role("link", name="Export CSV")
    await expect(export).to_have_attribute(
        "href", "/api/v1/logs/export.csv?status=Failed&publisher_id__contains=880"
    )
    async with page.expect_download() as download_info:
        await export.click()
    download = await download_info.value
    exported = await csv_rows(download)
    assert sorted(r["Transaction ID"] for r in exported) == ["flow-a2", "flow-a3", "flow-b1"]
    assert {r["Status"] for r in exported} == {"Failed"}
    assert {r["Offer ID"] for r in exported} == {str(OFFER)}

    # The address is the view: opened anew it shows the same chips and rows; a chip removed
    # widens it, and Back restores it.
    await page.goto(page.url)
    assert await chips(page) == ["Status is Failed", "Publisher ID contains 880"]
    await expect_count(page, 3)
    await page.get_by_role("button", name="Remove filter: Status is Failed").click()
    assert page_query(page) == "publisher_id__contains=880"
    await expect_count(page, 5)
    await expect(page.locator("#log-rows tr.failed")).to_have_count(3)
    await expect(page.locator("#log-rows tr.succeeded")).to_have_count(2)
    await page.screenshot(path=screenshots / "logs.png")
    await page.go_back()
    await expect_count(page, 3)
    assert await chips(page) == ["Status is Failed", "Publisher ID contains 880"]

    # From the detail to the configuration that fired it.
    await page.locator("#log-rows tr", has_text="flow-a3").locator("button.row-open").click()
    await dialog.get_by_role("link", name="Open its configuration").click()
    await expect(page.locator("#editor")).to_be_visible()
    await expect(page.locator("#editor-title")).to_have_text(f"Edit postback: {NAME}")
    await expect(page.locator("#pb-url")).to_have_value(url)


async def test_filter_controls_follow_the_keyboard(page: Page, stack: System) -> None:
    await page.goto(f"{base_url(stack)}/logs")
    column = page.get_by_label("Column", exact=True)
    await column.focus()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Condition", exact=True)).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Value", exact=True)).to_be_focused()
    await page.keyboard.type("Flow")
    await page.keyboard.press("Enter")
    assert page_query(page) == "status=Flow"
    assert await chips(page) == ["Status is Flow"]
    # A chip's remove button is reachable and works from the keyboard too.
    await page.get_by_role("button", name="Remove filter: Status is Flow").focus()
    await page.keyboard.press("Enter")
    assert page_query(page) == ""
    assert await chips(page) == []


async def test_an_address_the_api_refuses_says_why_and_can_be_fixed(
    page: Page, stack: System
) -> None:
    # A hand-edited or old link: the API's 400 names the parameter, shown as a removable chip.
    await page.goto(f"{base_url(stack)}/logs?publisher=8801&status=Failed")
    await expect(page.locator("#notice")).to_contain_text("unknown parameter 'publisher'")
    assert await chips(page) == ["Status is Failed", "publisher = 8801"]
    await expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "aria-disabled", "true"
    )
    await page.get_by_role("button", name="Remove filter: publisher = 8801").click()
    await expect(page.locator("#notice")).to_be_hidden()
    assert page_query(page) == "status=Failed"
    await expect(page.get_by_role("link", name="Export CSV")).not_to_have_attribute(
        "aria-disabled", "true"
    )
