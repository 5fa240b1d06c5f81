"""One batch of input records in, attempt records and dead letters out. No Kafka here.

Records from `postbacks.refires` are explicit requests (test fires, re-fires): they carry their
configuration and fire exactly once, without matching.

Every valid input is matched against the configuration table and fires each matching postback
once; invalid input becomes a dead letter with its reason. Postbacks of a batch are fired
concurrently, bounded by a semaphore, because almost all their time is spent waiting on
publishers' servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from dispatcher import metrics
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer
from postbacks import topics
from postbacks.attempts import AttemptRecord
from postbacks.configs import PostbackConfig
from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, parse_input


@dataclass
class BatchOutcome:
    attempts: list[AttemptRecord] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)


def rejection_reason(exc: Exception) -> str:
    """Why an input was refused, naming each bad field."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "message"
            problems.append(f"{where}: {error['msg']}")
        return "invalid message: " + "; ".join(problems)
    return f"invalid message: {exc}"


@dataclass(frozen=True)
class Job:
    """One postback to fire for one input."""

    config: PostbackConfig
    message: ClickInput
    request: FireRequest | None = None  # set for test fires and re-fires


class BatchProcessor:
    def __init__(self, table: ConfigTable, deliverer: Deliverer, concurrency: int) -> None:
        self._table = table
        self._deliverer = deliverer
        self._slots = asyncio.Semaphore(concurrency)

    async def process(self, records: Sequence[KafkaRecord]) -> BatchOutcome:
        outcome = BatchOutcome()
        jobs: list[Job] = []
        for record in records:
            metrics.INPUTS.labels(record.topic).inc()
            try:
                jobs += self._jobs(record)
            except (ValidationError, ValueError) as exc:
                outcome.dead_letters.append(
                    dead_letter(record, reason=rejection_reason(exc), service="dispatcher")
                )
        outcome.attempts = list(await asyncio.gather(*(self._fire(job) for job in jobs)))
        return outcome

    def _jobs(self, record: KafkaRecord) -> list[Job]:
        if record.topic == topics.REFIRES:
            if record.value is None:
                raise ValueError("message has no value (tombstone)")
            request = FireRequest.model_validate_json(record.value)
            return [Job(request.postback, request.input_message(), request)]
        message = parse_input(record.topic, record.value)
        return [Job(config, message) for config in self._table.matching(record.topic, message)]

    async def _fire(self, job: Job) -> AttemptRecord:
        async with self._slots:
            if job.request is None:
                attempt = await self._deliverer.fire(job.config, job.message)
            else:
                attempt = await self._deliverer.fire(
                    job.config,
                    job.message,
                    trigger=job.request.trigger,
                    attempt_id=job.request.attempt_id,
                    refire_of=job.request.refire_of,
                )
        metrics.ATTEMPTS.labels(attempt.status, attempt.postback_type, attempt.trigger).inc()
        metrics.DELIVERY_SECONDS.observe(attempt.latency_ms / 1000)
        return attempt
