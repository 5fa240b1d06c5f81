"""Tokens confined to publishers (and offers), on every route of the served API: chDB, the
embedded broker, the app in process.

The property: for generated confinements and generated requests on every route, no row, count,
CSV line, stats bucket, re-fire, job or configuration of a publisher (or offer) outside the
confinement ever comes back or changes, filters narrow the confinement and never widen it, and
what is inside answers exactly as Python computes it from the same rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbacks.attempts import AttemptRecord
from postbacks.fire_requests import FireRequest
from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import Grant, Scope, TokenTable
from query_api.confinement import Confinement
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.refires.runner import RefireRunner
from query_api.refires.settings import RefireSettings
from tests.attempts import T0, attempt_record, insert_attempts
from tests.waiting import until

PUBLISHERS = (40, 41, 42, 43, 44)
OFFERS = (7, 8)
BOTH: list[Scope] = ["logs:read", "postbacks:write"]
ADMIN = "admin-token-0123456789"
CONFINED = "confined-token-0123456789"
# Configurations (publisher_id, offer_id): of some publishers, some for one offer, and one for
# any publisher (a network-wide postback, whose attempts no confined token sees).
CONFIG_OWNERS: tuple[tuple[int | None, int | None], ...] = (
    (40, None), (41, 7), (42, None), (42, 8), (None, None), (43, 7),
)  # fmt: skip


def _config(n: int, publisher_id: int | None, offer_id: int | None = None) -> dict[str, Any]:
    return {
        "name": f"pb-{n}-{uuid.uuid4().hex[:6]}",
        "type": "Conversion",
        "url": "http://127.0.0.1:9/pb?t={transaction_id}",
        "publisher_id": publisher_id,
        "offer_id": offer_id,
    }


@dataclass
class World:
    """The rows and configurations every example runs against, as stored."""

    records: list[AttemptRecord]
    configs: list[dict[str, Any]]
    store: EmbeddedStore
    publisher: DispatcherPublisher

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"World({len(self.records)} attempts, {len(self.configs)} configurations)"


@pytest.fixture
async def world(embedded_store: EmbeddedStore, publisher: DispatcherPublisher) -> World:
    configs = []
    async with _client(build_app(embedded_store, publisher)) as admin:
        for n, (publisher_id, offer_id) in enumerate(CONFIG_OWNERS):
            answer = await admin.post("/api/v1/postbacks", json=_config(n, publisher_id, offer_id))
            assert answer.status_code == 201, answer.text
            configs.append(answer.json())
    records = [
        attempt_record(
            n,
            publisher_id=PUBLISHERS[n % 5],
            offer_id=OFFERS[n % 2],
            postback_id=uuid.UUID(configs[n % len(configs)]["id"]),
            postback_name=configs[n % len(configs)]["name"],
            transaction_id=f"tx-{n}",
            source=json.dumps(_conversion(n, PUBLISHERS[n % 5], OFFERS[n % 2])),
        )
        for n in range(60)
    ]
    await insert_attempts(embedded_store, records)
    return World(records, configs, embedded_store, publisher)


def _conversion(n: int, publisher_id: int, offer_id: int) -> dict[str, Any]:
    """The input a re-fire fires again."""
    return {
        "transaction_id": f"tx-{n}",
        "click_id": f"click-{n}",
        "offer_id": offer_id,
        "publisher_id": publisher_id,
        "status": "approved",
        "payout": "1.00",
    }


def _client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
    )


# --- generated confinements and filters ------------------------------------------------------

_publishers = st.frozensets(st.sampled_from(PUBLISHERS), min_size=1)
_offers = st.frozensets(st.sampled_from(OFFERS), min_size=1)
confinements = (
    st.builds(Confinement, publisher_ids=_publishers, offer_ids=st.none() | _offers)
    | st.builds(Confinement, offer_ids=_offers)  # offers only: an advertiser's view
)


def _inside(publisher_id: int | None, offer_id: int | None, inside: Confinement) -> bool:
    """The rule, written apart from the code under test: each confined column holds one of the
    token's values (None, "any", is never inside)."""
    publishers, offers = inside.publisher_ids, inside.offer_ids
    return (publishers is None or publisher_id in publishers) and (
        offers is None or offer_id in offers
    )


