"""Scenario `hotpath`: the dispatcher's own Python work per postback, step by step, no I/O.

The delivery benchmark's figures move by ±15 % between runs on the shared machines, so a change
worth a few per cent cannot be seen there. This scenario times each step of one postback's way
through the dispatcher in this process, with `timeit` (best of `--hotpath-repeat`), on the
delivery benchmark's own conversion and URL template:

- decoding, validating and matching the input (`processing.plan`);
- rendering the request, the send with an HTTP client that answers at once, and building the
  attempt (`Deliverer.fire_job`);
- the metrics: the input counter (counted once per fetched batch of 500), the request-latency
  histogram and the attempt counter;
- the attempt record's JSON (`Attempt.to_json`);
- the scheduler: a postback submitted, run on a slot, released (a backlog of `--hotpath-batch`);
- the input's offset bookkeeping.

Beside it, as the baseline, the same work as `bench/bare_dispatcher.py` does it (orjson,
`str.replace`, uuid4, one dict dumped): the least Python any dispatcher does per postback. Under
load each step costs about three times what it costs here (services/dispatcher/README.md), so
these are figures for comparing code, not rates.
"""

from __future__ import annotations

import argparse
import asyncio
import timeit
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TypeVar, cast

import orjson

from bench.delivery_input import FIRST_PUBLISHER_ID, URL_TEMPLATE, Publishers, conversion
from bench.report import machine_info, table, write_json
from bench.scenario import Scenario
from dispatcher import metrics
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer
from dispatcher.http_client import HttpAnswer, PostbackHttpClient
from dispatcher.kafka_inputs import Record
from dispatcher.offsets import OffsetTracker, Partition
from dispatcher.processing import plan
from dispatcher.scheduler import HostScheduler
from postbacks.attempts import PostbackType
from postbacks.configs import PostbackConfig, PostbackConfigIn

T = TypeVar("T")
PORT = 8080  # never connected to: nothing here does I/O
BARE_FIELDS = ("transaction_id", "payout", "publisher_id", "offer_id", "sub1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hotpath")
    group.add_argument("--hotpath-number", type=int, default=20_000, help="calls per timing")
    group.add_argument("--hotpath-repeat", type=int, default=5, help="timings; the best is kept")
    group.add_argument(
        "--hotpath-batch", type=int, default=1_000, help="postbacks per scheduler timing"
    )


class _AnswersAtOnce:
    """Stands in for the HTTP client: a 200 with a 2-byte body, no connection (no I/O is timed)."""

    async def send(self, *_: object, **__: object) -> HttpAnswer:
        return HttpAnswer(200, "OK", None, "ok")


def _config() -> PostbackConfig:
    now = datetime.now(UTC)
    payload = PostbackConfigIn(
        name=f"pub-{FIRST_PUBLISHER_ID}",
        type=PostbackType.CONVERSION,
        url=URL_TEMPLATE.format(port=PORT, index=0),
        publisher_id=FIRST_PUBLISHER_ID,
    )
    return PostbackConfig.stamp(payload, id=uuid.uuid4(), created_at=now, now=now, version=1)


