"""JSON text may escape a lone surrogate ("\\ud800"): Python's json decodes it to a str that no
UTF-8 encoder takes. Such input must be dead-lettered with a reason naming the field, never crash
the dispatcher nor hold up its partition; the configuration API must answer 422, not 500."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.e2e.receivers import Receiver, receiver
from tests.e2e.system import Item, System

PUBLISHER = 9_100
LONE_HIGH = "\\ud800"  # the six characters of the escape, as they travel in the JSON text


@pytest.fixture(scope="module")
def publisher_server() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def _text(document: str) -> bytes:
    return document.encode()


async def test_lone_surrogates_are_dead_lettered_and_the_partition_moves_on(
    system: System, publisher_server: Receiver
) -> None:
    await system.create_postback(
        name="after-surrogates",
        type="Event",
        publisher_id=PUBLISHER,
        url=publisher_server.url("/ok?tx={transaction_id}&s1={sub1}&e={event_id}"),
    )
    await system.configs_applied()  # through postbacks.configs
    common = f'"offer_id": 1, "publisher_id": {PUBLISHER}'
    in_transaction = _text(f'{{"transaction_id": "{LONE_HIGH}", "event_id": "e1", {common}}}')
    in_sub = _text(f'{{"transaction_id": "tx-s", "event_id": "e1", "sub1": "a\\udfffb", {common}}}')
    in_event = _text(f'{{"transaction_id": "tx-e", "event_id": "\\uDC00", {common}}}')
    # A well-formed pair is one character (U+1F600), not a lone surrogate: it must fire.
    good = _text(f'{{"transaction_id": "tx-\\ud83d\\ude00", "event_id": "e1", {common}}}')
    # One key: one partition, so the good event is behind the bad ones on the same partition.
    system.produce("events", [in_transaction, in_sub, in_event, good], key=b"same-partition")

    expectations = {
        in_transaction: "transaction_id: lone surrogate \\ud800 is not valid Unicode",
        in_sub: "sub1: lone surrogate \\udfff is not valid Unicode",
        in_event: "event_id: lone surrogate \\udc00 is not valid Unicode",
    }
    for value, reason in expectations.items():
        text = value.decode()

        def carries(letter: Item, text: str = text) -> bool:
            return bool(letter["value_text"] == text)

        letter = await system.dead_letters(carries)
        assert letter["topic"] == "events"
        assert letter["service"] == "dispatcher"
        assert reason in letter["reason"], letter["reason"]

    fired = await system.wait_for_logs(1, publisher_id=PUBLISHER)
    assert [item["transaction_id"] for item in fired] == ["tx-\N{GRINNING FACE}"]
    assert publisher_server.find("tx=tx-%F0%9F%98%80"), publisher_server.requests


async def test_a_configuration_with_a_lone_surrogate_is_refused_naming_the_field(
    system: System,
) -> None:
    body = orjson.dumps(
        {"name": "placeholder", "type": "Conversion", "url": "http://127.0.0.1:9/pb"}
    ).replace(b'"placeholder"', b'"bad \\ud800 name"')
    answer = await system.api.post(
        "/api/v1/postbacks", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    error: Item = answer.json()["error"]
    assert error["message"].startswith("name: "), error
    assert [detail["field"] for detail in error["details"]] == ["name"]
    # Nothing was stored: the list holds no configuration by that name.
    listed = (await system.api.get("/api/v1/postbacks")).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert all("bad" not in item["name"] for item in items)
