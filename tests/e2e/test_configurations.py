"""Configurations as networks use them, on the real stack: matching, POST bodies, test fire."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.e2e.receivers import Receiver
from tests.e2e.system import System


def message(transaction_id: str, publisher_id: int, **extra: Any) -> bytes:
    fields = {"transaction_id": transaction_id, "offer_id": 5, "publisher_id": publisher_id}
    return orjson.dumps({**fields, **extra})


async def test_rejections_reach_only_the_rejection_forwarding_postback(
    system: System, publisher_server: Receiver
) -> None:
    ok = publisher_server.url("/ok")
    await system.create_postback(
        name="approved-only",
        type="Conversion",
        publisher_id=500,
        url=ok + "?kind=approved&tx={transaction_id}",
    )
    await system.create_postback(
        name="rejections",
        type="Conversion",
        publisher_id=500,
        statuses=["rejected"],
        url=ok + "?kind=rejected&tx={transaction_id}&st={status}&why={rejection_reason}",
    )
    await system.configs_applied()
    system.produce(
        "conversions",
        [
            message("tx-rej", 500, status="rejected", rejection_reason="fraud: duplicate IP"),
            message("tx-app", 500),
        ],
    )
    rejected = await system.wait_for_logs(1, transaction_id="tx-rej")
    approved = await system.wait_for_logs(1, transaction_id="tx-app")
    await system.settled()  # nothing else arrives for either
    assert [i["postback_name"] for i in await system.logs(transaction_id="tx-rej")] == [
        "rejections"
    ]
    assert [i["postback_name"] for i in await system.logs(transaction_id="tx-app")] == [
        "approved-only"
    ]
    query = parse_qs(urlsplit(rejected[0]["url"]).query)
    assert query["st"] == ["rejected"]
    assert query["why"] == ["fraud: duplicate IP"]
    assert approved[0]["status"] == "Success"


async def test_events_reach_only_the_right_event_postbacks(
    system: System, publisher_server: Receiver
) -> None:
    ok = publisher_server.url("/ok?tx={transaction_id}&e={event_id}")
    await system.create_postback(name="event-5", type="Event", event_id=5, publisher_id=510, url=ok)
    await system.create_postback(
        name="event-6", type="Event", event_id="6", publisher_id=510, url=ok
    )
    await system.create_postback(name="any-event", type="Event", publisher_id=510, url=ok)
    await system.create_postback(name="conversion-510", type="Conversion", publisher_id=510, url=ok)
    await system.configs_applied()
    system.produce("events", [message("tx-ev5", 510, event_id=5, event_name="deposit")])
    items = await system.wait_for_logs(2, transaction_id="tx-ev5")
    await system.settled()
    items = await system.logs(transaction_id="tx-ev5")
    assert sorted(i["postback_name"] for i in items) == ["any-event", "event-5"]
    assert {i["event_id"] for i in items} == {"5"}
    assert {i["postback_type"] for i in items} == {"Event"}


async def test_one_conversion_fires_every_matching_scope_once(
    system: System, publisher_server: Receiver
) -> None:
    ok = publisher_server.url("/ok?tx={transaction_id}")
    await system.create_postback(
        name="scope-pair", type="Conversion", offer_id=5, publisher_id=520, url=ok
    )
    await system.create_postback(
        name="scope-publisher", type="Conversion", publisher_id=520, url=ok
    )
    await system.create_postback(
        name="scope-other-offer", type="Conversion", offer_id=6, publisher_id=520, url=ok
    )
    await system.create_postback(name="scope-click", type="Click", publisher_id=520, url=ok)
    await system.configs_applied()
    system.produce("conversions", [message("tx-scope", 520)])
    await system.wait_for_logs(2, transaction_id="tx-scope")
    await system.settled()
    names = sorted(i["postback_name"] for i in await system.logs(transaction_id="tx-scope"))
    assert names == ["scope-pair", "scope-publisher"]


async def test_a_json_post_arrives_byte_for_byte_as_rendered(
    system: System, publisher_server: Receiver
) -> None:
    await system.create_postback(
        name="json-post",
        type="Conversion",
        publisher_id=530,
        method="POST",
        url=publisher_server.url("/ok?tx={transaction_id}"),
        body=(
            '{"tx": "{transaction_id}", "payout": {payout}, "note": "{sub1}", "offer": {offer_id}}'
        ),
        headers={"X-Network-Token": "secret-{publisher_id}", "X-Sub": "{sub2}"},
    )
    await system.configs_applied()
    system.produce(
        "conversions",
        [
            message(
                "tx-json",
                530,
                payout="12.50",
                sub1='he said "hi"\\\n\u2028',
                sub2="a\r\nInjected: yes",
            )
        ],
    )
    (item,) = await system.wait_for_logs(1, transaction_id="tx-json")
    assert item["method"] == "POST"
    assert item["status"] == "Success"
    (received,) = publisher_server.find("tx-json")
    assert received.method == "POST"
    assert received.body == (
        b'{"tx": "tx-json", "payout": 12.50, "note": "he said \\"hi\\"\\\\\\n\xe2\x80\xa8", '
        b'"offer": 5}'
    )
    assert orjson.loads(received.body)["note"] == 'he said "hi"\\\n\u2028'
    assert received.headers["Content-Type"] == "application/json; charset=utf-8"
    assert received.headers["X-Network-Token"] == "secret-530"
    assert received.headers["X-Sub"] == "a  Injected: yes"  # CR/LF cannot start a header
    assert "Injected" not in received.headers


async def test_a_form_post_keeps_every_value_in_its_field(
    system: System, publisher_server: Receiver
) -> None:
    await system.create_postback(
        name="form-post",
        type="Conversion",
        publisher_id=540,
        method="POST",
        content_type="form",
        url=publisher_server.url("/ok?tx={transaction_id}"),
        body="tx={transaction_id}&sub={sub1}",
    )
    await system.configs_applied()
    system.produce("conversions", [message("tx-form", 540, sub1="x&admin=1 +=%")])
    await system.wait_for_logs(1, transaction_id="tx-form")
    (received,) = publisher_server.find("tx-form")
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(received.body.decode()) == {"tx": ["tx-form"], "sub": ["x&admin=1 +=%"]}


async def test_disabling_stops_a_postback_within_two_seconds(
    system: System, publisher_server: Receiver
) -> None:
    body = {
        "name": "toggle",
        "type": "Conversion",
        "publisher_id": 550,
        "url": publisher_server.url("/ok?tx={transaction_id}"),
    }
    created = await system.create_postback(**body)
    await system.create_postback(
        name="toggle-marker",
        type="Conversion",
        publisher_id=551,
        url=publisher_server.url("/ok?tx={transaction_id}"),
    )
    answer = await system.api.put(
        f"/api/v1/postbacks/{created['id']}", json={**body, "enabled": False}
    )
    assert answer.status_code == 200
    assert answer.json()["enabled"] is False
    await system.configs_applied()
    system.produce("conversions", [message("tx-off", 550), message("tx-off-marker", 551)])
    await system.wait_for_logs(1, transaction_id="tx-off-marker")
    await system.settled()
    assert await system.logs(transaction_id="tx-off") == []


async def test_test_fire_answers_with_the_logged_attempt(
    system: System, publisher_server: Receiver
) -> None:
    created = await system.create_postback(
        name="to-verify",
        type="Conversion",
        publisher_id=560,
        statuses=["rejected"],
        enabled=False,  # a network verifies a URL before it switches the postback on
        url=publisher_server.url("/ok?tx={transaction_id}&st={status}&p={payout}"),
    )
    answer = await system.api.post(f"/api/v1/postbacks/{created['id']}/test")
    assert answer.status_code == 200, answer.text
    attempt = answer.json()
    assert attempt["trigger"] == "test"
    assert attempt["status"] == "Success"
    assert attempt["response_code"] == 200
    assert attempt["postback_id"] == created["id"]
    assert attempt["publisher_id"] == 560
    assert attempt["transaction_id"].startswith("test-")
    assert parse_qs(urlsplit(attempt["url"]).query)["st"] == ["rejected"]
    assert publisher_server.find(attempt["transaction_id"])
    # The same record is in the log, filterable like any other.
    logged = await system.logs(transaction_id=attempt["transaction_id"])
    assert [i["attempt_id"] for i in logged] == [attempt["attempt_id"]]

    custom = await system.api.post(
        f"/api/v1/postbacks/{created['id']}/test",
        json={"transaction_id": "tx-sample", "payout": "9.99"},
    )
    assert custom.status_code == 200, custom.text
    assert parse_qs(urlsplit(custom.json()["url"]).query) == {
        "tx": ["tx-sample"],
        "st": ["rejected"],
        "p": ["9.99"],
    }

    bad = await system.api.post(
        f"/api/v1/postbacks/{created['id']}/test", json={"offer_id": "seven"}
    )
    assert bad.status_code == 422
    assert "sample.offer_id" in bad.json()["error"]["message"]

    missing = await system.api.post("/api/v1/postbacks/00000000-0000-4000-8000-000000000000/test")
    assert missing.status_code == 404


async def test_test_fire_of_a_failing_publisher_shows_the_failure(
    system: System, publisher_server: Receiver
) -> None:
    created = await system.create_postback(
        name="verify-broken", type="Click", url=publisher_server.url("/broken?c={transaction_id}")
    )
    answer = await system.api.post(f"/api/v1/postbacks/{created['id']}/test")
    assert answer.status_code == 200, answer.text
    attempt = answer.json()
    assert attempt["postback_type"] == "Click"
    assert attempt["status"] == "Failed"
    assert attempt["response_code"] == 500
    assert attempt["server_response"] == "database is down"


async def test_a_restarted_dispatcher_rebuilds_its_configurations_from_the_topic(
    system: System, publisher_server: Receiver
) -> None:
    ok = publisher_server.url("/ok?tx={transaction_id}")
    kept = await system.create_postback(name="kept", type="Conversion", publisher_id=570, url=ok)
    gone = await system.create_postback(name="gone", type="Conversion", publisher_id=570, url=ok)
    assert (await system.api.delete(f"/api/v1/postbacks/{gone['id']}")).status_code == 204
    await system.configs_applied()
    # A new dispatcher starts with an empty table: what it knows comes from postbacks.configs.
    await system.dispatcher.restart()
    system.produce("conversions", [message("tx-restart", 570)])
    await system.wait_for_logs(1, transaction_id="tx-restart")
    await system.settled()
    items = await system.logs(transaction_id="tx-restart")
    assert [(i["postback_id"], i["postback_name"]) for i in items] == [(kept["id"], "kept")]


async def test_a_stored_configuration_that_fails_todays_url_check_can_be_seen_and_fixed(
    system: System, publisher_server: Receiver
) -> None:
    # Saved before the port check existed (the API refuses it now): a row as the API wrote it.
    created = await system.create_postback(
        name="old-port", type="Conversion", publisher_id=640, url=publisher_server.url("/ok")
    )
    row = created | {"url": "http://127.0.0.1:99999/ok", "version": 2, "is_deleted": 0}
    await system.store.insert_json("postback_configs", [orjson.dumps(row)])
    listed = (await system.api.get("/api/v1/postbacks")).json()["items"]
    assert [c["url"] for c in listed if c["id"] == created["id"]] == [row["url"]]
    answer = await system.api.get(f"/api/v1/postbacks/{created['id']}")
    assert answer.status_code == 200
    # Test-firing it is refused with the reason, instead of a request the dispatcher drops.
    fired = await system.api.post(f"/api/v1/postbacks/{created['id']}/test", json={})
    assert fired.status_code == 422, fired.text
    assert "port must be a number from 1 to 65535" in fired.text
    # Fixed with a PUT, it fires again.
    fixed = {k: answer.json()[k] for k in ("name", "type", "publisher_id")}
    put = await system.api.put(
        f"/api/v1/postbacks/{created['id']}", json=fixed | {"url": publisher_server.url("/ok")}
    )
    assert put.status_code == 200, put.text
    fired = await system.api.post(f"/api/v1/postbacks/{created['id']}/test", json={})
    assert fired.status_code == 200, fired.text
    assert fired.json()["status"] == "Success"


async def test_a_test_fire_sample_is_checked_as_an_input_is(
    system: System, publisher_server: Receiver
) -> None:
    created = await system.create_postback(
        name="sample-check", type="Conversion", publisher_id=650, url=publisher_server.url("/ok")
    )
    for sample, field in [
        ({"offer_id": 10**30}, "sample.offer_id"),
        ({"sub1": "\ud800"}, "sample: sub1"),
        ({"payout": "1e999999999"}, "sample.payout"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "sample.occurred_at"),
    ]:
        answer = await system.api.post(
            f"/api/v1/postbacks/{created['id']}/test",
            content=json.dumps(sample),  # escapes the lone surrogate, as a client's JSON would
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert field in answer.text
