"""The query-api's HTTP metrics, read from its own /metrics as Prometheus would.

The metrics are process-wide (the default registry), so each test compares before and after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from postbacks.store.chdb_backend import EmbeddedStore
from query_api.http_metrics import HttpMetrics
from tests.attempts import attempt_record, insert_attempts

Labels = tuple[tuple[str, str], ...]
DETAIL = "/api/v1/logs/{attempt_id}"


async def _samples(api: httpx.AsyncClient) -> dict[tuple[str, Labels], float]:
    answer = await api.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _requests(method: str, route: str, status: int) -> tuple[str, Labels]:
    labels = {"method": method, "route": route, "status": str(status)}
    return "postbacks_query_api_requests_total", tuple(sorted(labels.items()))


def _timed(method: str, route: str) -> tuple[str, Labels]:
    labels = {"method": method, "route": route}
    return "postbacks_query_api_request_seconds_count", tuple(sorted(labels.items()))


def _increase(
    before: dict[tuple[str, Labels], float], after: dict[tuple[str, Labels], float]
) -> dict[tuple[str, Labels], float]:
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0].startswith("postbacks_query_api_") and value != before.get(key, 0.0)
    }


async def test_requests_are_counted_by_route_template_and_status(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    record = attempt_record(attempted_at=datetime.now(UTC))
    await insert_attempts(embedded_store, [record])
    found, missing = str(record.attempt_id), str(uuid.uuid4())
    before = await _samples(api)

    assert (await api.get(f"/api/v1/logs/{found}")).status_code == 200
    assert (await api.get(f"/api/v1/logs/{missing}")).status_code == 404
    assert (await api.get("/api/v1/logs/not-a-uuid")).status_code == 422
    assert (await api.get("/no/such/path")).status_code == 404
    assert (await api.get("/and/another/one")).status_code == 404
    assert (await api.get("/static/no-such-asset.js")).status_code == 404

    after = await _samples(api)
    increase = _increase(before, after)
    assert increase[_requests("GET", DETAIL, 200)] == 1
    assert increase[_requests("GET", DETAIL, 404)] == 1
    assert increase[_requests("GET", DETAIL, 422)] == 1
    assert increase[_requests("GET", "unmatched", 404)] == 2
    assert increase[_timed("GET", DETAIL)] == 3
    assert increase[_timed("GET", "unmatched")] == 2
    assert increase[_requests("GET", "/static/{path}", 404)] == 1  # a mount: its prefix
    # The metrics scrape before the "after" one is counted too; nothing else was.
    assert increase[_requests("GET", "/metrics", 200)] == 1
    # No concrete path is a label value: the label's values are the templates.
    routes = {dict(labels).get("route") for name, labels in after if "query_api" in name}
    assert not any(value and (found in value or "not-a-uuid" in value) for value in routes)
    assert not any(value and value.startswith("/no/") for value in routes)


async def test_a_streamed_export_is_counted_once_when_it_ends(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    now = datetime.now(UTC)
    await insert_attempts(embedded_store, [attempt_record(n, attempted_at=now) for n in range(50)])
    before = await _samples(api)
    async with api.stream("GET", "/api/v1/logs/export.csv") as answer:
        assert answer.status_code == 200
        body = b"".join([chunk async for chunk in answer.aiter_bytes()])
    assert body.count(b"\n") >= 51, body[:300]
    increase = _increase(before, await _samples(api))
    export = "/api/v1/logs/export.csv"
    assert increase[_requests("GET", export, 200)] == 1
    assert increase[_timed("GET", export)] == 1
    assert not any(dict(key[1]).get("route") == DETAIL for key in increase), increase


# --- The middleware alone, on a tiny app: a stream is timed to its last byte, and a request
# whose handler raises is counted as the 500 the server answers.


async def _slow_stream(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            await asyncio.sleep(0.05)
            yield b"chunk\n"

    return StreamingResponse(chunks(), media_type="text/csv")


async def _broken(_: Request) -> Response:
    raise RuntimeError("broken handler")


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_stream_is_timed_until_its_last_chunk_and_an_exception_is_a_500() -> None:
    app = HttpMetrics(
        Starlette(routes=[Route("/t/slow-stream", _slow_stream), Route("/t/broken", _broken)])
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    slow = {"method": "GET", "route": "/t/slow-stream"}
    broken = {"method": "GET", "route": "/t/broken"}
    sum_before = _metric("postbacks_query_api_request_seconds_sum", **slow)
    broken_before = _metric("postbacks_query_api_requests_total", **broken, status="500")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/t/slow-stream")).text == "chunk\n" * 3
        await client.get("/t/broken")
    assert _metric("postbacks_query_api_requests_total", **slow, status="200") >= 1
    assert _metric("postbacks_query_api_request_seconds_sum", **slow) - sum_before >= 0.15
    assert _metric("postbacks_query_api_requests_total", **broken, status="500") == (
        broken_before + 1
    )
