"""The API as clients reach it, under generated input: schemathesis over the OpenAPI document
(no 5xx, no response that breaks the schema) and hostile filter values matched literally.

The app runs as in production, under uvicorn on loopback, in a thread with an event loop of its
own (its Kafka producer belongs to that loop); the tests call it over HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from postbacks.embedded_broker import free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.ops_server import serve_asgi
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.attempts import attempt_record, insert_attempts

T = TypeVar("T")


@dataclass
class ServedApi:
    url: str
    store: EmbeddedStore
    loop: asyncio.AbstractEventLoop

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the server's loop, from a synchronous test."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)


def _serve(
    kafka: str, chdb_dir: Path, port: int, ready: Queue[ServedApi], stop: threading.Event
) -> None:
    async def main() -> None:
        await ensure_topics(KafkaConnection(kafka))
        store = EmbeddedStore(chdb_dir, database=f"fuzz_{uuid.uuid4().hex[:12]}")
        await apply_schema(store)
        publisher = DispatcherPublisher(KafkaConnection(kafka))
        await publisher.start()
        app = build_app(store, publisher)
        serving = asyncio.create_task(serve_asgi(app, "127.0.0.1", port))
        ready.put(ServedApi(f"http://127.0.0.1:{port}", store, asyncio.get_running_loop()))
        await asyncio.to_thread(stop.wait)
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await publisher.stop()
        await store.execute(f"DROP DATABASE IF EXISTS {store.database}")

    asyncio.run(main())


@pytest.fixture(scope="module")
def served(kafka: str, chdb_dir: Path) -> Iterator[ServedApi]:
    ready: Queue[ServedApi] = Queue()
    stop = threading.Event()
    args = (kafka, chdb_dir, free_port(), ready, stop)
    thread = threading.Thread(target=_serve, args=args, daemon=True)
    thread.start()
    api = ready.get(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api.url}/healthz", trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield api
    stop.set()
    thread.join(30)


def test_no_input_makes_the_api_fail_or_break_its_schema(served: ServedApi) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {op.label for op in operations}
    assert {
        "GET /api/v1/logs",
        "POST /api/v1/postbacks",
        "PUT /api/v1/postbacks/{postback_id}",
    } <= labels
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            if case.operation.label == STREAM:
                _call_stream(case, served.url)
            else:
                case.call_and_validate(base_url=served.url, checks=CHECKS)

        call()


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
STREAM = "GET /api/v1/logs/stream"


def _call_stream(case: Any, url: str) -> None:
    """The live view's answer never ends: a 200 is checked by its headers, any other answer
    (JSON) in full; closing the connection frees the stream's slot."""
    request = case.as_transport_kwargs(base_url=url)  # a GET: query parameters and headers
    with httpx.stream(
        request["method"],
        request["url"],
        params=request.get("params"),
        headers=request.get("headers"),
        timeout=30,
        trust_env=False,
    ) as response:
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
        else:
            response.read()
            case.validate_response(response, checks=CHECKS)


# The longest value: a transaction_id at its bound (256) once "-suffix" is added to it.
HOSTILE = st.sampled_from(["'", '"', "\\", "%", "_", "%_", "\\%'\"_", "a\tb", "é中😀", "x" * 249])


@given(value=HOSTILE | st.text(min_size=1, max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_filter_values_are_matched_literally(served: ServedApi, value: str) -> None:
    marker = uuid.uuid4().hex  # keeps this example's rows apart from every other example's
    rows = [
        attempt_record(
            attempted_at=datetime.now(UTC), status="Failed",
            postback_id=uuid.uuid4(), postback_name=marker, postback_type="Conversion",
            offer_id=1, publisher_id=1, transaction_id=tx, response_code=500,
            url=f"http://127.0.0.1/pb?t={tx}", error=f"HTTP 500 {tx}", latency_ms=1, source="{}",
        )
        for tx in (value, value + "-suffix", "unrelated")
    ]  # fmt: skip
    served.run(insert_attempts(served.store, rows))

    def found(**params: str) -> set[str]:
        answer = httpx.get(
            f"{served.url}/api/v1/logs",
            params={"postback_name": marker, **params},
            trust_env=False,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return {item["transaction_id"] for item in answer.json()["items"]}

    assert found(transaction_id=value) == {value}
    assert found(transaction_id__is_not=value) == {value + "-suffix", "unrelated"}
    for column in ("url", "error"):
        matched = found(**{f"{column}__contains": value})
        # The two rows that hold the value verbatim always match. Whether "unrelated" does is
        # checked for ASCII values only: ClickHouse and Python case-fold some Unicode letters
        # differently (e.g. U+0130), and that is not what this test is about.
        assert {value, value + "-suffix"} <= matched
        if value.isascii():
            expected = {
                r.transaction_id for r in rows if value.lower() in getattr(r, column).lower()
            }
            assert matched == expected
