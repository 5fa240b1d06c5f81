"""The clients of the live-stream benchmark, in a process of their own so that the server's
process time is the server's: one stream of GET /api/v1/logs/stream per publisher.

    python -m bench.live_stream_clients URL FIRST_PUBLISHER COUNT SECONDS

Prints `ready` once every stream is open and past its first reads, then, SECONDS later, one
JSON line: the attempts and `gap` events the streams got meanwhile, and the bytes read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import httpx

PATH = "/api/v1/logs/stream"
# After every stream is open, before the measured window: each stream's first read gives it only
# what is newer than its opening, so the first second or two are not the steady state.
WARM_UP_S = 2.0


class Tally:
    def __init__(self) -> None:
        self.events = 0
        self.gaps = 0
        self.bytes = 0

    def reset(self) -> None:
        self.events = self.gaps = self.bytes = 0


async def _follow(
    client: httpx.AsyncClient, publisher: int, tally: Tally, opened: asyncio.Queue[int]
) -> None:
    async with client.stream("GET", PATH, params={"publisher_id": publisher}) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"publisher {publisher}: {response.status_code} {response.text}")
        opened.put_nowait(publisher)
        async for line in response.aiter_lines():
            tally.bytes += len(line) + 1
            if line.startswith("data:"):
                tally.events += 1
            elif line == "event: gap":
                tally.gaps += 1


async def main(url: str, first: int, count: int, seconds: float) -> None:
    tally = Tally()
    opened: asyncio.Queue[int] = asyncio.Queue()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(30, read=None)  # quiet streams are normal
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        follows = [
            asyncio.create_task(_follow(client, p, tally, opened))
            for p in range(first, first + count)
        ]
        for _ in range(count):
            getting = asyncio.ensure_future(opened.get())
            done, _ = await asyncio.wait([getting, *follows], return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                next(t for t in done if t is not getting).result()  # raises why it stopped
        await asyncio.sleep(WARM_UP_S)
        tally.reset()
        print("ready", flush=True)
        await asyncio.sleep(seconds)
        print(json.dumps(vars(tally)), flush=True)
        for follow in follows:
            follow.cancel()
        for follow in follows:
            with contextlib.suppress(asyncio.CancelledError):
                await follow


if __name__ == "__main__":
    url, first, count, seconds = sys.argv[1:]
    asyncio.run(main(url, int(first), int(count), float(seconds)))