def _drive(coroutine: Coroutine[object, object, T]) -> T:
    """Runs a coroutine that never suspends (nothing in it waits for I/O) to its result."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    raise RuntimeError("the coroutine suspended: something in it waited")


def ours(batch: int) -> dict[str, Callable[[], object]]:
    """Each step of one postback, as the dispatcher runs it."""
    config = _config()
    table = ConfigTable()
    table.apply(str(config.id).encode(), config.model_dump_json().encode())
    record = Record(
        "conversions", 0, 5, b"bench-000000000", conversion(0, Publishers([PORT], frozenset()))
    )
    job = plan(table, record).jobs[0]
    deliverer = Deliverer(cast(PostbackHttpClient, _AnswersAtOnce()))
    attempt = _drive(deliverer.fire_job(job.config, job.message, None)).attempt
    tracker, partition, offsets = OffsetTracker(), Partition("conversions", 0), iter(range(10**9))

    def bookkeeping() -> None:
        offset = next(offsets)
        tracker.begin(partition, offset, 1).finish_part(offset)

    fetched = ["conversions"] * 500  # the engine counts inputs once per fetched batch
    calls = iter(range(10**12))

    def observed() -> None:
        if next(calls) % len(fetched) == 0:
            metrics.count_inputs(fetched)
        metrics.DELIVERY_SECONDS.observe(0.001)
        metrics.count_attempt(attempt.status, attempt.postback_type, attempt.trigger, 200)

    async def scheduled() -> None:
        async def run(_: int) -> None:
            return None

        scheduler: HostScheduler[int] = HostScheduler(
            run, max_in_flight=64, per_host=64, waiting_per_host=batch
        )
        for i in range(batch):
            scheduler.submit("127.0.0.1:8080", i)
        await scheduler.wait_idle()

    loop = asyncio.new_event_loop()
    return {
        "decode, validate and match the input": lambda: plan(table, record),
        "render, send (answered at once), build the attempt": lambda: _drive(
            deliverer.fire_job(job.config, job.message, None)
        ),
        "metrics: inputs (per batch), latency, attempts": observed,
        "attempt record to JSON": attempt.to_json,
        "scheduler: submit, run on a slot, release": lambda: loop.run_until_complete(scheduled()),
        "offset bookkeeping": bookkeeping,
    }


def bare() -> Callable[[], object]:
    """bench/bare_dispatcher.py's work per postback, without its I/O."""
    value = conversion(0, Publishers([PORT], frozenset()))
    template = URL_TEMPLATE.format(port=PORT, index=0)

    def step() -> bytes:
        document = orjson.loads(value)
        attempt_id = str(uuid.uuid4())
        url = template.replace("{attempt_id}", attempt_id)
        for name in BARE_FIELDS:
            url = url.replace("{" + name + "}", str(document[name]))
        record = {
            "attempt_id": attempt_id,
            "attempted_at": datetime.now(UTC).isoformat(),
            "publisher_id": document["publisher_id"],
            "status": "Success",
            "response_code": 200,
            "url": url,
            "error": "",
        }
        return orjson.dumps(record)

    return step


def _best_us(step: Callable[[], object], number: int, repeat: int, per_call: int = 1) -> float:
    return min(timeit.repeat(step, number=number, repeat=repeat)) / number / per_call * 1e6


def run(args: argparse.Namespace) -> None:
    steps = ours(args.hotpath_batch)
    timings: dict[str, float] = {}
    for label, step in steps.items():
        batched = label.startswith("scheduler")
        number = (
            max(1, args.hotpath_number // args.hotpath_batch) if batched else args.hotpath_number
        )
        per_call = args.hotpath_batch if batched else 1
        timings[label] = _best_us(step, number, args.hotpath_repeat, per_call)
    total = sum(timings.values())
    floor = _best_us(bare(), args.hotpath_number, args.hotpath_repeat)
    rows = [[label, f"{us:.2f}"] for label, us in timings.items()]
    rows += [
        ["ours, all steps", f"{total:.2f}"],
        ["bare stack's Python (baseline)", f"{floor:.2f}"],
    ]
    print(table(["step (one postback, no I/O)", "µs"], rows))
    print(f"\nours is {total / floor:.1f}x the bare stack's Python per postback")
    path = write_json(
        "hotpath",
        {
            "machine": machine_info(),
            "microseconds": timings,
            "ours_total_us": total,
            "bare_us": floor,
            "ratio": total / floor,
            "settings": {
                "number": args.hotpath_number,
                "repeat": args.hotpath_repeat,
                "batch": args.hotpath_batch,
            },
        },
        args.results_dir,
    )
    print(f"written to {path}")


SCENARIO = Scenario(
    name="hotpath",
    summary="the dispatcher's Python work per postback, step by step, beside the bare stack's",
    add_arguments=add_arguments,
    run=run,
)
