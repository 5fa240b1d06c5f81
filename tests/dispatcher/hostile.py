"""Real local servers that misbehave the ways publishers' servers do. Loopback only.

Each is an asyncio server on 127.0.0.1 with a port of its own; `bytes_sent` lets a test see
how much a server managed to push before the client hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Hostile"], Awaitable[None]]


@dataclass
class Hostile:
    port: int = 0
    requests: int = 0
    bytes_sent: int = 0
    connections: int = 0  # accepted so far; a handler reads it first thing to know its own


async def _request_head(reader: asyncio.StreamReader, state: Hostile) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    state.requests += 1
    return head


async def healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    while True:  # keep-alive: many requests per connection
        await _request_head(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()


def answers_after(seconds: float) -> Handler:
    """A healthy server that takes `seconds` over each answer (keep-alive, one at a time)."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
        while True:
            await _request_head(reader, s)
            await asyncio.sleep(seconds)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    return slow


async def hangs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    await _request_head(reader, s)
    await asyncio.sleep(3600)


async def drips(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    await _request_head(reader, s)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b"x")
        await writer.drain()
        s.bytes_sent += 1
        await asyncio.sleep(1)


async def drips_trailers(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile
) -> None:
    """A chunked body that ends at once, then a trailer field one byte every 100 ms."""
    await _request_head(reader, s)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Tr: ")
    for _ in range(1000):
        writer.write(b"t")
        await writer.drain()
        s.bytes_sent += 1
        await asyncio.sleep(0.1)


def answering(*parts: bytes) -> Handler:
    """Keep-alive: each request answered with `parts`, written (and flushed) one by one."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile
    ) -> None:
        while True:
            await _request_head(reader, s)
            for part in parts:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)  # separate reads on the client's side

    return handler


def endless(start: bytes, repeated: bytes) -> Handler:
    """Answers with `start`, then `repeated` again and again until the client hangs up (or
    1 GiB, so that a client that never does still ends the test)."""
    batch = repeated * max(1, 16384 // len(repeated))

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile
    ) -> None:
        await _request_head(reader, s)
        writer.write(start)
        s.bytes_sent += len(start)
        while s.bytes_sent < 1 << 30:
            writer.write(batch)
            await writer.drain()  # raises once the client has dropped the connection
            s.bytes_sent += len(batch)

    return handler


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
# Header lines of 57 bytes each, about 60 KiB of them: a head just under the client's limit.
BIG_HEADERS = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"f" * 40) for i in range(60 * 1024 // 57))
endless_trailer = endless(CHUNKED + b"2\r\nok\r\n0\r\nX-Trailer: ", b"a")
endless_chunk_extension = endless(CHUNKED + b"1;ext=", b"a")
endless_reason_phrase = endless(b"HTTP/1.1 200 ", b"O")
big_head_then_endless_trailers = endless(
    b"HTTP/1.1 200 OK\r\n" + BIG_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n0\r\n",
    b"X-Trailer: " + b"t" * 40 + b"\r\n",
)
# 1-byte chunks whose size is padded with zeros (legal): 256 bytes of framing per body byte, so
# the body cap would take 1 MiB of them.
endless_padded_tiny_chunks = endless(CHUNKED, b"0" * 250 + b"1\r\nx\r\n")
endless_tiny_chunks = endless(CHUNKED, b"1\r\nx\r\n")
endless_interim_answers = endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n")


async def huge_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    await _request_head(reader, s)
    size = 100 * 1024 * 1024
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    chunk = b"y" * 65536
    while s.bytes_sent < size:
        writer.write(chunk)
        await writer.drain()  # raises once the client has dropped the connection
        s.bytes_sent += len(chunk)


async def redirect_loop(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile
) -> None:
    while True:
        await _request_head(reader, s)
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: /loop?again=1\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    await _request_head(reader, s)
    writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n\x00\xff\xfe garbage\r\n\r\n")
    await writer.drain()
    writer.close()


async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile) -> None:
    await _request_head(reader, s)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\npartial answer")
    await writer.drain()
    sock = writer.get_extra_info("socket")
    # SO_LINGER 0: close() sends RST instead of FIN, as a crashing server or a middlebox does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Hostile]:
    state = Hostile()
    handlers: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        state.connections += 1
        # A client that hangs up is the expected end of most of these conversations.
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await handler(reader, writer, state)
        handlers.discard(task)
        writer.close()

    server = await asyncio.start_server(connected, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(handlers):  # those that would sleep forever
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


@contextlib.contextmanager
def unaccepted_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connection attempt hangs in SYN:
    a connect timeout without leaving the machine."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)  # let the fillers' handshakes complete and fill the queue
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