def _owned(config: dict[str, Any], inside: Confinement) -> bool:
    return _inside(config["publisher_id"], config["offer_id"], inside)


def _visible(record: AttemptRecord, world: World, inside: Confinement) -> bool:
    """An attempt of the token's publishers (and offers), fired by one of its configurations."""
    config = next(c for c in world.configs if c["id"] == str(record.postback_id))
    return _inside(record.publisher_id, record.offer_id, inside) and _owned(config, inside)


_FILTER_VALUES: dict[str, st.SearchStrategy[str]] = {
    "publisher_id": st.sampled_from([*PUBLISHERS, 45]).map(str),
    "publisher_id__is_not": st.sampled_from(PUBLISHERS).map(str),
    "publisher_id__contains": st.sampled_from(["4", "2", "40"]),
    "offer_id": st.sampled_from([*OFFERS, 9]).map(str),
    "status": st.sampled_from(["Success", "Failed"]),
}
filters = st.lists(
    st.sampled_from(sorted(_FILTER_VALUES)).flatmap(
        lambda key: _FILTER_VALUES[key].map(lambda value: (key, value))
    ),
    max_size=3,
)


def _matches(record: AttemptRecord, pairs: list[tuple[str, str]]) -> bool:
    """The filter language's rules for these keys (is: any of; is_not: none of; contains: any
    of; different keys: all)."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        column, _, operator = key.partition("__")
        held = str(getattr(record, column))
        if operator == "is_not":
            if held in values:
                return False
        elif operator == "contains":
            if not any(v in held for v in values):
                return False
        elif held not in values:
            return False
    return True


Query = list[tuple[str, str | int | float | bool | None]]


def _window(pairs: list[tuple[str, str]]) -> Query:
    # Every generated row inside the window, whatever the default window is.
    start = (T0 - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    return [*pairs, ("from", start)]


# --- every route, checked ---------------------------------------------------------------------


async def _reads(api: httpx.AsyncClient, world: World, inside: Confinement, pairs: Any) -> None:
    shown = [r for r in world.records if _visible(r, world, inside)]
    expected = {str(r.attempt_id) for r in shown if _matches(r, pairs)}
    query = _window(pairs)

    page = await api.get("/api/v1/logs", params=[*query, ("limit", "1000")])
    assert page.status_code == 200, page.text
    assert {item["attempt_id"] for item in page.json()["items"]} == expected

    count = await api.get("/api/v1/logs/count", params=query)
    assert count.json() == {"count": len(expected)}

    export = await api.get("/api/v1/logs/export.csv", params=query)
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert {row["Attempt ID"] for row in rows} == expected

    histogram = await api.get("/api/v1/logs/histogram", params=query)
    assert histogram.status_code == 200, histogram.text
    assert sum(item["attempts"] for item in histogram.json()["items"]) == len(expected)

    stats_filters = [(k, v) for k, v in pairs if "contains" not in k]
    stats = await api.get(
        "/api/v1/stats/failure-rate",
        params=[*_window(stats_filters), ("group_by", "publisher"), ("bucket", "day")],
    )
    assert stats.status_code == 200, stats.text
    in_stats = [r for r in shown if _matches(r, stats_filters)]
    points = stats.json()["items"]
    assert {p["publisher_id"] for p in points} <= {r.publisher_id for r in shown}
    assert sum(p["attempts"] for p in points) == len(in_stats)

    # A re-fire's dry run selects the failures among the rows (every pair is one attempt).
    failures = [r for r in shown if _matches(r, pairs) and r.status == "Failed"]
    dry = await api.post("/api/v1/refires", params=[*query, ("dry_run", "true")])
    assert dry.json() == {"count": len(failures)}, dry.text


async def _one_attempt(
    api: httpx.AsyncClient, world: World, record: AttemptRecord, inside: Confinement
) -> None:
    admitted = _visible(record, world, inside)
    read = await api.get(f"/api/v1/logs/{record.attempt_id}")
    assert read.status_code == (200 if admitted else 404), read.text
    refire = await api.post(f"/api/v1/logs/{record.attempt_id}/refire")
    if not admitted:
        assert refire.status_code == 404, refire.text
        assert "no attempt" in refire.json()["error"]["message"]
    else:
        assert refire.status_code == 202, refire.text


async def _configs(
    api: httpx.AsyncClient, world: World, inside: Confinement, publisher_id: int | None
) -> None:
    listed = await api.get("/api/v1/postbacks")
    shown = {c["id"] for c in listed.json()["items"]}
    assert shown == {c["id"] for c in world.configs if _owned(c, inside)}
    offer = min(inside.offer_ids) if inside.offer_ids else None
    for config in world.configs:
        admitted = _owned(config, inside)
        path = f"/api/v1/postbacks/{config['id']}"
        assert (await api.get(path)).status_code == (200 if admitted else 404)
        if not admitted:
            # Every write to another publisher's configuration: as if it did not exist.
            writes = [
                api.put(path, json=_config(9, publisher_id)),
                api.patch(path, json={"enabled": False}),
                api.delete(path),
                api.post(f"{path}/test"),
            ]
            for write in writes:
                answer = await write
                assert answer.status_code == 404, answer.text
        else:
            # Moving its own configuration to a publisher it does not hold is refused.
            moved = await api.patch(path, json={"publisher_id": publisher_id})
            stays = _inside(publisher_id, config["offer_id"], inside)
            assert moved.status_code == (200 if stays else 422), moved.text
            if moved.status_code == 200:
                await api.patch(path, json={"publisher_id": config["publisher_id"]})
            # A test fire cannot log an attempt under someone else's publisher or offer.
            sample = {"publisher_id": 45} if inside.publisher_ids else {"offer_id": 9}
            test = await api.post(f"{path}/test", json=sample)
            assert test.status_code == 422, test.text
            assert test.json()["error"]["details"][0]["field"] == f"sample.{next(iter(sample))}"

    created = await api.post("/api/v1/postbacks", json=_config(8, publisher_id, offer))
    if _inside(publisher_id, offer, inside):
        assert created.status_code == 201, created.text
        assert (await api.delete(f"/api/v1/postbacks/{created.json()['id']}")).status_code == 204
    else:
        assert created.status_code == 422, created.text
        assert created.json()["error"]["details"][0]["field"] == "publisher_id"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    inside=confinements,
    pairs=filters,
    picked=st.integers(0, 59),
    publisher_id=st.none() | st.sampled_from([*PUBLISHERS, 45]),
)
async def test_a_confined_token_never_sees_or_changes_another_publishers_data(
    world: World,
    inside: Confinement,
    pairs: list[tuple[str, str]],
    picked: int,
    publisher_id: int | None,
) -> None:
    async with _confined_api(world, inside) as api:
        token = await api.get("/api/v1/token")
        assert token.json() == {"scopes": BOTH, **inside.described()}
        await _reads(api, world, inside, pairs)
        await _one_attempt(api, world, world.records[picked], inside)
        await _configs(api, world, inside, publisher_id)


@contextlib.asynccontextmanager
async def _confined_api(world: World, inside: Confinement) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a token confined to `inside` (and an admin), as that token."""
    runner = RefireRunner(world.store, world.store, world.publisher, RefireSettings())
    tokens = TokenTable({CONFINED: Grant(frozenset(BOTH), inside), ADMIN: BOTH})
    app = build_app(world.store, world.publisher, tokens=tokens, refires=runner)
    try:
        async with _client(app, CONFINED) as client:
            yield client
    finally:
        await runner.stop()


