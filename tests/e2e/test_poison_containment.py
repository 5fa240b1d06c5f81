"""No single input, configuration, request or publisher answer stops delivery or logging.

Generative, on real parts: the real dispatcher and log-writer on the embedded broker and chDB,
and a real loopback server answering from a hostile catalogue plus random bytes. Each example
puts generated poison first on every input partition, healthy conversions behind it, a
configuration the API accepted (and one only another tool could write), then checks that both
services are alive and ready, every input is accounted for (a dead letter at its offset, or its
attempts logged), every input offset is committed, and the healthy postbacks were logged.

POSTBACKS_HYPOTHESIS_EXAMPLES runs more examples (CI runs a few: each takes seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from postbacks import topics
from postbacks.inputs import parse_input
from tests.e2e.system import System
from tests.kafka_topics import read_topic
from tests.waiting import ceiling, until

EXAMPLES = int(os.environ.get("POSTBACKS_HYPOTHESIS_EXAMPLES", "6"))
PARTITIONS = next(s.partitions for s in topics.TOPICS if s.name == topics.CONVERSIONS)
GROUP = "postbacks-dispatcher"
_publisher_ids = itertools.count(910_000)

# --- hostile publisher answers ----------------------------------------------------------------

CATALOGUE: dict[str, bytes] = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "retry-after superscript": b"HTTP/1.1 500 Oops\r\nRetry-After: \xc2\xb2\r\n\r\n",
    "retry-after 5000 digits": b"HTTP/1.1 503 x\r\nRetry-After: " + b"9" * 5000 + b"\r\n\r\n",
    "retry-after year 9999": b"HTTP/1.1 429 x\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n"
    + b"\r\n",
    "retry-after negative": b"HTTP/1.1 503 x\r\nRetry-After: -1.5\r\nContent-Length: 0\r\n\r\n",
    "60 KB location": b"HTTP/1.1 302 x\r\nLocation: http://x/" + b"a" * 60_000 + b"\r\n\r\n",
    "200 KB not UTF-8": b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"\xff" * 200_000,
    "endless trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
    + b"X-T: "
    + b"t" * 300_000,
    "status 999": b"HTTP/1.1 999 \r\n\r\n",
    "70 KB reason": b"HTTP/1.1 404 " + b"r" * 70_000 + b"\r\n\r\n",
    "garbage": b"garbage \x00\x01 not http",
    "closes at once": b"",
    "hangs": b"HANG",  # says nothing until the client gives up
}


class HostileServer:
    """Answers each request with the next of `script`, then closes the connection."""

    def __init__(self) -> None:
        self.script: Iterator[bytes] = itertools.cycle([CATALOGUE["ok"]])
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception, asyncio.CancelledError):  # cancelled: shutting down
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            answer = next(self.script)
            if answer == b"HANG":
                await asyncio.sleep(2)
            else:
                writer.write(answer)
                await writer.drain()
        writer.close()


# --- poison inputs ----------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_edge_numbers = st.sampled_from(
    ["-1", "0", "18446744073709551615", "18446744073709551616", "1" + "0" * 40, "1e999999999",
     "-1e-999999999", "1.5", "NaN", "Infinity", '"12"', "true", "null"]
)  # fmt: skip
_edge_texts = st.one_of(
    st.integers(0, 1100).map(lambda n: orjson.dumps("x" * n).decode()),
    st.just(orjson.dumps("y" * 100_000).decode()),
    st.just('"\\ud800"'),
    st.just('"0001-01-01T00:00:00+01:00"'),
    st.just('"9999-12-31T23:59:59-23:59"'),
    st.text(max_size=30).map(lambda t: orjson.dumps(t).decode()),
)


@st.composite
def near_valid(draw: st.DrawFn, publisher_id: int) -> bytes:
    """A conversion with one or more of its values at or past a bound, as raw JSON text."""
    fields = {
        "transaction_id": orjson.dumps(f"poison-{uuid.uuid4().hex}").decode(),
        "offer_id": "1",
        "publisher_id": str(publisher_id),
    }
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "transaction_id",
                    "offer_id",
                    "publisher_id",
                    "payout",
                    "revenue",
                    "occurred_at",
                    "sub1",
                    "event_id",
                    "currency",
                    "status",
                ]
            ),
            min_size=1,
            max_size=3,
        )
    ):
        fields[name] = draw(st.one_of(_edge_numbers, _edge_texts))
    text = "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"
    return text.encode()


def poison(publisher_id: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        near_valid(publisher_id),
        _json.map(lambda v: json.dumps(v).encode()),  # big ints and NaN too (orjson refuses)
        st.binary(max_size=200),
        st.just(b'{"transaction_id": "t\xff", "offer_id": 1, "publisher_id": 1}'),
    )


# --- configurations ---------------------------------------------------------------------------

_queries = st.lists(
    st.sampled_from(["t={transaction_id}", "p={payout}", "s={sub1}", "a={attempt_id}", "x=1",
                     "d={datetime}", "e={event_id}", "c={currency}"]),
    max_size=4,
)  # fmt: skip


@st.composite
def configuration(draw: st.DrawFn, port: int, publisher_id: int) -> dict[str, Any]:
    method = draw(st.sampled_from(["GET", "POST"]))
    config: dict[str, Any] = {
        "name": f"poison-{publisher_id}",
        "type": "Conversion",
        "publisher_id": publisher_id,
        "url": f"http://127.0.0.1:{port}/pb?" + "&".join(draw(_queries)),
        "method": method,
        "timeout_ms": draw(st.integers(100, 800)),
        "retry_max_attempts": draw(st.integers(1, 3)),
        "retry_initial_delay_ms": 100,
        "retry_max_delay_ms": 200,
    }
    if method == "POST" and draw(st.booleans()):
        config["body"] = '{"tx": "{transaction_id}", "p": {payout}}'
    return config


def unusable_config_record(publisher_id: int) -> tuple[bytes, bytes]:
    """What another tool could write to the configurations topic: a port past 65535."""
    config_id = uuid.uuid4()
    now = datetime.now(UTC).isoformat()
    value = {
        "id": str(config_id), "name": "another tool's", "type": "Conversion",
        "publisher_id": publisher_id, "url": "http://127.0.0.1:99999/pb", "version": 1,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    return str(config_id).encode(), orjson.dumps(value)


# --- the property -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def produce(
    bootstrap: str, records: list[tuple[str, int | None, bytes | None, bytes]]
) -> list[tuple[str, int, int]]:
    """Produce (topic, partition, key, value) in order; where each landed."""
    landed: list[tuple[str, int, int]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})

    def done(error: Any, message: Any) -> None:
        assert error is None, error
        landed.append((message.topic(), message.partition(), message.offset()))

    for topic, partition, key, value in records:
        if partition is None:
            producer.produce(topic, value=value, key=key, on_delivery=done)
        else:
            producer.produce(topic, value=value, key=key, partition=partition, on_delivery=done)
        producer.flush(10)  # one at a time: `landed` stays in the order produced
    return landed


async def uncommitted(bootstrap: str) -> int:
    """Input records past the dispatcher group's committed offsets, over every input topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP)
    await consumer.start()
    try:
        parts = [
            TopicPartition(spec.name, p)
            for spec in topics.TOPICS
            if spec.name in (*topics.INPUT_TOPICS, topics.REFIRES)
            for p in range(spec.partitions)
        ]
        ends = await consumer.end_offsets(parts)
        behind = 0
        for tp in parts:
            # At most 0: Tansu's end offset is one short after some batches (0 for 0-7).
            behind += max(0, ends[tp] - (await consumer.committed(tp) or 0))
        return behind
    finally:
        await consumer.stop()


