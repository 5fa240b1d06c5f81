"""Everything in the log that strangers wrote (server responses, transaction ids, subs) and what
users typed (names) shows as text, never as markup: a publisher answering with <img onerror>
and <script> runs nothing and adds no element. Real Chromium against the running pipeline."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.hostile_publisher import PAYLOAD, HostilePublisher
from tests.browser.page_helpers import conversion, settle
from tests.e2e.system import System

OFFER = 7704
NAME = '<b>Bold</b> & "quoted" <img src=x onerror="window.pwned=5">'
TRANSACTION = "<img src=x onerror=window.pwned=3>"
SUB1 = '"><script>window.pwned=4</script>'


async def assert_nothing_ran(page: Page) -> None:
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("body img").count() == 0
    assert await page.locator("body script, body b").count() == 0


async def test_hostile_server_response_and_input_show_as_text(
    page: Page, stack: System, hostile_server: HostilePublisher
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    created = await stack.create_postback(
        name=NAME,
        type="Conversion",
        offer_id=OFFER,
        url=hostile_server.url("/pb?tx={transaction_id}"),
    )
    await settle()
    stack.produce("conversions", [conversion(TRANSACTION, OFFER, 9904, sub1=SUB1)])
    (logged,) = await stack.wait_for_logs(1, offer_id=OFFER)
    assert logged["server_response"] == PAYLOAD

    await page.goto(f"{base}/logs?offer_id={OFFER}")
    row = page.locator("#log-rows tr")
    await expect(row).to_have_count(1)
    await expect(row.locator("td.c-server_response")).to_have_text(PAYLOAD)
    await expect(row.locator("td.c-transaction_id")).to_have_text(TRANSACTION)
    await expect(row.locator("td.c-postback_name")).to_have_text(NAME)
    await assert_nothing_ran(page)

    await row.locator("button.row-open").click()
    dialog = page.locator("#detail")
    await expect(dialog.locator("#detail-response")).to_have_text(PAYLOAD)
    await expect(dialog.locator("#detail-transaction")).to_have_text(TRANSACTION)
    await expect(dialog.locator("#detail-source")).to_contain_text(SUB1.replace('"', '\\"'))
    await expect(dialog.locator("#detail-title")).to_contain_text(NAME)
    await assert_nothing_ran(page)
    assert await page.title() == "Postbacks Logs"

    # A chip holding markup is text too, and so is the address it came from.
    await page.goto(f"{base}/logs?offer_id={OFFER}&server_response__contains=%3Cimg")
    await expect(page.locator("#chips .chip-text").nth(1)).to_have_text(
        "Server Response contains <img"
    )
    await expect(page.locator("#log-rows tr")).to_have_count(1)
    await assert_nothing_ran(page)

    # The Postbacks page: the name in the list, the form and a test fire's answer.
    await page.goto(f"{base}/postbacks")
    await expect(
        page.locator("#postback-rows tr", has_text="Bold").locator("td.c-name")
    ).to_have_text(NAME)
    await page.locator(f'tr[data-postback-id="{created["id"]}"] button', has_text="Test").click()
    await expect(page.locator("#test-response")).to_have_text(PAYLOAD, timeout=30_000)
    await expect(page.locator("#test-code")).to_contain_text("400")
    await expect(page.locator("#test-code")).to_contain_text("check the URL parameters")
    await assert_nothing_ran(page)
    assert await page.title() == "Postbacks"
    # Out of the way of the other tests' screenshots of the Postbacks page.
    assert (await stack.api.delete(f"/api/v1/postbacks/{created['id']}")).status_code == 204
