"""Issue 21: the pages under a token confined to some publishers. The Logs page shows only their
rows and says so, its filter bar offers no other publisher; the Postbacks page lists only their
configurations and its form names one of them (a choice of exactly those ids, the API's 422
beside the field when none is chosen). An unconfined token sees everything as before.
The real query-api app on loopback with POSTBACKS_API_TOKENS, over real chDB and the embedded
broker; the log rows are written straight into the attempt table."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Page, expect

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.attempts import attempt_record, insert_attempts
from tests.browser.page_helpers import add_filter, page_query, shown_transactions, use_token
from tests.serving import served

CONFINED = "confined-42-6d1e0b7a93c4"
SEVERAL = "confined-42-43-a0f9e2c5"
ADMIN = "admin-5c8e1f0b2a7d94e6"
BOTH = {"scopes": ["logs:read", "postbacks:write"]}
TOKENS = {
    CONFINED: {**BOTH, "publisher_ids": [42]},
    SEVERAL: {**BOTH, "publisher_ids": [42, 43]},
    ADMIN: BOTH["scopes"],
}
# Three attempts of publisher 42, two of 43, one of 44 (outside every confined token).
ROWS = {"c42-1": 42, "c42-2": 42, "c42-3": 42, "c43-1": 43, "c43-2": 43, "c44-1": 44}


def of(publisher: int) -> list[str]:
    return sorted(tx for tx, pub in ROWS.items() if pub == publisher)


@dataclass
class Guarded:
    url: str
    admin: httpx.AsyncClient

    async def configs(self) -> list[dict[str, object]]:
        answer = await self.admin.get("/api/v1/postbacks")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, object]] = answer.json()["items"]
        return items


@pytest.fixture
async def guarded(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[Guarded]:
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    # The tokens as POSTBACKS_API_TOKENS holds them.
    app = build_app(embedded_store, publisher, tokens=TokenTable.parse(json.dumps(TOKENS)))
    try:
        async with (
            served(app) as url,
            httpx.AsyncClient(
                base_url=url, trust_env=False, headers={"Authorization": f"Bearer {ADMIN}"}
            ) as admin,
        ):
            configs: dict[int, uuid.UUID] = {}
            for name, pub in (("Network 42", 42), ("Network 43", 43)):
                answer = await admin.post(
                    "/api/v1/postbacks",
                    json={"name": name, "type": "Conversion", "publisher_id": pub,
                          "url": f"http://127.0.0.1:9/pb?p={pub}"},
                )  # fmt: skip
                assert answer.status_code == 201, answer.text
                configs[pub] = uuid.UUID(answer.json()["id"])
            # Each publisher's attempts through its own configuration (a confined token sees
            # only those); 44's through one no token here is confined to.
            rows = [
                attempt_record(
                    n,
                    transaction_id=tx,
                    publisher_id=pub,
                    postback_id=configs.get(pub, uuid.uuid4()),
                )
                for n, (tx, pub) in enumerate(ROWS.items())
            ]
            await insert_attempts(embedded_store, rows)
            yield Guarded(url, admin)
    finally:
        await publisher.stop()


async def test_a_token_confined_to_one_publisher_sees_and_manages_only_its_own(
    page: Page, guarded: Guarded
) -> None:
    await page.goto(f"{guarded.url}/logs")
    await use_token(page, CONFINED)
    await expect(page.locator("#confinement")).to_have_text(
        "This token sees publisher 42 only; the log, its count and its export keep to them."
    )
    await expect(page.locator("#token-state")).to_have_text(
        "Token in use for this tab: publisher 42 only."
    )
    await expect(page.locator("#log-rows tr")).to_have_count(len(of(42)))
    assert sorted(await shown_transactions(page)) == of(42)
    # Nothing to narrow to: the filter bar does not offer the column at all.
    publisher_option = page.locator("#filter-column option[value=publisher_id]")
    await expect(publisher_option).to_have_js_property("disabled", True)
    await expect(publisher_option).to_have_js_property("hidden", True)
    # An address naming another publisher (a shared link) shows nothing, and the note stays.
    await page.goto(f"{guarded.url}/logs?publisher_id=43")
    await expect(page.locator("#match-count")).to_have_text("0 matching attempts \u00b7 showing 0")
    await expect(page.locator("#confinement")).to_be_visible()

    # The Postbacks page: only 42's configuration; a new one is for 42, with no other choice.
    await page.goto(f"{guarded.url}/postbacks")
    rows = page.locator("#postback-rows tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("Network 42")
    await expect(page.locator("#confinement")).to_contain_text(
        "This token manages the postbacks of publisher 42 only"
    )
    await page.get_by_role("button", name="New postback").click()
    editor = page.locator("#editor")
    publisher = editor.get_by_label("Publisher ID", exact=True)
    await expect(publisher).to_have_value("42")
    assert await publisher.locator("option").all_inner_texts() == ["42"]
    await editor.get_by_label("Name", exact=True).fill("Made by 42")
    await editor.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/pb?tx={transaction_id}")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_be_hidden()
    await expect(page.locator("#saved")).to_have_text("Saved \u201cMade by 42\u201d (version 1).")
    await expect(page.locator("#saved-watch")).to_have_attribute(
        "href", "/logs?postback_name=Made+by+42&live=1"
    )
    await expect(rows).to_have_count(2)
    made = [c for c in await guarded.configs() if c["name"] == "Made by 42"]
    assert [c["publisher_id"] for c in made] == [42]


async def test_a_token_of_several_publishers_narrows_among_them_and_must_choose_one(
    page: Page, guarded: Guarded
) -> None:
    await page.goto(f"{guarded.url}/logs")
    await use_token(page, SEVERAL)
    await expect(page.locator("#confinement")).to_contain_text(
        "This token sees publishers 42, 43 only"
    )
    await expect(page.locator("#log-rows tr")).to_have_count(len(of(42) + of(43)))
    # The column is offered, as "is" one of its publishers: those are the suggestions, and
    # another one is refused in the bar before any request.
    await page.get_by_label("Column", exact=True).select_option(label="Publisher ID")
    await expect(page.locator("#filter-operator option[value=contains]")).to_have_js_property(
        "disabled", True
    )
    suggestions = page.locator("#filter-values option")
    assert [await o.get_attribute("value") for o in await suggestions.all()] == ["42", "43"]
    await add_filter(page, "Publisher ID", "is", "44")
    assert page_query(page) == ""
    await expect(page.get_by_label("Value", exact=True)).to_have_js_property(
        "validationMessage", "This token sees publishers 42, 43 only: choose one of them."
    )
    await add_filter(page, "Publisher ID", "is", "43")
    assert page_query(page) == "publisher_id=43"
    await expect(page.locator("#log-rows tr")).to_have_count(len(of(43)))
    assert sorted(await shown_transactions(page)) == of(43)

    # The form offers its publishers and chooses none: saved without a choice, the API's 422
    # is shown beside the field.
    await page.goto(f"{guarded.url}/postbacks")
    await expect(page.locator("#postback-rows tr")).to_have_count(2)
    await page.get_by_role("button", name="New postback").click()
    editor = page.locator("#editor")
    publisher = editor.get_by_label("Publisher ID", exact=True)
    await expect(publisher).to_have_value("")
    assert await publisher.locator("option").all_inner_texts() == ["Choose one", "42", "43"]
    await editor.get_by_label("Name", exact=True).fill("Made by 42 or 43")
    await editor.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/pb")
    await editor.get_by_role("button", name="Save").click()
    await expect(publisher).to_have_attribute("aria-invalid", "true")
    await expect(editor.locator("#err-publisher_id")).to_contain_text("42, 43")
    await expect(publisher).to_be_focused()
    await publisher.select_option("43")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_be_hidden()
    made = [c for c in await guarded.configs() if c["name"] == "Made by 42 or 43"]
    assert [c["publisher_id"] for c in made] == [43]


async def test_an_unconfined_token_sees_every_publisher(page: Page, guarded: Guarded) -> None:
    await page.goto(f"{guarded.url}/logs")
    await use_token(page, ADMIN)
    await expect(page.locator("#log-rows tr")).to_have_count(len(ROWS))
    await expect(page.locator("#token-state")).to_have_text("Token in use for this tab.")
    await expect(page.locator("#confinement")).to_be_hidden()
    await expect(page.locator("#filter-column option[value=publisher_id]")).to_have_js_property(
        "disabled", False
    )
    await add_filter(page, "Publisher ID", "contains", "4")
    await expect(page.locator("#log-rows tr")).to_have_count(len(ROWS))

    await page.goto(f"{guarded.url}/postbacks")
    await expect(page.locator("#postback-rows tr")).to_have_count(2)
    await expect(page.locator("#confinement")).to_be_hidden()
    await page.get_by_role("button", name="New postback").click()
    publisher = page.locator("#editor").get_by_label("Publisher ID", exact=True)
    await expect(publisher).to_have_attribute("placeholder", "any publisher")
    await expect(publisher).to_have_value("")
