"""Retry policy end to end (issue 9 item 5): saved through the API, kept in ClickHouse, fired by
the dispatcher, and every attempt logged with its number, on the real pipeline."""

from __future__ import annotations

import orjson

from tests.dispatcher import hostile
from tests.dispatcher.scripted import Scripted
from tests.e2e.system import System

POLICY = {
    "retry_max_attempts": 4,
    "retry_initial_delay_ms": 200,
    "retry_max_delay_ms": 3000,
    "delay_ms": 0,
}


async def test_a_retry_policy_is_stored_and_a_bad_one_is_refused_naming_the_field(
    system: System,
) -> None:
    created = await system.create_postback(
        name="retry-stored",
        type="Conversion",
        publisher_id=9100,  # no input comes for it
        url="http://127.0.0.1:9/pb",
        **POLICY,
    )
    stored = (await system.api.get(f"/api/v1/postbacks/{created['id']}")).json()
    assert {k: stored[k] for k in POLICY} == POLICY

    answer = await system.api.post(
        "/api/v1/postbacks",
        json={"name": "retry-bad", "type": "Conversion", "url": "http://127.0.0.1:9/pb"}
        | {"retry_initial_delay_ms": 5000, "retry_max_delay_ms": 1000},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith("body: retry_max_delay_ms (1000)")
    answer = await system.api.post(
        "/api/v1/postbacks",
        json={"name": "retry-bad", "type": "Conversion", "url": "http://127.0.0.1:9/pb"}
        | {"retry_max_attempts": 11},
    )
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["retry_max_attempts"]


async def test_each_attempt_is_logged_with_its_number(system: System) -> None:
    tx = "tx-retry-e2e"
    server = Scripted({tx: [b"503 Service Unavailable\r\nRetry-After: 1", b"502 Bad Gateway"]})
    async with hostile.serve(server) as publisher:
        await system.create_postback(
            name="retry-e2e",
            type="Conversion",
            publisher_id=9101,
            url=f"http://127.0.0.1:{publisher.port}/pb?tx={{transaction_id}}",
            **POLICY | {"retry_max_attempts": 3},
        )
        await system.configs_applied()  # through postbacks.configs
        conversion = {"transaction_id": tx, "offer_id": 1, "publisher_id": 9101}
        system.produce("conversions", [orjson.dumps(conversion)])
        items = await system.wait_for_logs(3, transaction_id=tx, postback_name="retry-e2e")
    # Newest first: 503 (with Retry-After), then 502 twice; the policy stops at 3.
    assert [i["attempt_number"] for i in items] == [3, 2, 1]
    assert [i["response_code"] for i in items] == [502, 502, 503]
    assert publisher.requests == 3
    detail = (await system.api.get(f"/api/v1/logs/{items[-1]['attempt_id']}")).json()
    assert detail["attempt_number"] == 1
