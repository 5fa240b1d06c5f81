"""Scenario `http-clients`: requests/s of candidate HTTP clients against one fast local receiver.

The delivery engine's client is chosen by this measurement (docs/libraries.md). The
receiver is a minimal asyncio HTTP/1.1 responder in a child process of its own on 127.0.0.1
(uvloop, keep-alive, a 2-byte body), so it costs the client's process nothing. Each client
runs in this process on uvloop, `--http-seconds` per concurrency, keep-alive, GET:

- httpx.AsyncClient as usually written (its own engine, httpcore);
- aiohttp.ClientSession;
- httpx's API over pyreqwest's transport (pyreqwest.compatibility.httpx);
- pyreqwest directly (reqwest on its own tokio thread; the dispatcher's client until it moved
  onto the loop);
- PostbackHttpClient: the dispatcher's client, llhttp (httptools) on the loop's own sockets
  (dispatcher/http1.py) with the resolver, guard, checked address, timeouts and the body
  capped at 4 KiB: the figure that matters.

Nothing leaves loopback. Figures go to bench/results/http-clients.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
import httpx
import uvloop
from pyreqwest.client import ClientBuilder
from pyreqwest.compatibility.httpx import HttpxTransport

from bench.report import machine_info, table, write_json
from bench.scenario import Scenario
from dispatcher.guard import LOOPBACK, DestinationGuard, parse_networks
from dispatcher.http_client import PostbackHttpClient
from dispatcher.resolver import StaticResolver

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
Send = Callable[[], Awaitable[None]]


class _Responder(asyncio.Protocol):
    """Answers every request head it sees; bodies are never sent by these GETs."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        requests = self._buffer.count(b"\r\n\r\n")
        if requests:
            self._buffer = self._buffer[self._buffer.rfind(b"\r\n\r\n") + 4 :]
            self._transport.write(ANSWER * requests)


def _serve(sock: socket.socket) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Responder, sock=sock, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


def _receiver() -> tuple[BaseProcess, int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port: int = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    process.start()
    sock.close()
    return process, port


async def _rate(send: Send, concurrency: int, seconds: float) -> tuple[float, float]:
    """Requests per second of `concurrency` loops, each sending one request after another, and
    this process's CPU µs per request (all its threads: a client's own I/O thread counts)."""
    for _ in range(min(concurrency, 32)):  # warm the connection pool
        await send()
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await send()
            done += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    cpu_us = (time.process_time() - cpu) / max(done, 1) * 1e6
    return done / (time.perf_counter() - started), cpu_us


async def _clients(stack: AsyncExitStack, port: int) -> dict[str, Send]:
    url = f"http://127.0.0.1:{port}/pb?tx=1"
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    plain = await stack.enter_async_context(httpx.AsyncClient(limits=limits, trust_env=False))
    session = await stack.enter_async_context(
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
    )
    reqwest = ClientBuilder().max_connections(512).build()
    stack.push_async_callback(reqwest.close)
    over_reqwest = await stack.enter_async_context(
        httpx.AsyncClient(transport=HttpxTransport(ClientBuilder().build()), trust_env=False)
    )
    engine = PostbackHttpClient(
        DestinationGuard(parse_networks(LOOPBACK)), StaticResolver({"pub.test": ["127.0.0.1"]})
    )
    stack.push_async_callback(engine.close)
    named = f"http://pub.test:{port}/pb?tx=1"

    async def httpx_plain() -> None:
        (await plain.get(url)).raise_for_status()

    async def aiohttp_session() -> None:
        async with session.get(url) as answer:
            await answer.read()

    async def httpx_over_pyreqwest() -> None:
        (await over_reqwest.get(url)).raise_for_status()

    async def pyreqwest_direct() -> None:
        async with reqwest.get(url).build_streamed() as answer:
            await answer.bytes()

    async def postbacks_engine() -> None:
        answer = await engine.send(
            "GET", named, [], None, connect_timeout_ms=3000, timeout_ms=10000
        )
        assert answer.status == 200

    return {
        "httpx AsyncClient": httpx_plain,
        "aiohttp ClientSession": aiohttp_session,
        "httpx over pyreqwest transport": httpx_over_pyreqwest,
        "pyreqwest": pyreqwest_direct,
        "PostbackHttpClient (llhttp on the loop + guard)": postbacks_engine,
    }


async def _measure(
    port: int, levels: list[int], seconds: float
) -> dict[str, dict[int, tuple[float, float]]]:
    """Per client and concurrency: (requests/s, CPU µs per request)."""
    figures: dict[str, dict[int, tuple[float, float]]] = {}
    async with AsyncExitStack() as stack:
        for name, send in (await _clients(stack, port)).items():
            figures[name] = {}
            for concurrency in levels:
                rate, cpu_us = figures[name][concurrency] = await _rate(send, concurrency, seconds)
                print(f"  {name:<48} c={concurrency:<4} {rate:>9,.0f} req/s {cpu_us:6.1f} µs CPU")
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("http-clients")
    group.add_argument("--http-seconds", type=float, default=3.0, help="seconds per measurement")
    group.add_argument(
        "--http-concurrency",
        type=int,
        nargs="+",
        default=[1, 64, 256],
        help="requests in flight at once, each level measured in turn",
    )


def run(args: argparse.Namespace) -> None:
    process, port = _receiver()
    try:
        print(f"receiver on 127.0.0.1:{port}; {args.http_seconds:g} s per measurement")
        figures = uvloop.run(_measure(port, args.http_concurrency, args.http_seconds))
    finally:
        process.kill()
        process.join()
    levels = args.http_concurrency
    print()
    top = levels[-1]
    print(
        table(
            ["client", *(f"c={c} req/s" for c in levels), f"c={top} CPU µs/req"],
            [
                [name, *(f"{got[c][0]:,.0f}" for c in levels), f"{got[top][1]:.1f}"]
                for name, got in figures.items()
            ],
        )
    )
    path = write_json(
        "http-clients",
        {
            "machine": machine_info(),
            "seconds_per_measurement": args.http_seconds,
            "requests_per_second": {
                n: {c: r for c, (r, _) in g.items()} for n, g in figures.items()
            },
            "cpu_us_per_request": {
                n: {c: u for c, (_, u) in g.items()} for n, g in figures.items()
            },
        },
        args.results_dir,
    )
    print(f"\nwritten to {path}")


SCENARIO = Scenario(
    name="http-clients",
    summary="requests/s of httpx, aiohttp, pyreqwest and the dispatcher's own client, loopback",
    add_arguments=add_arguments,
    run=run,
)
