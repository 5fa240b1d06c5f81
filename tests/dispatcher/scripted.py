"""A publisher that answers from a script, per transaction: the retry tests' counterpart."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tests.dispatcher import hostile


@dataclass
class Scripted:
    """Answers per transaction, in order (the last answer repeats); 200 when unscripted."""

    answers: dict[str, list[bytes]]
    seen: list[tuple[float, str]] = field(default_factory=list)  # (when, transaction)

    async def __call__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: hostile.Hostile
    ) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            s.requests += 1
            tx = head.split(b" ", 2)[1].decode().rsplit("tx=", 1)[-1]
            self.seen.append((time.time(), tx))
            script = self.answers.get(tx, [b"200 OK"])
            answer = script[min(sum(t == tx for _, t in self.seen), len(script)) - 1]
            status, _, extra = answer.partition(b"\r\n")
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n")
            writer.write((extra + b"\r\n" if extra else b"") + b"\r\n")
            await writer.drain()
