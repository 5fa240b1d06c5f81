"""The floor of the delivery benchmark's stack: the least a dispatcher on these libraries does.

The same libraries as ours (confluent-kafka, httptools' llhttp on the loop's sockets through our
connection pool, orjson, uvloop) and nothing else: read a conversion, look up its publisher's
URL, fill it with `str.replace`, GET it with a fixed pool of worker tasks, read the answer, hand
an attempt record to the producer without waiting for its acknowledgement. No validation, no
destination guard, no per-host fairness, no offset tracking or commits, no dead letters, no
metrics, no retries: it is not a dispatcher anyone should run, it is how fast one process on
this machine gets with this stack at all. Whatever our dispatcher reaches is a share of this.

`--kafka aiokafka` swaps confluent-kafka (librdkafka: the Kafka protocol runs in its C
threads, not on the event loop) for aiokafka, to show what the Kafka client alone costs;
`--http pyreqwest` swaps the HTTP client for pyreqwest (reqwest on its own tokio thread), the
dispatcher's client until it moved onto the loop.

    python -m bench.bare_dispatcher --bootstrap 127.0.0.1:9092 [--workers 256] [--kafka K]
        [--http H]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from pyreqwest.client import ClientBuilder

from bench.naive_dispatcher import load_configs
from dispatcher.http1 import ConnectionPool, Origin
from dispatcher.http_client import split_url
from postbacks import topics

# The macros of bench/delivery_input.py's URL_TEMPLATE that come from the conversion.
FIELDS = ("transaction_id", "payout", "publisher_id", "offer_id", "sub1")


class AioKafka:
    """aiokafka: the consumer and producer our dispatcher had until it moved to librdkafka."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.CONVERSIONS,
            bootstrap_servers=bootstrap,
            group_id="bare-dispatcher",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)

    async def start(self) -> None:
        await self._consumer.start()
        await self._producer.start()

    async def next_values(self) -> list[bytes]:
        got = await self._consumer.getmany(timeout_ms=100, max_records=1000)
        return [record.value or b"{}" for records in got.values() for record in records]

    async def send(self, value: bytes) -> None:
        await self._producer.send(topics.ATTEMPTS, value)  # queued; the ack is not awaited

    async def stop(self) -> None:
        await self._producer.stop()
        await self._consumer.stop()


class ConfluentKafka:
    """confluent-kafka, as our dispatcher: librdkafka fetches and produces in its C threads."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bare-dispatcher-confluent",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # Tansu answers a JoinGroup only after the group has been stable for half the
                # session timeout: librdkafka's default 45 s made the join take ~23 s; 6 s
                # (Kafka's own minimum) takes ~3 s.
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 2000,
            }
        )
        # Tansu has no idempotent producer (docs/libraries.md): librdkafka's default, kept.
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": False}
        )

    async def start(self) -> None:
        self._consumer.subscribe([topics.CONVERSIONS])

    async def next_values(self) -> list[bytes]:
        self._producer.poll(0)  # serves delivery reports, so librdkafka's queue drains
        # timeout=0 takes what librdkafka's threads already fetched and never blocks the loop.
        messages = self._consumer.consume(num_messages=1000, timeout=0)
        if not messages:
            await asyncio.sleep(0.005)
        return [m.value() or b"{}" for m in messages if m.error() is None]

    async def send(self, value: bytes) -> None:
        self._producer.produce(topics.ATTEMPTS, value)  # queued in librdkafka

    async def stop(self) -> None:
        self._producer.flush(5)
        self._consumer.close()


KAFKA_CLIENTS: dict[str, type[AioKafka | ConfluentKafka]] = {
    "aiokafka": AioKafka,
    "confluent": ConfluentKafka,
}


Get = Callable[[str, str], Awaitable[int]]  # (url, attempt id) -> status


def llhttp_client() -> tuple[Get, Callable[[], Awaitable[None]]]:
    """GETs on the dispatcher's own connections (dispatcher/http1.py), with none of its checks."""
    pool = ConnectionPool(ssl.create_default_context())
    loop = asyncio.get_running_loop()

    async def get(url: str, attempt_id: str) -> int:
        target, path = split_url(url)
        origin = Origin(target.host, target.port, None)
        head = f"GET {path} HTTP/1.1\r\nX-Postback-Attempt-Id: {attempt_id}\r\n"
        connection = pool.idle(origin) or await pool.connect(origin)
        try:
            answer = await connection.exchange(
                head.encode() + target.head + b"\r\n", loop.time() + 10
            )
        finally:
            pool.release(origin, connection)
        return answer.status

    async def close() -> None:
        pool.close()

    return get, close


def pyreqwest_client() -> tuple[Get, Callable[[], Awaitable[None]]]:
    client = ClientBuilder().follow_redirects(False).no_proxy().build()

    async def get(url: str, attempt_id: str) -> int:
        request = client.get(url).header("X-Postback-Attempt-Id", attempt_id)
        async with request.build_streamed() as response:
            await response.bytes()
            return response.status

    return get, client.close


HTTP_CLIENTS = {"llhttp": llhttp_client, "pyreqwest": pyreqwest_client}


async def run(bootstrap: str, workers: int, kafka_client: str, http_client: str) -> None:
    url_of = {c.publisher_id: c.url for c in await load_configs(bootstrap)}
    kafka = KAFKA_CLIENTS[kafka_client](bootstrap)
    get, close = HTTP_CLIENTS[http_client]()
    inputs: asyncio.Queue[bytes] = asyncio.Queue(maxsize=workers * 4)

    async def fire_forever() -> None:
        while True:
            conversion = orjson.loads(await inputs.get())
            attempt_id = str(uuid.uuid4())
            url = url_of[conversion["publisher_id"]].replace("{attempt_id}", attempt_id)
            for name in FIELDS:
                url = url.replace("{" + name + "}", str(conversion[name]))
            attempted_at = datetime.now(UTC).isoformat()
            status = await get(url, attempt_id)
            record = {
                "attempt_id": attempt_id,
                "attempted_at": attempted_at,
                "publisher_id": conversion["publisher_id"],
                "status": "Success" if 200 <= status < 300 else "Failed",
                "response_code": status,
                "url": url,
                "error": "" if 200 <= status < 300 else f"HTTP {status}",
            }
            await kafka.send(orjson.dumps(record))

    await kafka.start()
    tasks = [asyncio.create_task(fire_forever()) for _ in range(workers)]
    try:
        while True:
            for value in await kafka.next_values():
                await inputs.put(value)
    finally:
        for task in tasks:
            task.cancel()
        await kafka.stop()
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_dispatcher", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--workers", type=int, default=256, help="requests in flight at most")
    parser.add_argument("--kafka", choices=sorted(KAFKA_CLIENTS), default="confluent")
    parser.add_argument("--http", choices=sorted(HTTP_CLIENTS), default="llhttp")
    args = parser.parse_args()
    uvloop.run(run(args.bootstrap, args.workers, args.kafka, args.http))


if __name__ == "__main__":
    main()
