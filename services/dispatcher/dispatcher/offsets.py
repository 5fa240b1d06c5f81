"""The one account of admitted inputs and their outputs: which offsets may be committed, and how
many outputs are pending (the engine's bound). At least once (design §5, issue 4 item 6).

An input's outputs are its attempt records (one per attempt, retries included) and, for a
message that cannot be fired, its dead letter. Each is pending from its input's admission (or
its retry's planning) until it ends, in one of two ways:
- finished: the broker acknowledged it, or it was given up with a log line (outputs.py). An
  input whose outputs are all finished is done;
- abandoned: it will never be published (the broker or the producer failed, or its wait was
  abandoned at shutdown or by a rebalance). It no longer counts toward the bound, but it never
  finishes, so its input is never done: consumed again after the restart, or by the
  partition's next owner.

Inputs finish out of order (a fast publisher's postback before a hanging one's), but a Kafka
commit means "everything below this offset is done". Each partition therefore keeps its
unfinished inputs in offset order, and the committable offset is the lowest unfinished one (or
one past the last seen when nothing is unfinished).
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import NamedTuple


class Partition(NamedTuple):
    topic: str
    partition: int


class PartitionProgress:
    def __init__(self, partition: Partition, tracker: OffsetTracker) -> None:
        self.partition = partition  # for log lines that name an input
        # Kept after the tracker forgets this partition: a late answer still frees its room.
        self._tracker = tracker
        self._open: deque[int] = deque()  # unfinished offsets, ascending
        self._remaining: dict[int, int] = {}  # unfinished offset -> its outputs not finished
        self._next = -1  # one past the highest offset seen; -1 before any

    def begin(self, offset: int, parts: int) -> None:
        """An input whose `parts` outputs must all finish before it is done."""
        if offset >= self._next:
            self._next = offset + 1
        if parts:
            self._open.append(offset)
            self._remaining[offset] = parts
            self._tracker.pending += parts

    def add_part(self, offset: int) -> None:
        """One more output for an unfinished input: a retry that will publish its own attempt
        (called before the failed attempt's record is published, so the input stays open)."""
        self._remaining[offset] += 1
        self._tracker.pending += 1

    def finish_part(self, offset: int) -> None:
        left = self._remaining[offset] - 1
        if left:
            self._remaining[offset] = left
        else:
            del self._remaining[offset]
            while self._open and self._open[0] not in self._remaining:
                self._open.popleft()
        # Counted last: an offset that is not open raises before anything changes.
        self._tracker.output_ended()

    def abandon_part(self, offset: int) -> None:
        """An output of the input at `offset` that will never be published: it stays among
        the input's remaining outputs, so the input is never done."""
        if offset not in self._remaining:
            raise KeyError(f"offset {offset} has no output left on {self.partition}")
        self._tracker.output_ended()

    def committable(self) -> int | None:
        """The offset to commit (Kafka's "next to read"), or None before any input."""
        if self._open:
            return self._open[0]
        return self._next if self._next >= 0 else None


class OffsetTracker:
    """Progress of every partition this dispatcher has read, what was last committed, and the
    outputs pending across them all, against `max_pending` (unbounded unless told)."""

    def __init__(self, max_pending: int = sys.maxsize) -> None:
        self._partitions: dict[Partition, PartitionProgress] = {}
        self._committed: dict[Partition, int] = {}
        self._max_pending = max_pending
        self.pending = 0  # forgotten partitions' outputs included, until they end
        self.room = asyncio.Event()  # set whenever an output ends below max_pending

    @property
    def full(self) -> bool:
        return self.pending >= self._max_pending

    @property
    def room_left(self) -> int:
        return self._max_pending - self.pending

    def output_ended(self) -> None:
        """One output stopped being pending (finished or abandoned)."""
        if self.pending <= 0:  # an output ended twice: say so rather than lose the bound
            raise RuntimeError("an output ended that was not pending")
        self.pending -= 1
        if self.pending < self._max_pending:
            self.room.set()

    def begin(self, partition: Partition, offset: int, parts: int) -> PartitionProgress:
        """Record a new input; its outputs report back to the returned progress (so a late
        acknowledgement after a rebalance lands on the forgotten progress, not a new one)."""
        progress = self._partitions.get(partition)
        if progress is None:
            progress = self._partitions[partition] = PartitionProgress(partition, self)
        progress.begin(offset, parts)
        return progress

    def to_commit(self) -> dict[Partition, int]:
        """Offsets that moved since the last `committed()`."""
        moved = {}
        for partition, progress in self._partitions.items():
            offset = progress.committable()
            if offset is not None and offset != self._committed.get(partition):
                moved[partition] = offset
        return moved

    def progress_of(self, partitions: set[Partition]) -> list[PartitionProgress]:
        return [p for tp, p in self._partitions.items() if tp in partitions]

    def committed(self, offsets: dict[Partition, int]) -> None:
        self._committed.update(offsets)

    def uncommitted(self, partitions: set[Partition]) -> None:
        """Their last commit failed: `to_commit()` names them again, moved or not."""
        for partition in partitions:
            self._committed.pop(partition, None)

    def forget(self, partitions: set[Partition]) -> None:
        """After a rebalance took these away: their inputs now belong to another consumer."""
        for partition in partitions:
            self._partitions.pop(partition, None)
            self._committed.pop(partition, None)
