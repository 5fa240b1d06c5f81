"""Host names to addresses, behind a seam: the system resolver in service, a map in tests.

The HTTP client asks the resolver, lets the guard judge the answer, then pins the connection to
that very address, so tests that inject a resolver never send a lookup off the machine and the
guard always sees the address connected to.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Protocol


class Resolver(Protocol):
    async def resolve(self, host: str) -> list[str]:
        """Addresses of `host`, best first; raises socket.gaierror when it has none."""
        ...


class SystemResolver:
    """getaddrinfo through the event loop, answers kept for `ttl_s` (postbacks go to the same
    few hosts thousands of times a second; a lookup per request would dominate)."""

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, list[str]]] = {}

    async def resolve(self, host: str) -> list[str]:
        now = time.monotonic()
        cached = self._cache.get(host)
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if len(self._cache) >= self._max_entries:
            self._cache.clear()  # crude but bounded; entries are cheap to refill
        self._cache[host] = (now + self._ttl_s, addresses)
        return addresses


class StaticResolver:
    """A fixed map of names to addresses; any other name fails like an unknown host."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self._answers = answers

    async def resolve(self, host: str) -> list[str]:
        if host not in self._answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._answers[host]
