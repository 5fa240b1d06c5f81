"""Issue 7, item 2: the Postbacks page. Create with every field, the API's 422 messages beside
the fields they name, edit, enable and disable, a test fire showing the attempt, and delete
with confirmation. Real Chromium against the running pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.e2e.receivers import Receiver
from tests.e2e.system import System


async def configs_named(stack: System, name: str) -> list[dict[str, Any]]:
    answer = await stack.api.get("/api/v1/postbacks")
    assert answer.status_code == 200, answer.text
    return [c for c in answer.json()["items"] if c["name"] == name]


async def field_error(editor: Locator, field_label: str) -> Locator:
    """The error text the field's aria-describedby points to: what a screen reader reads."""
    field = editor.get_by_label(field_label, exact=True)
    await expect(field).to_have_attribute("aria-invalid", "true")
    described_by = await field.get_attribute("aria-describedby")
    assert described_by
    error_id = next(i for i in described_by.split() if i.startswith("err-"))
    return editor.locator(f"#{error_id}")


async def test_create_with_every_field_and_see_validation_beside_fields(
    page: Page, stack: System, publisher_server: Receiver, screenshots: Path
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    await page.goto(f"{base}/postbacks")
    await page.get_by_role("button", name="New postback").click()
    editor = page.locator("#editor")
    await editor.get_by_label("Name", exact=True).fill("Every field")
    await editor.get_by_label("Type", exact=True).select_option("Event")
    await editor.get_by_label("Offer ID", exact=True).fill("7702")
    await editor.get_by_label("Publisher ID", exact=True).fill("9903")
    await editor.get_by_label("Event ID", exact=True).fill("5")
    await editor.get_by_label("rejected").check()
    await editor.get_by_label("Method", exact=True).select_option("POST")
    # Three mistakes at once: an unknown macro, a too short timeout, a body that is not JSON.
    await editor.get_by_label("URL", exact=True).fill(
        publisher_server.url("/ok?tx={txid}&pub={publisher_id}")
    )
    await editor.get_by_label("Timeout (ms)", exact=True).fill("50")
    await editor.get_by_label("Body", exact=True).fill('{"tx": "{transaction_id}", ')
    await editor.get_by_label("Body content type", exact=True).select_option("json")
    await editor.get_by_role("button", name="Add header").click()
    await editor.get_by_label("Header 1 name").fill("X-Network")
    await editor.get_by_label("Header 1 value").fill("acme-{offer_id}")
    await editor.get_by_role("button", name="Save").click()

    url_error = await field_error(editor, "URL")
    await expect(url_error).to_be_visible()
    await expect(url_error).to_contain_text("txid")
    timeout_error = await field_error(editor, "Timeout (ms)")
    await expect(timeout_error).to_contain_text("100")
    await expect(editor.get_by_label("URL", exact=True)).to_be_focused()
    await page.screenshot(path=screenshots / "postback-form-errors.png")
    assert await configs_named(stack, "Every field") == []

    await editor.get_by_label("URL", exact=True).fill(
        publisher_server.url("/ok?tx={transaction_id}&pub={publisher_id}")
    )
    await editor.get_by_label("Timeout (ms)", exact=True).fill("3000")
    await editor.get_by_label("Connect timeout (ms)", exact=True).fill("1000")
    # The optional retry policy and delay; the longest wait is shorter than the first: refused.
    await editor.get_by_label("Delay before sending (ms)", exact=True).fill("250")
    await editor.get_by_label("Attempts at most", exact=True).fill("4")
    await editor.get_by_label("First retry after (ms)", exact=True).fill("2000")
    await editor.get_by_label("Longest wait between attempts (ms)", exact=True).fill("1000")
    await editor.get_by_role("button", name="Save").click()
    retry_error = await field_error(editor, "Longest wait between attempts (ms)")
    await expect(retry_error).to_contain_text("retry_max_delay_ms")
    await editor.get_by_label("Longest wait between attempts (ms)", exact=True).fill("8000")
    await editor.get_by_role("button", name="Save").click()
    # Each check runs in turn: the body's mistake is named once the others are fixed.
    body_error = await field_error(editor, "Body")
    await expect(body_error).to_contain_text("not valid JSON")
    await expect(editor.locator("#err-url")).to_be_hidden()

    await editor.get_by_label("Body", exact=True).fill('{"tx": "{transaction_id}", "n": 1}')
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_be_hidden()
    (saved,) = await configs_named(stack, "Every field")
    expected = {
        "name": "Every field",
        "type": "Event",
        "url": publisher_server.url("/ok?tx={transaction_id}&pub={publisher_id}"),
        "offer_id": 7702,
        "publisher_id": 9903,
        "event_id": "5",
        "statuses": ["approved", "rejected"],
        "method": "POST",
        "body": '{"tx": "{transaction_id}", "n": 1}',
        "content_type": "json",
        "headers": {"X-Network": "acme-{offer_id}"},
        "timeout_ms": 3000,
        "connect_timeout_ms": 1000,
        "delay_ms": 250,
        "retry_max_attempts": 4,
        "retry_initial_delay_ms": 2000,
        "retry_max_delay_ms": 8000,
        "enabled": True,
        "version": 1,
    }
    assert {k: saved.get(k) for k in expected} == expected

    # Editing shows what is stored, and a name already taken is named beside the name.
    await stack.create_postback(
        name="Taken name", type="Click", offer_id=7702, url=publisher_server.url("/ok")
    )
    await page.reload()
    await page.get_by_role("button", name="Edit \u201cEvery field\u201d").click()
    await expect(editor.get_by_label("Event ID", exact=True)).to_have_value("5")
    await expect(editor.get_by_label("Header 1 value")).to_have_value("acme-{offer_id}")
    await expect(editor.get_by_label("rejected")).to_be_checked()
    await editor.get_by_label("Name", exact=True).fill("Taken name")
    await editor.get_by_role("button", name="Save").click()
    name_error = await field_error(editor, "Name")
    await expect(name_error).to_contain_text("already in use")
    await editor.get_by_label("Name", exact=True).fill("Every field, edited")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_be_hidden()
    await expect(page.locator("#saved")).to_have_text(
        "Saved \u201cEvery field, edited\u201d (version 2)."
    )
    (edited,) = await configs_named(stack, "Every field, edited")
    assert edited["id"] == saved["id"]
    assert edited["headers"] == {"X-Network": "acme-{offer_id}"}

    # Esc closes the form without saving.
    await page.get_by_role("button", name="New postback").click()
    await expect(editor).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(editor).to_be_hidden()
    await expect(page.get_by_role("button", name="New postback")).to_be_focused()


async def test_enable_disable_test_fire_and_delete(
    page: Page, stack: System, publisher_server: Receiver, screenshots: Path
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    created = await stack.create_postback(
        name="Toggle me",
        type="Conversion",
        offer_id=7703,
        url=publisher_server.url("/ok?tx={transaction_id}&p={payout}"),
    )
    await page.goto(f"{base}/postbacks")
    toggle = page.get_by_role("switch", name="Enabled: Toggle me")
    await expect(toggle).to_be_checked()
    await toggle.uncheck()
    await expect(page.locator("#saved")).to_have_text("\u201cToggle me\u201d is now disabled.")
    (stored,) = await configs_named(stack, "Toggle me")
    assert (stored["enabled"], stored["version"]) == (False, 2)
    await page.get_by_role("switch", name="Enabled: Toggle me").check()
    await expect(page.locator("#saved")).to_have_text("\u201cToggle me\u201d is now enabled.")
    (stored,) = await configs_named(stack, "Toggle me")
    assert (stored["enabled"], stored["version"]) == (True, 3)

    # Test: fires once through the dispatcher and shows the logged attempt.
    await page.get_by_role("button", name="Test \u201cToggle me\u201d").click()
    result = page.locator("#test-result")
    await expect(result.locator("#test-status")).to_have_text("\u2714 Success", timeout=30_000)
    await expect(result.locator("#test-code")).to_contain_text("200")
    await expect(result.locator("#test-response")).to_have_text("OK accepted")
    await expect(result.locator("#test-error")).to_have_text("(none)")
    transaction = (await result.locator("#test-transaction").inner_text()).split(" ")[0]
    assert transaction.startswith("test-")
    assert publisher_server.find(f"tx={transaction}"), "the publisher received no test request"
    await expect(result.get_by_role("link", name="See it in the log")).to_have_attribute(
        "href", f"/logs?transaction_id={transaction}"
    )
    await page.screenshot(path=screenshots / "postback-test-fire.png")
    await result.get_by_role("button", name="Close test result").click()
    await page.screenshot(path=screenshots / "postbacks.png")

    # Delete asks first: Cancel keeps it, Delete removes it.
    await page.get_by_role("button", name="Delete \u201cToggle me\u201d").click()
    confirm = page.locator("#confirm-delete")
    await expect(confirm).to_contain_text("Delete \u201cToggle me\u201d?")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert len(await configs_named(stack, "Toggle me")) == 1
    await page.get_by_role("button", name="Delete \u201cToggle me\u201d").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.locator("#saved")).to_have_text("Deleted \u201cToggle me\u201d.")
    await expect(page.locator("#postback-rows tr", has_text="Toggle me")).to_have_count(0)
    assert (await stack.api.get(f"/api/v1/postbacks/{created['id']}")).status_code == 404

    # A link to a configuration that is gone says so.
    await page.goto(f"{base}/postbacks?id={created['id']}")
    await expect(page.locator("#notice")).to_contain_text(
        f"No postback configuration with id {created['id']}"
    )


async def test_an_edit_of_a_configuration_saved_since_is_refused_not_overwriting_it(
    page: Page, stack: System, publisher_server: Receiver
) -> None:
    base = str(stack.api.base_url).rstrip("/")
    created = await stack.create_postback(
        name="Edited twice", type="Conversion", offer_id=7704, url=publisher_server.url("/ok")
    )
    await page.goto(f"{base}/postbacks")
    await page.get_by_role("button", name="Edit \u201cEdited twice\u201d").click()
    editor = page.locator("#editor")
    await editor.get_by_label("URL", exact=True).fill(publisher_server.url("/from-the-page"))
    # Meanwhile someone else changes it through the API.
    answer = await stack.api.patch(
        f"/api/v1/postbacks/{created['id']}", json={"url": publisher_server.url("/from-the-api")}
    )
    assert answer.status_code == 200, answer.text
    await editor.get_by_role("button", name="Save").click()

    await expect(editor.locator("#form-error")).to_contain_text(
        "Someone saved this postback since you opened it, so your changes were not saved."
    )
    (stored,) = await configs_named(stack, "Edited twice")
    assert stored["url"] == publisher_server.url("/from-the-api")
    assert stored["version"] == 2

    # The list still shows version 1: switching it off is refused too, and the list reloads.
    await editor.get_by_role("button", name="Cancel").click()
    await page.get_by_role("switch", name="Enabled: Edited twice").uncheck()
    await expect(page.locator("#notice")).to_contain_text("was changed by someone else")
    await expect(page.get_by_role("switch", name="Enabled: Edited twice")).to_be_checked()
    (stored,) = await configs_named(stack, "Edited twice")
    assert (stored["enabled"], stored["version"]) == (True, 2)
    await page.get_by_role("switch", name="Enabled: Edited twice").uncheck()
    await expect(page.locator("#saved")).to_have_text("\u201cEdited twice\u201d is now disabled.")
