"""Conversions produced to Kafka come back through the API as logged attempts, on real parts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson

from postbacks.attempts import SERVER_RESPONSE_LIMIT, TRUNCATION_MARK
from tests.e2e.messages import conversion
from tests.e2e.receivers import Receiver, closed_port
from tests.e2e.system import Item, System

HOSTILE = "a&b=c d/é?#"


async def test_each_publisher_answer_is_logged_with_the_right_columns(
    system: System, publisher_server: Receiver
) -> None:
    refused = f"http://127.0.0.1:{closed_port()}/pb"
    routes = {
        1: (publisher_server.url("/ok"), 5000),
        2: (publisher_server.url("/missing"), 5000),
        3: (publisher_server.url("/broken"), 5000),
        4: (publisher_server.url("/slow"), 300),
        5: (refused, 5000),
        6: (publisher_server.url("/moved"), 5000),
        7: (publisher_server.url("/big"), 5000),
    }
    names = {}
    for publisher, (base, timeout_ms) in routes.items():
        created = await system.create_postback(
            name=f"outcome-{publisher}",
            type="Conversion",
            publisher_id=publisher,
            timeout_ms=timeout_ms,
            url=base + "?tx={transaction_id}&payout={payout}&s1={sub1}&aid={attempt_id}",
        )
        names[publisher] = created["name"]
    await system.configs_applied()  # through postbacks.configs
    system.produce("conversions", [conversion(f"tx-out-{p}", p, sub1=HOSTILE) for p in routes])

    items = await system.wait_for_logs(len(routes), postback_name__contains="OUTCOME-")
    by_publisher = {item["publisher_id"]: item for item in items}
    assert sorted(by_publisher) == sorted(routes)

    def check(item: Item, status: str, code: int, error_part: str) -> None:
        assert item["status"] == status, item
        assert item["response_code"] == code, item
        assert error_part in item["error"], item
        assert item["postback_type"] == "Conversion"
        assert item["offer_id"] == 7
        assert item["event_id"] == ""
        assert item["trigger"] == "auto"
        assert item["method"] == "GET"

    check(by_publisher[1], "Success", 200, "")
    assert by_publisher[1]["error"] == ""
    assert by_publisher[1]["server_response"] == "OK accepted"
    check(by_publisher[2], "Failed", 404, "HTTP 404")
    assert by_publisher[2]["server_response"] == "no such postback endpoint"
    check(by_publisher[3], "Failed", 500, "HTTP 500")
    assert by_publisher[3]["server_response"] == "database is down"
    check(by_publisher[4], "Failed", 0, "timeout")
    assert "300 ms" in by_publisher[4]["error"]
    check(by_publisher[5], "Failed", 0, "connection refused")
    check(by_publisher[6], "Failed", 302, "redirect to http://127.0.0.1:9/elsewhere")
    check(by_publisher[7], "Success", 200, "")
    big = by_publisher[7]["server_response"]
    assert big == "x" * SERVER_RESPONSE_LIMIT + TRUNCATION_MARK

    for publisher, item in by_publisher.items():
        assert item["postback_name"] == names[publisher]
        assert item["transaction_id"] == f"tx-out-{publisher}"
        query = parse_qs(urlsplit(item["url"]).query)
        # Values are percent-encoded, so the hostile sub1 stays one parameter, intact.
        assert query == {
            "tx": [f"tx-out-{publisher}"],
            "payout": ["12.50"],
            "s1": [HOSTILE],
            "aid": [item["attempt_id"]],
        }

    # What the publisher received is the logged URL, with the attempt id to drop duplicates.
    (received,) = publisher_server.find("tx-out-1")
    assert received.method == "GET"
    assert by_publisher[1]["url"].endswith(received.path)
    assert received.headers["X-Postback-Attempt-Id"] == by_publisher[1]["attempt_id"]

    detail = await system.api.get(f"/api/v1/logs/{by_publisher[3]['attempt_id']}")
    assert detail.status_code == 200
    record = detail.json()
    assert {k: record[k] for k in by_publisher[3]} == by_publisher[3]
    source = orjson.loads(record["source"])
    assert source["transaction_id"] == "tx-out-3"
    assert source["sub1"] == HOSTILE


async def test_bad_input_is_dead_lettered_and_consuming_goes_on(
    system: System, publisher_server: Receiver
) -> None:
    await system.create_postback(
        name="after-bad-input",
        type="Conversion",
        publisher_id=300,
        url=publisher_server.url("/ok?tx={transaction_id}"),
    )
    await system.configs_applied()
    not_json = b"{this is not json"
    wrong_type = orjson.dumps(
        {"transaction_id": "tx-bad-2", "offer_id": "seven", "publisher_id": 300}
    )
    missing = orjson.dumps({"offer_id": 1, "publisher_id": 300})
    system.produce("conversions", [not_json, wrong_type, missing, conversion("tx-good", 300)])

    letter = await system.dead_letters(lambda d: d["value_text"] == not_json.decode())
    assert letter["topic"] == "conversions"
    assert letter["service"] == "dispatcher"
    assert "invalid" in letter["reason"].lower()
    assert "json" in letter["reason"].lower()
    assert isinstance(letter["offset"], int)
    assert isinstance(letter["partition"], int)

    letter = await system.dead_letters(lambda d: d["value_text"] == wrong_type.decode())
    assert "offer_id" in letter["reason"]
    letter = await system.dead_letters(lambda d: d["value_text"] == missing.decode())
    assert "transaction_id" in letter["reason"]
    assert "required" in letter["reason"].lower()

    fired = await system.wait_for_logs(1, publisher_id=300)
    assert [i["transaction_id"] for i in fired] == ["tx-good"]


async def test_configuration_changes_apply_without_restart(
    system: System, publisher_server: Receiver
) -> None:
    created = await system.create_postback(
        name="live",
        type="Conversion",
        publisher_id=400,
        url=publisher_server.url("/ok?v=1&tx={transaction_id}"),
    )
    pid = created["id"]
    await system.configs_applied()  # a change applies without a restart
    system.produce("conversions", [conversion("tx-live-1", 400)])
    first = await system.wait_for_logs(1, publisher_id=400)
    assert "v=1" in first[0]["url"]

    replaced = await system.api.put(
        f"/api/v1/postbacks/{pid}",
        json={
            "name": "live",
            "type": "Conversion",
            "publisher_id": 400,
            "url": publisher_server.url("/missing?v=2&tx={transaction_id}"),
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    await system.configs_applied()
    system.produce("conversions", [conversion("tx-live-2", 400)])
    second = await system.wait_for_logs(1, transaction_id="tx-live-2")
    assert "v=2" in second[0]["url"]
    assert second[0]["response_code"] == 404

    deleted = await system.api.delete(f"/api/v1/postbacks/{pid}")
    assert deleted.status_code == 204
    assert (await system.api.get(f"/api/v1/postbacks/{pid}")).status_code == 404
    await system.configs_applied()
    # A marker postback for another publisher shows when the dispatcher has handled the batch.
    await system.create_postback(
        name="marker",
        type="Conversion",
        publisher_id=401,
        url=publisher_server.url("/ok?tx={transaction_id}"),
    )
    await system.configs_applied()
    system.produce("conversions", [conversion("tx-live-3", 400), conversion("tx-mark", 401)])
    assert len(await system.wait_for_logs(1, transaction_id="tx-mark")) == 1
    await system.settled()
    assert await system.logs(transaction_id="tx-live-3") == []
