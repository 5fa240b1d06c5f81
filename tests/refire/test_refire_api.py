"""Re-fire endpoints on real chDB and the embedded broker: what is selected, what is published,
how a stopped job resumes. No dispatcher here: the fire requests are read back from
`postbacks.refires` (tests/refire/test_refire_e2e.py runs the whole system)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from postbacks import topics
from postbacks.attempts import AttemptRecord
from postbacks.embedded_broker import free_port
from postbacks.fire_requests import FireRequest
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.logs.filters import parse_log_query
from query_api.logs.reader import TABLE
from query_api.refires.jobs import JobState, RefireJob
from query_api.refires.selection import Pair, PairPosition
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings
from tests.attempts import attempt_record, insert_attempts
from tests.kafka_topics import read_topic
from tests.refire.api import MAX_PAIRS, RefireApi

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
CONFIG = {
    "name": "Acme",
    "type": "Conversion",
    "url": "http://127.0.0.1:9/fixed?t={transaction_id}",
}


def attempt(config_id: str, tx: str, minute: int, status: str, **fields: Any) -> AttemptRecord:
    values: dict[str, Any] = {
        "attempted_at": T0 + timedelta(minutes=minute),
        "status": status,
        "postback_id": config_id,
        "postback_name": "Acme",
        "postback_type": "Conversion",
        "offer_id": 7,
        "publisher_id": 42,
        "transaction_id": tx,
        "response_code": 200 if status == "Success" else 500,
        "url": f"http://127.0.0.1:9/broken?t={tx}",
        "latency_ms": 3,
        "source": orjson.dumps(
            {"transaction_id": tx, "offer_id": 7, "publisher_id": 42, "sub1": f"m{minute}"}
        ).decode(),
    }
    return attempt_record(**(values | fields))


async def seed(api: RefireApi) -> dict[str, AttemptRecord]:
    """Attempts covering each selection rule; the keys name them."""
    created = await api.client.post("/api/v1/postbacks", json=CONFIG)
    assert created.status_code == 201, created.text
    config_id = created.json()["id"]
    gone = str(uuid.uuid4())  # a configuration that no longer exists
    records = {
        "a1": attempt(config_id, "tx-a", 1, "Failed"),
        "a2": attempt(config_id, "tx-a", 2, "Failed"),  # failed twice: fired once, as a2
        "b1": attempt(config_id, "tx-b", 1, "Failed"),
        "b2": attempt(config_id, "tx-b", 2, "Success"),  # succeeded since: skipped
        "c1": attempt(config_id, "tx-c", 1, "Success"),
        "c2": attempt(config_id, "tx-c", 2, "Failed"),  # succeeded before only: fired
        "d1": attempt(config_id, "tx-d", 1, "Failed", trigger="test"),  # a test fire: left out
        "e1": attempt(gone, "tx-e", 1, "Failed"),  # deleted configuration: selected, skipped
    }
    await insert_attempts(api.store, list(records.values()))
    return records


async def fire_requests(bootstrap: str) -> list[FireRequest]:
    found = []
    for partition in range(3):
        for record in await read_topic(bootstrap, topics.REFIRES, partition):
            found.append(FireRequest.model_validate_json(record.value))
    return found


async def wait_done(
    client: httpx.AsyncClient, job_id: str, timeout_s: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = await client.get(f"/api/v1/refires/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} not done in {timeout_s} s")


async def test_dry_run_counts_distinct_pairs_not_yet_succeeded(refire_api: RefireApi) -> None:
    await seed(refire_api)
    answer = await refire_api.client.post(
        "/api/v1/refires", params={"status": "Failed", "publisher_id": "42", "dry_run": "true"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 3}  # tx-a once, tx-c, tx-e; not tx-b (succeeded), tx-d
    # Without a status filter the successes are selected too, and skip their own pairs.
    everything = await refire_api.client.post("/api/v1/refires", params={"dry_run": "1"})
    assert everything.json() == {"count": 3}


async def test_a_job_fires_each_pair_once_with_the_configuration_as_it_is_now(
    refire_api: RefireApi,
) -> None:
    records = await seed(refire_api)
    before = {r.attempt_id for r in await fire_requests(refire_api.bootstrap)}
    started = await refire_api.client.post(
        "/api/v1/refires", params=[("status", "Failed"), ("publisher_id", "42")]
    )
    assert started.status_code == 202, started.text
    assert started.json()["selected"] == 3
    job = await wait_done(refire_api.client, started.json()["job_id"])
    assert job["state"] == "done", job
    assert (job["selected"], job["fired"], job["skipped"]) == (3, 2, 1)  # tx-e's config is gone
    assert job["filters"] == [["status", "Failed"], ["publisher_id", "42"]]

    sent = [r for r in await fire_requests(refire_api.bootstrap) if r.attempt_id not in before]
    by_tx = {r.input_message().transaction_id: r for r in sent}
    assert sorted(by_tx) == ["tx-a", "tx-c"]
    assert len(sent) == 2
    for tx, newest in (("tx-a", "a2"), ("tx-c", "c2")):
        request = by_tx[tx]
        assert request.trigger == "refire"
        assert request.refire_of == records[newest].attempt_id
        assert request.postback.url == CONFIG["url"]  # the configuration now, not the old URL
        expected_id = uuid.uuid5(uuid.UUID(job["job_id"]), f"{tx}/{request.postback.id}")
        assert request.attempt_id == expected_id

    listed = (await refire_api.client.get("/api/v1/refires")).json()["items"]
    assert job["job_id"] in [j["job_id"] for j in listed]


async def test_too_many_pairs_is_refused_saying_to_narrow(refire_api: RefireApi) -> None:
    created = await refire_api.client.post("/api/v1/postbacks", json=CONFIG)
    config_id = created.json()["id"]
    rows = [
        attempt(config_id, f"tx-{n}", 1, "Failed").model_dump_json().encode()
        for n in range(MAX_PAIRS + 1)
    ]
    await refire_api.store.insert_json(TABLE, rows)
    answer = await refire_api.client.post("/api/v1/refires", params={"status": "Failed"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "too_many_pairs"
    assert f"selects {MAX_PAIRS + 1}" in error["message"]
    assert "narrow the filter" in error["message"]
    assert (await refire_api.client.get("/api/v1/refires")).json()["items"] == []


async def test_bad_selections_are_400s_naming_the_parameter(refire_api: RefireApi) -> None:
    for params, named in (
        ({"status": "Failed", "limit": "5"}, "'limit'"),
        ({"publisher": "42"}, "did you mean 'publisher_id'"),
        ({"dry_run": "maybe"}, "'dry_run'"),
    ):
        answer = await refire_api.client.post("/api/v1/refires", params=params)
        assert answer.status_code == 400, answer.text
        assert named in answer.json()["error"]["message"]
    missing = await refire_api.client.get(f"/api/v1/refires/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_single_refire_publishes_one_request_and_refuses_what_it_cannot_fire(
    refire_api: RefireApi,
) -> None:
    records = await seed(refire_api)
    answer = await refire_api.client.post(f"/api/v1/logs/{records['a1'].attempt_id}/refire")
    assert answer.status_code == 202, answer.text
    new_id = uuid.UUID(answer.json()["attempt_id"])
    assert answer.json()["refire_of"] == str(records["a1"].attempt_id)
    [request] = [r for r in await fire_requests(refire_api.bootstrap) if r.attempt_id == new_id]
    assert request.trigger == "refire"
    assert request.refire_of == records["a1"].attempt_id
    assert request.postback.url == CONFIG["url"]
    assert request.source == records["a1"].source

    deleted = await refire_api.client.post(f"/api/v1/logs/{records['e1'].attempt_id}/refire")
    assert deleted.status_code == 409, deleted.text
    assert "was deleted" in deleted.json()["error"]["message"]
    unknown = await refire_api.client.post(f"/api/v1/logs/{uuid.uuid4()}/refire")
    assert unknown.status_code == 404


async def test_a_stopped_job_resumes_after_its_position_without_resending_logged_attempts(
    refire_api: RefireApi,
) -> None:
    """As a query-api stopped mid-job leaves it: `running`, position after tx-a."""
    records = await seed(refire_api)
    parsed = [("status", "Failed"), ("publisher_id", "42")]
    query = parse_log_query([*parsed, ("from", (T0 - timedelta(minutes=1)).isoformat())])
    query = dataclasses.replace(query, to_ms=time.time_ns() // 1_000_000)
    job = RefireJob.new(parsed, query, selected=3)
    postback_id = records["a1"].postback_id
    # tx-c was published before the stop and the log already has its attempt.
    pair_c = Pair("tx-c", postback_id, records["c2"].attempt_id, records["c2"].source)
    # Logged after the job started, as the job's own attempts are (not at T0 + 40 min, which a
    # suite running longer than 10 minutes after this module's import would pass).
    logged_c = attempt(
        str(postback_id),
        "tx-c",
        40,
        "Failed",
        attempt_id=job.attempt_id(pair_c),
        attempted_at=datetime.now(UTC),
    )
    await refire_api.store.insert_json(TABLE, [logged_c.model_dump_json().encode()])
    jobs = refire_api.runner.jobs
    await jobs.record_attempts(job, [(pair_c, job.attempt_id(pair_c))])
    stopped = job.changed(state=JobState.RUNNING, position=PairPosition("tx-a", postback_id))
    await jobs.save(stopped)
    before = {r.attempt_id for r in await fire_requests(refire_api.bootstrap)}

    # The next start of the query-api, as `postbacks query-api` runs it.
    settings = QueryApiSettings(kafka_bootstrap=refire_api.bootstrap, api_port=free_port())
    restarted = QueryApi(settings, refire_api.store)
    await restarted.start()
    try:
        done = await wait_done(refire_api.client, str(job.job_id))
    finally:
        await restarted.stop()
    assert done["state"] == "done"
    # tx-a was before the position, tx-c already logged, tx-e's configuration is gone.
    sent = [r for r in await fire_requests(refire_api.bootstrap) if r.attempt_id not in before]
    assert sent == []
    assert (done["fired"], done["skipped"], done["failed"]) == (1, 1, 1)


async def test_firing_needs_the_write_scope_and_reading_jobs_the_read_scope(
    refire_api: RefireApi,
) -> None:
    tokens = TokenTable({"reader": ["logs:read"], "writer": ["postbacks:write"]})
    app = build_app(
        refire_api.store, refire_api.publisher, tokens=tokens, refires=refire_api.runner
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        read = {"Authorization": "Bearer reader"}
        write = {"Authorization": "Bearer writer"}
        dry = {"dry_run": "true"}
        refused = await client.post("/api/v1/refires", params=dry, headers=read)
        assert refused.status_code == 403
        assert "postbacks:write" in refused.json()["error"]["message"]
        assert (await client.post("/api/v1/refires", params=dry, headers=write)).status_code == 200
        assert (await client.get("/api/v1/refires", headers=read)).status_code == 200
        single = await client.post(f"/api/v1/logs/{uuid.uuid4()}/refire", headers=read)
        assert single.status_code == 403
        assert (await client.post("/api/v1/refires", params=dry)).status_code == 401
