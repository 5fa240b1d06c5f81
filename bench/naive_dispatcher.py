"""The baseline of the delivery benchmark: a dispatcher written the obvious way.

aiokafka consumer in a group, `httpx.AsyncClient` with keep-alive, one request per conversion,
an attempt record per postback on `postbacks.attempts`, offsets committed after the batch's
attempts are acknowledged. It does the same work as ours (validate the input, match the
configurations, render the URL with the shared templates, send the attempt-id header, keep the
first 4 KiB of the answer), honestly written but without any engineering for throughput.

Two ways to fire a batch, both common in real code:
- `loop` (default): `for message in batch: await client.get(...)`, one at a time;
- `gather`: `asyncio.gather` over the whole batch (httpx gets slower with concurrency, design §2).

    python -m bench.naive_dispatcher --bootstrap 127.0.0.1:9092 [--mode gather]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from postbacks import topics
from postbacks.attempts import SERVER_RESPONSE_LIMIT, AttemptRecord, AttemptStatus
from postbacks.configs import PostbackConfig
from postbacks.inputs import ConversionInput
from postbacks.macros import MACROS
from postbacks.templates import render_url


async def load_configs(bootstrap: str) -> list[PostbackConfig]:
    """Every configuration on the compacted topic, read from the beginning to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.CONFIGS, 0)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = (await consumer.end_offsets(partitions))[partitions[0]]
        by_key: dict[bytes, PostbackConfig | None] = {}
        while await consumer.position(partitions[0]) < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    by_key[r.key or b""] = (
                        PostbackConfig.model_validate_json(r.value) if r.value else None
                    )
        return [c for c in by_key.values() if c is not None]
    finally:
        await consumer.stop()


def matches(config: PostbackConfig, conversion: ConversionInput) -> bool:
    return (
        config.enabled
        and config.type == "Conversion"
        and config.offer_id in (None, conversion.offer_id)
        and config.publisher_id in (None, conversion.publisher_id)
        and conversion.status in config.statuses
    )


def macro_values(
    conversion: ConversionInput, config: PostbackConfig, attempt_id: uuid.UUID
) -> dict[str, str]:
    fields = conversion.model_dump()
    values = {
        name: format(v, "f") if isinstance(v, Decimal) else str(v)
        for name in MACROS
        if (v := fields.get(name)) is not None
    }
    values["timestamp"] = str(int(conversion.occurred_at.timestamp()))
    values["datetime"] = conversion.occurred_at.astimezone(UTC).isoformat()
    values["postback_id"] = str(config.id)
    values["attempt_id"] = str(attempt_id)
    return values


async def fire(
    client: httpx.AsyncClient, config: PostbackConfig, conversion: ConversionInput, source: bytes
) -> AttemptRecord:
    attempt_id = uuid.uuid4()
    url = render_url(config.url, macro_values(conversion, config, attempt_id))
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    code, error, body = 0, "", ""
    try:
        response = await client.request(
            config.method.value,
            url,
            headers={"X-Postback-Attempt-Id": str(attempt_id)},
            timeout=config.timeout_ms / 1000,
        )
        code, body = response.status_code, response.text[:SERVER_RESPONSE_LIMIT]
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return AttemptRecord(
        attempt_id=attempt_id,
        attempted_at=started_at,
        status=AttemptStatus.SUCCESS if 200 <= code < 300 else AttemptStatus.FAILED,
        postback_id=config.id,
        postback_name=config.name,
        postback_type=config.type,
        offer_id=conversion.offer_id,
        publisher_id=conversion.publisher_id,
        transaction_id=conversion.transaction_id,
        response_code=code,
        url=url,
        method=config.method,
        error=error,
        server_response=body,
        latency_ms=round((time.perf_counter() - started) * 1000),
        source=source.decode(errors="replace"),
    )


async def run(bootstrap: str, mode: str, group_id: str) -> None:
    configs = await load_configs(bootstrap)
    consumer = AIOKafkaConsumer(
        topics.CONVERSIONS,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                jobs = []
                for records in batches.values():
                    for r in records:
                        try:
                            conversion = ConversionInput.model_validate_json(r.value or b"")
                        except ValidationError:
                            continue  # the real dispatcher dead-letters; no bad input here
                        jobs += [
                            (c, conversion, r.value or b"")
                            for c in configs
                            if matches(c, conversion)
                        ]
                if mode == "gather":
                    attempts = await asyncio.gather(*(fire(client, *job) for job in jobs))
                else:
                    attempts = [await fire(client, *job) for job in jobs]
                sends = [
                    await producer.send(
                        topics.ATTEMPTS, a.model_dump_json().encode(), key=a.attempt_id.bytes
                    )
                    for a in attempts
                ]
                for sent in sends:
                    await sent
                if batches:
                    await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_dispatcher", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--mode", choices=("loop", "gather"), default="loop")
    parser.add_argument("--group-id", default="naive-dispatcher")
    args = parser.parse_args()
    uvloop.run(run(args.bootstrap, args.mode, args.group_id))


if __name__ == "__main__":
    main()
