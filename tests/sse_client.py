"""Reading a text/event-stream answer in a test: its events as a client sees them, and its
comments (heartbeats), parsed in a task of its own so that waiting for one with a timeout never
cuts the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.waiting import ceiling


@dataclass(frozen=True)
class Event:
    name: str  # "message" when the event names none: an attempt
    data: str
    last_event_id: str  # the id a reconnect would send after this event

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class EventStream:
    response: httpx.Response
    comments: list[str] = field(default_factory=list)
    last_event_id: str = ""
    retry_ms: int | None = None
    _events: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    _ended: bool = False
    _why_ended: str = "the server ended it"

    async def read(self) -> None:
        """Parse the body until it ends (the HTML standard's rules, for what the API sends)."""
        data: list[str] = []
        name = ""
        try:
            async for line in self.response.aiter_lines():
                if not line:
                    if data:
                        self._events.put_nowait(
                            Event(name or "message", "\n".join(data), self.last_event_id)
                        )
                    data, name = [], ""
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    key, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if key == "data":
                        data.append(value)
                    elif key == "event":
                        name = value
                    elif key == "id":
                        self.last_event_id = value
                    elif key == "retry":
                        self.retry_ms = int(value)
        except httpx.HTTPError as exc:
            self._why_ended = f"{type(exc).__name__}: {exc}"
        finally:
            self._events.put_nowait(None)

    async def next(self, timeout_s: float = 10) -> Event:
        """The next event; AssertionError when none comes in time or the stream ended."""
        if self._ended:
            raise AssertionError(f"the stream has ended ({self._why_ended})")
        try:
            async with asyncio.timeout(ceiling(timeout_s)):
                event = await self._events.get()
        except TimeoutError:
            raise AssertionError(f"no event within {timeout_s} s") from None
        if event is None:
            self._ended = True
            raise AssertionError(f"the stream has ended ({self._why_ended})")
        return event

    async def take(self, count: int, timeout_s: float = 10) -> list[Event]:
        """The next `count` events."""
        return [await self.next(timeout_s) for _ in range(count)]

    async def quiet(self, seconds: float) -> list[Event]:
        """Every event that comes within `seconds` (none, when nothing more is due)."""
        events: list[Event] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                events.append(await self.next(left))
            except AssertionError:
                break
        return events


@contextlib.asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient,
    path: str,
    params: Any = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    """GET `path` as a stream, asserting a 200 text/event-stream answer; closed after."""
    async with client.stream("GET", path, params=params, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"{response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        reading = asyncio.create_task(stream.read())
        try:
            yield stream
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reading