# --- jobs -------------------------------------------------------------------------------------


class _Watched(DispatcherPublisher):
    """The real publisher, keeping the fire requests it sends."""

    sent: list[FireRequest]

    async def request_fire(self, request: FireRequest) -> None:
        self.sent.append(request)
        await super().request_fire(request)


async def test_a_confined_bulk_refire_fires_and_shows_only_its_publishers(
    world: World, kafka_topics: str
) -> None:
    inside = Confinement(publisher_ids=frozenset({42}))
    publisher = _Watched(KafkaConnection(kafka_topics))
    publisher.sent = []
    await publisher.start()
    runner = RefireRunner(
        world.store, world.store, publisher, RefireSettings(api_refire_rate=10_000)
    )
    tokens = TokenTable({CONFINED: Grant(frozenset(BOTH), inside), ADMIN: BOTH})
    app = build_app(world.store, publisher, tokens=tokens, refires=runner)
    try:
        async with _client(app, CONFINED) as confined, _client(app, ADMIN) as admin:
            # Asking for publisher 43 under a token for 42 selects nothing: intersected.
            other = await confined.post("/api/v1/refires", params=_window([("publisher_id", "43")]))
            assert other.json()["selected"] == 0
            started = await confined.post("/api/v1/refires", params=_window([]))
            mine = [r for r in world.records if _visible(r, world, inside) and r.status == "Failed"]
            assert started.json()["selected"] == len(mine) > 0
            job = started.json()["job_id"]

            async def done() -> bool:
                state: str = (await confined.get(f"/api/v1/refires/{job}")).json()["state"]
                return state == "done"

            await until(done, "the confined job is done")
            # What it fired: exactly its own failures, each through its own configuration.
            assert {r.refire_of for r in publisher.sent} == {r.attempt_id for r in mine}
            assert len(publisher.sent) == len(mine)
            assert {r.postback.publisher_id for r in publisher.sent} == {42}

            everyone = await admin.post("/api/v1/refires", params=_window([]))
            admins = everyone.json()["job_id"]

            listed = {j["job_id"] for j in (await confined.get("/api/v1/refires")).json()["items"]}
            assert job in listed
            assert admins not in listed
            assert (await confined.get(f"/api/v1/refires/{admins}")).status_code == 404
            assert (await confined.get(f"/api/v1/refires/{job}")).status_code == 200
            admin_sees = {j["job_id"] for j in (await admin.get("/api/v1/refires")).json()["items"]}
            assert {job, admins} <= admin_sees
            # Stored and read back: a restarted query-api keeps the job confined.
            stored = await runner.jobs.get(uuid.UUID(job))
            assert stored is not None
            assert stored.confinement == inside
    finally:
        await runner.stop()
        await publisher.stop()


