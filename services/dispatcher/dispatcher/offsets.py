"""Which input offsets may be committed: at least once (design §5, issue 4 item 6).

Records finish out of order (a fast publisher's postback before a hanging one's), but a Kafka
commit means "everything below this offset is done". Each partition therefore keeps its
unfinished records in offset order, and the committable offset is the lowest unfinished one
(or one past the last seen when nothing is unfinished). A record is finished when every attempt
and dead letter it produced has been acknowledged by the broker.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple


class Partition(NamedTuple):
    topic: str
    partition: int


class PartitionProgress:
    def __init__(self, partition: Partition) -> None:
        self.partition = partition  # for log lines that name an input
        self._open: deque[int] = deque()  # unfinished offsets, ascending
        self._remaining: dict[int, int] = {}
        self._next = -1  # one past the highest offset seen; -1 before any

    def begin(self, offset: int, parts: int) -> None:
        """A record whose `parts` outputs must be acknowledged before it counts as done."""
        self._next = max(self._next, offset + 1)
        if parts > 0:
            self._open.append(offset)
            self._remaining[offset] = parts

    def add_part(self, offset: int) -> None:
        """One more output for an unfinished record: a retry that will publish its own attempt
        (called before the failed attempt's record is published, so the record stays open)."""
        self._remaining[offset] += 1

    def finish_part(self, offset: int) -> None:
        left = self._remaining[offset] - 1
        if left:
            self._remaining[offset] = left
            return
        del self._remaining[offset]
        while self._open and self._open[0] not in self._remaining:
            self._open.popleft()

    def committable(self) -> int | None:
        """The offset to commit (Kafka's "next to read"), or None before any record."""
        if self._open:
            return self._open[0]
        return self._next if self._next >= 0 else None

    @property
    def unfinished(self) -> int:
        return len(self._remaining)


class OffsetTracker:
    """Progress of every partition this dispatcher has read, and what was last committed."""

    def __init__(self) -> None:
        self._partitions: dict[Partition, PartitionProgress] = {}
        self._committed: dict[Partition, int] = {}

    def begin(self, partition: Partition, offset: int, parts: int) -> PartitionProgress:
        """Record a new input; its outputs report back to the returned progress (so a late
        acknowledgement after a rebalance lands on the forgotten progress, not a new one)."""
        progress = self._partitions.get(partition)
        if progress is None:
            progress = self._partitions[partition] = PartitionProgress(partition)
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
        """After a rebalance took these away: their records now belong to another consumer."""
        for partition in partitions:
            self._partitions.pop(partition, None)
            self._committed.pop(partition, None)

    @property
    def unfinished(self) -> int:
        return sum(p.unfinished for p in self._partitions.values())
