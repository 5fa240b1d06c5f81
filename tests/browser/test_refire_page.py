"""Issue 9, item 4: on the log page, re-fire one failed attempt from its detail, then re-fire
every failure of a filtered view after fixing the postback, with a confirmation that shows the
dry run's count and a progress display that follows the job. Real Chromium and the real stack."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.page_helpers import add_filter, conversion, expect_count, settle
from tests.e2e.receivers import Receiver
from tests.e2e.system import System

OFFER = 7901
PUBLISHER = 8901  # this module's alone


async def test_refire_one_then_all_matching_after_a_fix(
    page: Page, stack: System, publisher_server: Receiver
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    config = await stack.create_postback(
        name="Refire page",
        type="Conversion",
        offer_id=OFFER,
        url=publisher_server.url("/broken?tx={transaction_id}"),
    )
    await settle()
    txs = ["rp-1", "rp-2", "rp-3"]
    stack.produce("conversions", [conversion(tx, OFFER, PUBLISHER) for tx in txs])
    assert len(await stack.wait_for_logs(3, offer_id=OFFER, status="Failed")) == 3

    # The fix: the same postback, now pointing at a route that answers 200.
    fixed = {
        k: v for k, v in config.items() if k not in ("id", "created_at", "updated_at", "version")
    }
    fixed["url"] = publisher_server.url("/ok?tx={transaction_id}")
    assert (await stack.api.put(f"/api/v1/postbacks/{config['id']}", json=fixed)).status_code == 200

    await page.goto(f"{base}/logs?offer_id={OFFER}&status=Failed")
    await expect_count(page, 3)
    # One attempt, from its detail: the new attempt is shown as the log records it.
    await page.locator("#log-rows tr", has_text="rp-1").click()
    detail = page.locator("#detail")
    await expect(detail).to_be_visible()
    await detail.get_by_role("button", name="Re-fire").click()
    await expect(page.locator("#detail-refire-status")).to_have_text(
        "Success (200)", timeout=30_000
    )
    await page.locator("#detail-refire-open").click()
    await expect(page.locator("#detail-trigger")).to_have_text("refire")
    await expect(page.locator("#detail-status")).to_contain_text("Success")
    await page.locator("#detail-close").click()

    # Every failure of the view: the button counts the attempts, the confirmation the pairs
    # still to fire (rp-1 has since succeeded).
    await page.reload()
    await expect_count(page, 3)
    bulk = page.get_by_role("button", name="Re-fire all 3 matching")
    await bulk.click()
    dialog = page.locator("#refire-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#refire-summary")).to_contain_text("2 (transaction, postback) pairs")
    await dialog.get_by_role("button", name="Re-fire now").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#refire-progress-text")).to_have_text(
        "Re-fire done: 2 of 2 fired \u00b7 2 succeeded \u00b7 0 failed", timeout=30_000
    )
    assert await page.locator("#refire-progress-bar").evaluate("b => b.value === b.max")

    refires = [r for r in await stack.logs(offer_id=str(OFFER)) if r["trigger"] == "refire"]
    assert sorted(r["transaction_id"] for r in refires) == txs
    assert {r["status"] for r in refires} == {"Success"}

    # The failures themselves stay in the log; the view still lists them, no pair is left.
    await expect_count(page, 3)
    await page.get_by_role("button", name="Re-fire all 3 matching").click()
    await expect(page.locator("#refire-summary")).to_contain_text("Nothing to re-fire")
    await expect(page.locator("#refire-confirm")).to_be_hidden()
    await page.locator("#refire-cancel").click()


async def test_the_bulk_button_needs_a_filter(page: Page, stack: System) -> None:
    base = str(stack.api.base_url).rstrip("/")
    await page.goto(f"{base}/logs")
    await expect(page.locator("#match-count")).not_to_be_empty()
    await expect(page.locator("#refire-all")).to_be_hidden()
    await add_filter(page, "Publisher ID", "is", str(PUBLISHER + 50))
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#refire-all")).to_be_hidden()  # nothing matches