# --- completeness ------------------------------------------------------------------------------

# Every API route and the check that covers it under a confined token.
COVERED: dict[tuple[str, str], Callable[..., Any] | str] = {
    ("GET", "/api/v1/logs"): _reads,
    ("GET", "/api/v1/logs/count"): _reads,
    ("GET", "/api/v1/logs/export.csv"): _reads,
    ("GET", "/api/v1/logs/histogram"): _reads,
    ("GET", "/api/v1/stats/failure-rate"): _reads,
    ("POST", "/api/v1/refires"): _reads,
    ("GET", "/api/v1/logs/{attempt_id}"): _one_attempt,
    ("POST", "/api/v1/logs/{attempt_id}/refire"): _one_attempt,
    ("GET", "/api/v1/postbacks"): _configs,
    ("POST", "/api/v1/postbacks"): _configs,
    ("GET", "/api/v1/postbacks/{postback_id}"): _configs,
    ("PUT", "/api/v1/postbacks/{postback_id}"): _configs,
    ("PATCH", "/api/v1/postbacks/{postback_id}"): _configs,
    ("DELETE", "/api/v1/postbacks/{postback_id}"): _configs,
    ("POST", "/api/v1/postbacks/{postback_id}/test"): _configs,
    ("GET", "/api/v1/refires"): test_a_confined_bulk_refire_fires_and_shows_only_its_publishers,
    ("GET", "/api/v1/refires/{job_id}"): (
        test_a_confined_bulk_refire_fires_and_shows_only_its_publishers
    ),
    ("GET", "/api/v1/token"): test_a_confined_token_never_sees_or_changes_another_publishers_data,
    # A stream needs a served app (ASGITransport buffers the whole body): tested there.
    ("GET", "/api/v1/logs/stream"): (
        "test_log_stream.py::test_a_confined_token_only_ever_gets_its_publishers_rows"
    ),
}


async def test_every_api_route_is_covered_by_a_confinement_check(world: World) -> None:
    paths = build_app(world.store, world.publisher).openapi()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
    }
    assert routes == set(COVERED), "a new route: confine it and add its check here"
    for check in COVERED.values():
        if isinstance(check, str):
            module, _, test = check.partition("::")
            assert f"def {test}(" in (Path(__file__).parent / module).read_text(), check
