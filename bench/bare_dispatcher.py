"""The floor of the delivery benchmark's stack: the least a dispatcher on these libraries does.

The same libraries as ours (aiokafka, pyreqwest, orjson, uvloop) and nothing else: read a
conversion, look up its publisher's URL, fill it with `str.replace`, GET it with a fixed pool of
worker tasks, read the answer, hand an attempt record to the producer without waiting for its
acknowledgement. No validation, no destination guard, no per-host fairness, no offset
tracking or commits, no dead letters, no metrics, no retries: it is not a dispatcher anyone
should run, it is how fast one process on this machine gets with this stack at all. Whatever
our dispatcher reaches is a share of this.

    python -m bench.bare_dispatcher --bootstrap 127.0.0.1:9092 [--workers 256]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pyreqwest.client import ClientBuilder

from bench.naive_dispatcher import load_configs
from postbacks import topics

# The macros of bench/delivery_input.py's URL_TEMPLATE that come from the conversion.
FIELDS = ("transaction_id", "payout", "publisher_id", "offer_id", "sub1")


async def run(bootstrap: str, workers: int) -> None:
    url_of = {c.publisher_id: c.url for c in await load_configs(bootstrap)}
    consumer = AIOKafkaConsumer(
        topics.CONVERSIONS,
        bootstrap_servers=bootstrap,
        group_id="bare-dispatcher",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    client = ClientBuilder().follow_redirects(False).no_proxy().build()
    inputs: asyncio.Queue[bytes] = asyncio.Queue(maxsize=workers * 4)

    async def fire_forever() -> None:
        while True:
            conversion = orjson.loads(await inputs.get())
            attempt_id = str(uuid.uuid4())
            url = url_of[conversion["publisher_id"]].replace("{attempt_id}", attempt_id)
            for name in FIELDS:
                url = url.replace("{" + name + "}", str(conversion[name]))
            attempted_at = datetime.now(UTC).isoformat()
            request = client.get(url).header("X-Postback-Attempt-Id", attempt_id)
            async with request.build_streamed() as response:
                status = response.status
                await response.bytes()
            record = {
                "attempt_id": attempt_id,
                "attempted_at": attempted_at,
                "publisher_id": conversion["publisher_id"],
                "status": "Success" if 200 <= status < 300 else "Failed",
                "response_code": status,
                "url": url,
                "error": "" if 200 <= status < 300 else f"HTTP {status}",
            }
            await producer.send(topics.ATTEMPTS, orjson.dumps(record))

    await consumer.start()
    await producer.start()
    tasks = [asyncio.create_task(fire_forever()) for _ in range(workers)]
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=100, max_records=1000)).values():
                for record in records:
                    await inputs.put(record.value or b"{}")
    finally:
        for task in tasks:
            task.cancel()
        await producer.stop()
        await consumer.stop()
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_dispatcher", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--workers", type=int, default=256, help="requests in flight at most")
    args = parser.parse_args()
    uvloop.run(run(args.bootstrap, args.workers))


if __name__ == "__main__":
    main()
