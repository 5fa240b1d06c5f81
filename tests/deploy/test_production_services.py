"""The services in production mode, as separate processes: ready once connected, every metric the
dashboards read is exported, and SIGTERM stops each one cleanly.

One module-wide run (joining consumer groups costs seconds): the processes start, real traffic
goes through (a postback that succeeds, one that fails, and input that is dead-lettered), and
the checks read what the processes serve.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from tests.deploy.grafana_files import metric_families, promql_expressions
from tests.deploy.production_processes import TOKEN, Process, production_services, wait_ready
from tests.e2e.receivers import Receiver, receiver

Services = dict[str, Process]


@pytest.fixture(scope="module")
def publisher() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture(scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, publisher: Receiver
) -> AsyncIterator[Services]:
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        with production_services(broker.bootstrap, tmp_path_factory.mktemp("prod")) as running:
            await asyncio.gather(*(wait_ready(p) for p in running.values()))
            await _send_traffic(broker.bootstrap, running["query-api"].url, publisher)
            yield running


async def _send_traffic(bootstrap: str, api_url: str, publisher: Receiver) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, trust_env=False) as api:
        for publisher_id, path in ((42, "/ok"), (43, "/broken")):
            created = await api.post(
                "/api/v1/postbacks",
                json={
                    "name": f"deploy test {publisher_id}",
                    "type": "Conversion",
                    "publisher_id": publisher_id,
                    "url": publisher.url(path) + "?tx={transaction_id}",
                },
            )
            assert created.status_code == 201, created.text
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})
    producer.produce("conversions", value=b"{not json")  # dead-lettered by the dispatcher
    # The dispatcher learns the configurations from postbacks.configs a moment after they are
    # saved: keep sending until both publishers have been called.
    deadline = time.monotonic() + 60
    sent = 0
    while not (publisher.find("tx-ok-") and publisher.find("tx-broken-")):
        assert time.monotonic() < deadline, "the dispatcher fired no postback in 60 s"
        for publisher_id, kind in ((42, "ok"), (43, "broken")):
            value = {
                "transaction_id": f"tx-{kind}-{sent}",
                "offer_id": 1,
                "publisher_id": publisher_id,
            }
            producer.produce("conversions", value=orjson.dumps(value), key=str(sent).encode())
        sent += 1
        assert producer.flush(10) == 0
        await asyncio.sleep(0.5)


async def _exported(process: Process) -> set[str]:
    """Metric families with at least one sample (a labelled counter shows none until used)."""
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.get(f"{process.url}/metrics")
    assert answer.status_code == 200
    return {
        name
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        for name in metric_families(sample.name.removesuffix("_created"))
    }


async def _wait_for_rows_written(log_writer: Process, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while "postbacks_log_writer_rows_total" not in await _exported(log_writer):
        assert time.monotonic() < deadline, "the log-writer stored no attempt"
        await asyncio.sleep(0.3)


async def test_every_metric_the_dashboards_read_is_exported(services: Services) -> None:
    await _wait_for_rows_written(services["log-writer"])
    exported: set[str] = set()
    for process in services.values():
        exported |= await _exported(process)
    used = {
        (metric, where)
        for where, expression in promql_expressions()
        for metric in metric_families(expression)
    }
    assert len(used) >= 10, used
    missing = sorted((m, w) for m, w in used if m not in exported)
    assert not missing, f"dashboard panels read metrics no service exports: {missing}"
    # The ones the traffic above must have produced, with samples, not only HELP lines.
    assert {
        "postbacks_attempts_total",
        "postbacks_dispatcher_inputs_total",
        "postbacks_delivery_seconds",
        "postbacks_dead_letters_total",
        "postbacks_log_writer_rows_total",
        "postbacks_query_api_requests_total",
        "postbacks_query_api_request_seconds",
    } <= exported


async def test_ops_endpoints_answer_in_production_mode(services: Services) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        for process in services.values():
            for path in ("/healthz", "/readyz", "/metrics"):
                answer = await client.get(f"{process.url}{path}")
                assert answer.status_code == 200, f"{process.name}{path}: {answer.text}"
        # Production mode refuses the API without a token; the ops endpoints stay open.
        api = services["query-api"].url
        assert (await client.get(f"{api}/api/v1/logs")).status_code == 401


async def test_sigterm_stops_each_service_cleanly(services: Services) -> None:
    # Last in the module: it stops the processes. Dispatcher first, as an orchestrator drains.
    for name in ("dispatcher", "log-writer", "query-api"):
        process = services[name]
        assert process.terminate() == 0, f"{name} exit code:\n{process.output()[-3000:]}"
        assert f"{name} stopped" in process.output(), process.output()[-3000:]