@pytest.mark.timeout(120 + 20 * EXAMPLES)  # each example takes a few seconds
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=EXAMPLES <= 6,  # CI: the same examples every run
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a shrink re-runs seconds-long examples
)
@given(data=st.data())
async def test_no_poison_stops_delivery_or_logging(system: System, data: st.DataObject) -> None:
    publisher_id = next(_publisher_ids)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with hostile_server() as server:
        script = data.draw(st.lists(st.one_of(st.sampled_from(sorted(CATALOGUE)),
                                              st.binary(max_size=300)), min_size=1),
                           label="answers")  # fmt: skip
        server.script = itertools.cycle([CATALOGUE[a] if isinstance(a, str) else a for a in script])
        config = data.draw(configuration(server.port, publisher_id), label="configuration")
        await system.create_postback(**config)
        await _until_the_dispatcher_fires_for(system, publisher_id)
        key, value = unusable_config_record(publisher_id)
        produce(system.bootstrap, [(topics.CONFIGS, None, key, value)])
        source = {"transaction_id": "t", "offer_id": 1, "publisher_id": publisher_id}
        refire = {
            "attempt_id": str(uuid.uuid4()), "trigger": "test",
            "source": orjson.dumps(source).decode(), "postback": orjson.loads(value),
        }  # fmt: skip
        bad = data.draw(st.lists(poison(publisher_id), min_size=1, max_size=8), label="poison")
        healthy = [f"healthy-{publisher_id}-{p}" for p in range(PARTITIONS)]
        records: list[tuple[str, int | None, bytes | None, bytes]] = [
            (topics.CONVERSIONS, i % PARTITIONS, None, v) for i, v in enumerate(bad)
        ]
        records.append((topics.REFIRES, 0, None, orjson.dumps(refire)))
        records += [
            (topics.CONVERSIONS, p, tx.encode(), orjson.dumps(
                {"transaction_id": tx, "offer_id": 1, "publisher_id": publisher_id}))
            for p, tx in enumerate(healthy)
        ]  # fmt: skip
        landed = produce(system.bootstrap, records)

        # Every input offset committed within seconds: nothing holds a partition.
        await until(lambda: _nothing_uncommitted(system.bootstrap), "offsets stuck", every_s=0.3)

        # The healthy conversions behind the poison were fired and logged.
        async def all_healthy_logged() -> bool:
            logged = await system.logs(publisher_id=publisher_id)
            return {h["transaction_id"] for h in logged} >= set(healthy)

        await until(all_healthy_logged, "healthy postbacks not logged", every_s=0.3)
        # Every poison input accounted for: one dead letter at its offset, or its attempts.
        letters = {
            (letter["topic"], letter["partition"], letter["offset"])
            for letter in [orjson.loads(r.value) for r in await read_topic(system.bootstrap,
                                                                           topics.DLQ)]
        }  # fmt: skip
        for value, where in zip(bad, landed, strict=False):
            if where in letters:
                continue
            message = parse_input(topics.CONVERSIONS, value)  # valid after all: it fired
            if message.publisher_id == publisher_id:
                found = await system.wait_for_logs(1, transaction_id=message.transaction_id)
                assert found, f"valid input {value[:100]!r} neither dead-lettered nor logged"
        assert (topics.REFIRES, 0, landed[len(bad)][2]) in letters  # its config is unusable
    # Both services alive and ready.
    assert (await system.api.get("/readyz")).status_code == 200
    assert await _dispatcher_ready(system)
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mib < 400, f"the process grew by {growth_mib:.0f} MiB in one example"


async def _until_the_dispatcher_fires_for(system: System, publisher_id: int) -> None:
    """A new configuration reaches the dispatcher through postbacks.configs a moment later:
    canary conversions until one of them is logged, so the poison meets the configuration."""
    deadline = time.monotonic() + ceiling(60)
    for n in itertools.count():
        tx = f"canary-{publisher_id}-{n}"
        value = orjson.dumps({"transaction_id": tx, "offer_id": 1, "publisher_id": publisher_id})
        produce(system.bootstrap, [(topics.CONVERSIONS, None, tx.encode(), value)])
        for _ in range(10):
            if await system.logs(publisher_id=publisher_id, transaction_id__contains="canary-"):
                return
            await asyncio.sleep(0.2)
        assert time.monotonic() < deadline, "the configuration never reached the dispatcher"


async def _nothing_uncommitted(bootstrap: str) -> bool:
    return await uncommitted(bootstrap) == 0


async def _dispatcher_ready(system: System) -> bool:
    port = system.dispatcher._settings.dispatcher_port
    async with httpx.AsyncClient(trust_env=False) as client:
        return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
