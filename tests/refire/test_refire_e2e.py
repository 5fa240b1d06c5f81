"""Issue 9, item 6, on the real stack (embedded broker, dispatcher, log-writer, chDB, query-api,
local HTTP publishers): a publisher answers 500, its configuration is fixed, a bulk re-fire by
filter replays the failures, and every (transaction, postback) pair succeeds exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.e2e.messages import conversion
from tests.e2e.receivers import Receiver
from tests.e2e.system import System
from tests.waiting import until

PUBLISHER = 9101


async def wait_settled(system: System, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The job once it is done and every attempt it asked for is in the log."""

    async def settled() -> dict[str, Any] | None:
        answer = await system.api.get(f"/api/v1/refires/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        done = job["state"] == "failed" or (job["state"] == "done" and job["pending"] == 0)
        return job if done else None

    return await until(settled, f"re-fire job {job_id} settled", timeout_s, every_s=0.2)


async def test_fix_a_broken_publisher_then_refire_its_failures_once_each(
    system: System, broken_publisher: Receiver, healthy_publisher: Receiver
) -> None:
    config = await system.create_postback(
        name="Refire e2e",
        type="Conversion",
        publisher_id=PUBLISHER,
        url=broken_publisher.url("/broken?tx={transaction_id}"),
    )
    await system.configs_applied()  # through postbacks.configs
    txs = [f"refire-{n}" for n in range(4)]
    # refire-0 arrives twice and fails twice: it is still one pair, fired once.
    system.produce("conversions", [conversion(tx, PUBLISHER) for tx in [*txs, txs[0]]])
    failures = await system.wait_for_logs(5, publisher_id=PUBLISHER, status="Failed")
    assert len(failures) == 5
    assert {f["response_code"] for f in failures} == {500}

    fixed = {
        k: v for k, v in config.items() if k not in ("id", "created_at", "updated_at", "version")
    }
    fixed["url"] = healthy_publisher.url("/ok?tx={transaction_id}")
    put = await system.api.put(f"/api/v1/postbacks/{config['id']}", json=fixed)
    assert put.status_code == 200, put.text

    selection = {"status": "Failed", "publisher_id": str(PUBLISHER)}
    dry = await system.api.post("/api/v1/refires", params={**selection, "dry_run": "true"})
    assert dry.json() == {"count": 4}, dry.text
    started = await system.api.post("/api/v1/refires", params=selection)
    assert started.status_code == 202, started.text
    job = await wait_settled(system, started.json()["job_id"])
    assert {k: job[k] for k in ("state", "selected", "fired", "succeeded", "failed")} == {
        "state": "done", "selected": 4, "fired": 4, "succeeded": 4, "failed": 0,
    }  # fmt: skip

    log = await system.logs(publisher_id=str(PUBLISHER))
    refires = [r for r in log if r["trigger"] == "refire"]
    assert Counter(r["transaction_id"] for r in refires) == Counter(txs)  # once per pair
    assert {r["status"] for r in refires} == {"Success"}
    assert all(r["url"].startswith(healthy_publisher.url("/ok")) for r in refires)
    failed_ids = {f["attempt_id"]: f["transaction_id"] for f in failures}
    for r in refires:
        assert failed_ids[r["refire_of"]] == r["transaction_id"]  # repeats one of its failures
    # The failures are untouched: the same attempts, still Failed.
    still_failed = await system.logs(publisher_id=str(PUBLISHER), status="Failed")
    assert sorted(f["attempt_id"] for f in still_failed) == sorted(failed_ids)
    # The healthy publisher was called once per transaction, with the attempt id of the log.
    for tx in txs:
        [request] = healthy_publisher.find(f"tx={tx}")
        [logged] = [r for r in refires if r["transaction_id"] == tx]
        assert request.headers["X-Postback-Attempt-Id"] == logged["attempt_id"]

    # They have since succeeded: the same filter now selects nothing.
    again = await system.api.post("/api/v1/refires", params={**selection, "dry_run": "true"})
    assert again.json() == {"count": 0}
    second = await system.api.post("/api/v1/refires", params=selection)
    assert second.status_code == 202
    assert second.json()["selected"] == 0
    assert (await wait_settled(system, second.json()["job_id"]))["fired"] == 0


async def test_single_refire_waits_for_the_new_attempt(
    system: System, broken_publisher: Receiver, healthy_publisher: Receiver
) -> None:
    publisher = PUBLISHER + 1
    config = await system.create_postback(
        name="Refire single",
        type="Conversion",
        publisher_id=publisher,
        url=broken_publisher.url("/broken?tx={transaction_id}"),
        enabled=True,
    )
    await system.configs_applied()  # through postbacks.configs
    system.produce("conversions", [conversion("single-1", publisher)])
    [failed] = await system.wait_for_logs(1, publisher_id=publisher)
    fixed = {
        k: v for k, v in config.items() if k not in ("id", "created_at", "updated_at", "version")
    }
    # Fixed and disabled: an explicit re-fire still fires a disabled configuration.
    fixed |= {"url": healthy_publisher.url("/ok?tx={transaction_id}"), "enabled": False}
    assert (
        await system.api.put(f"/api/v1/postbacks/{config['id']}", json=fixed)
    ).status_code == 200

    answer = await system.api.post(
        f"/api/v1/logs/{failed['attempt_id']}/refire", params={"wait": "true"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    attempt = answer.json()
    assert attempt["status"] == "Success"
    assert attempt["trigger"] == "refire"
    assert attempt["refire_of"] == failed["attempt_id"]
    original = (await system.api.get(f"/api/v1/logs/{failed['attempt_id']}")).json()
    assert attempt["transaction_id"] == "single-1"
    assert attempt["source"] == original["source"]
    assert attempt["url"].startswith(healthy_publisher.url("/ok"))
