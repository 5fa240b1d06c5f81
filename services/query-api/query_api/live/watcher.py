"""One live client: the filters it watches, where it is, and what waits to be sent to it.

The poller (hub.py) hands each client its rows of each read as one batch, newest first; the
client's stream takes whatever is waiting, formats it, and otherwise sends a heartbeat.

Ids. Every event carries the client's position: the newest row it has been sent whole batches
up to. Within a batch every event but the last carries the position before the batch, the last
one the position after it. A client that reconnects with the id of the last event it got is
thus sent every row newer than a batch it got whole, or again the whole of a batch it got part
of: at least once, and exactly once when nothing was cut in the middle of a batch (each batch is
written to the connection at once). Rows stored late, older than a position already sent, are
shown live while they are within the lookback, but a reconnect does not send them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from query_api.live import wire
from query_api.live.limits import StreamLimits
from query_api.live.positions import later, order_key
from query_api.logs.cursor import CursorPosition, encode_cursor
from query_api.logs.filters import ColumnFilter

# A client's wait before it reconnects: short, since Last-Event-ID makes a reconnect lose
# nothing within the resume bounds.
RETRY_MS = 1000


@dataclass(frozen=True)
class Delivery:
    """One attempt for the clients whose filters matched it, encoded once for all of them."""

    position: CursorPosition
    attempt_id: str
    data: bytes


@dataclass
class _Skipped:
    """Rows a slow client was not sent, told as one `gap` event where they would have been."""

    count: int


class Watcher:
    """One client of the live view; only the event loop touches it."""

    def __init__(
        self, filters: tuple[ColumnFilter, ...], floor: CursorPosition, limits: StreamLimits
    ) -> None:
        self.filters = filters
        # Its first read gives it only rows newer than this: the moment it connected, or the
        # Last-Event-ID it resumed from. Later reads give it every row new to the process.
        self.floor = floor
        self.polled = False
        self._limits = limits
        self._position = floor
        self._pending: deque[list[Delivery] | _Skipped | bytes] = deque()
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._closed = False
        # The rows a resumed stream was sent first, so that a read bringing them again (they
        # may be new to the process) does not send them twice; dropped once the reads' lookback
        # has passed the newest of them.
        self._resumed: set[str] = set()
        self._resumed_until_ms = 0

    def takes(self, position: CursorPosition) -> bool:
        """Whether a row new to the process at `position` is for this client."""
        return self.polled or order_key(position) > order_key(self.floor)

    def resume(self, rows: list[Delivery], gap: bytes | None) -> None:
        """Put the rows of a resumed stream first, before what reads brought meanwhile."""
        self._resumed = {row.attempt_id for row in rows}
        self._resumed_until_ms = max((r.position.attempted_at_ms for r in rows), default=0)
        kept: deque[list[Delivery] | _Skipped | bytes] = deque()
        for item in self._pending:
            if isinstance(item, list):
                item = [row for row in item if row.attempt_id not in self._resumed]
            if item:
                kept.append(item)
        if gap is not None:
            kept.appendleft(gap)
        if rows:
            kept.appendleft(rows)
        self._pending = kept
        self._pending_rows = sum(len(item) for item in kept if isinstance(item, list))
        self._wake.set()

    def add(self, rows: list[Delivery], since_ms: int) -> None:
        """The rows of one read for this client, newest first."""
        if self._resumed:
            if since_ms > self._resumed_until_ms:
                self._resumed.clear()
            rows = [row for row in rows if row.attempt_id not in self._resumed]
        if not rows:
            return
        if self._pending_rows + len(rows) > self._limits.max_pending_rows:
            if self._pending and isinstance(self._pending[-1], _Skipped):
                self._pending[-1].count += len(rows)
            else:
                self._pending.append(_Skipped(len(rows)))
        else:
            self._pending.append(rows)
            self._pending_rows += len(rows)
        self._wake.set()

    def tell(self, notice: bytes) -> None:
        """A `gap` or `warning` event, after what is waiting; none to a client already told
        it is behind, nor the same twice in a row, so what waits for a stuck client stays
        bounded."""
        last = self._pending[-1] if self._pending else None
        if isinstance(last, _Skipped) or last == notice:
            return
        self._pending.append(notice)
        self._wake.set()

    def close(self) -> None:
        """End the stream: what is waiting is sent, then the response ends."""
        self._closed = True
        self._wake.set()

    async def chunks(self) -> AsyncGenerator[bytes]:
        """The stream's body: its start, then whatever waits, or a heartbeat when nothing has
        for `heartbeat_seconds`."""
        yield wire.opening(RETRY_MS, encode_cursor(self._position)) + self._take()
        while True:
            if not self._pending and not self._closed:
                try:
                    async with asyncio.timeout(self._limits.heartbeat_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    yield wire.HEARTBEAT
                    continue
            self._wake.clear()
            chunk = self._take()
            if chunk:
                yield chunk
            if self._closed:
                return

    def _take(self) -> bytes:
        parts = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, bytes):
                parts.append(item)
            elif isinstance(item, _Skipped):
                parts.append(
                    wire.notice(
                        "gap",
                        reason="slow_client",
                        skipped=item.count,
                        message=(
                            f"this client fell {self._limits.max_pending_rows:,} attempts behind "
                            f"the live view: {item.count:,} newer ones were skipped here; they "
                            "are in the log"
                        ),
                    )
                )
            else:
                parts.append(self._batch(item))
        self._pending_rows = 0
        return b"".join(parts)

    def _batch(self, rows: list[Delivery]) -> bytes:
        # Newest first, so rows[0] is the batch's newest (in the table's order, as read).
        before = encode_cursor(self._position)
        self._position = later(self._position, rows[0].position)
        after = encode_cursor(self._position)
        events = [wire.event(row.data, event_id=before) for row in rows[:-1]]
        events.append(wire.event(rows[-1].data, event_id=after))
        return b"".join(events)
