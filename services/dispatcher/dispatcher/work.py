"""What the delivery engine passes around: its limits, and one postback to fire for one input."""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.offsets import PartitionProgress
from dispatcher.processing import Job


@dataclass(frozen=True, slots=True)
class EngineLimits:
    max_in_flight: int = 1024
    per_host: int = 64
    waiting_per_host: int = 1000
    max_line_wait_s: float = 5.0
    max_pending: int = 20_000
    max_batch: int = 500
    commit_interval_s: float = 0.5


@dataclass(slots=True, eq=False)  # not frozen: a frozen __init__ costs 3x, once per postback
class Work:
    """One attempt of a job: its input's progress reports when the attempt's record is acked."""

    job: Job
    progress: PartitionProgress
    offset: int
    attempt_number: int = 1  # 2, 3, ... for the retries of a retry policy


class PublishFailed(RuntimeError):
    """The broker refused an attempt record: stop, so uncommitted inputs are consumed again."""
