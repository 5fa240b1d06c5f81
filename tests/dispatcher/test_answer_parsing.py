"""The parts of a publisher's answer that are read with care (issue 18): framing at its legal
extremes, trailers, status codes llhttp takes but HTTP does not have, interim answers, and an
answer that comes before the request was fully sent. Real loopback servers, as in
test_http1.py; the answers that never end are in test_hostile_publishers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dispatcher.failures import InvalidResponse
from dispatcher.guard import LOOPBACK, DestinationGuard, parse_networks
from dispatcher.http1 import INTERIM_LIMIT
from dispatcher.http_client import HttpAnswer, PostbackHttpClient
from dispatcher.resolver import StaticResolver
from postbacks.attempts import SERVER_RESPONSE_LIMIT
from tests.dispatcher import hostile
from tests.dispatcher.hostile import BIG_HEADERS, CHUNKED, Hostile, answering

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def client() -> AsyncIterator[PostbackHttpClient]:
    guard = DestinationGuard(parse_networks(LOOPBACK))
    client = PostbackHttpClient(guard, StaticResolver({"pub.test": ["127.0.0.1"]}))
    yield client
    await client.close()


async def get(client: PostbackHttpClient, port: int, body: bytes | None = None) -> HttpAnswer:
    method = "GET" if body is None else "POST"
    url = f"http://pub.test:{port}/pb"
    return await client.send(method, url, [], body, connect_timeout_ms=1000, timeout_ms=3000)


async def answer_to(client: PostbackHttpClient, *parts: bytes) -> HttpAnswer:
    async with hostile.serve(answering(*parts)) as server:
        return await get(client, server.port)


async def failure_of(client: PostbackHttpClient, *parts: bytes) -> str:
    async with hostile.serve(answering(*parts)) as server:
        with pytest.raises(InvalidResponse) as failed:
            await get(client, server.port)
    prefix = f"invalid HTTP response from pub.test:{server.port}: "
    assert str(failed.value).startswith(prefix)
    return str(failed.value).removeprefix(prefix)


def one_byte_chunks(body: bytes) -> bytes:
    return b"".join(b"1\r\n%c\r\n" % byte for byte in body) + b"0\r\n"


def in_writes(whole: bytes, writes: int) -> list[bytes]:
    """`whole` in `writes` parts, so the client reads it in pieces and checks its limits
    between them (an answer that ends within a read is complete, whatever its size)."""
    step = -(-len(whole) // writes)
    return [whole[i : i + step] for i in range(0, len(whole), step)]


@pytest.mark.parametrize(
    ("head", "trailers"),
    [
        (CHUNKED, b"\r\n"),
        # The largest legal answer the limits allow for: a 60 KiB head, the whole 4 KiB body in
        # 1-byte chunks (24 KiB of framing), and trailers as large as the head.
        (
            b"HTTP/1.1 200 OK\r\n" + BIG_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n",
            BIG_HEADERS + b"\r\n",
        ),
    ],
    ids=["small-head", "60-kib-head-and-trailers"],
)
async def test_a_4_kib_body_in_1_byte_chunks_is_read_whole(
    client: PostbackHttpClient, head: bytes, trailers: bytes
) -> None:
    body = bytes(b"abcdefgh"[i % 8] for i in range(SERVER_RESPONSE_LIMIT))
    answer = await answer_to(client, *in_writes(head + one_byte_chunks(body) + trailers, 16))
    assert (answer.status, answer.body) == (200, body.decode())


async def test_trailers_do_not_replace_the_heads_location_or_retry_after(
    client: PostbackHttpClient,
) -> None:
    # RFC 9110 §6.5.1: trailer fields are not merged into the header section.
    unavailable = (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nbusy\r\n0\r\nRetry-After: 0\r\nLocation: /elsewhere\r\n\r\n"
    )
    answer = await answer_to(client, unavailable)
    assert (answer.status, answer.body) == (503, "busy")
    assert (answer.retry_after, answer.location) == ("7", None)


@pytest.mark.parametrize("code", [b"000", b"099", b"600", b"999"])
async def test_a_status_code_outside_100_to_599_is_an_invalid_response(
    client: PostbackHttpClient, code: bytes
) -> None:
    # llhttp takes any three digits; 000 would otherwise be recorded as "no answer".
    answer = b"HTTP/1.1 " + code + b" Odd\r\nContent-Length: 2\r\n\r\nok"
    reason = await failure_of(client, answer)
    assert reason == f"the status code {code.decode()} is not from 100 to 599"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    ],
    ids=["bare", "websocket"],
)
async def test_a_switch_of_protocols_never_asked_for_is_an_invalid_response(
    client: PostbackHttpClient, answer: bytes
) -> None:
    reason = await failure_of(client, answer)
    assert reason == "the server switched protocols (101), which was never asked for"


@pytest.mark.parametrize(
    ("status_line", "status", "reason"),
    [
        (b"HTTP/1.1 200", 200, "OK"),
        (b"HTTP/1.1 204 ", 204, "No Content"),
        (b"HTTP/1.1 499 \xff\x80 odd words", 499, ""),  # a code with no standard reason
    ],
)
async def test_the_reason_phrase_sent_is_never_read(
    client: PostbackHttpClient, status_line: bytes, status: int, reason: str
) -> None:
    answer = await answer_to(client, status_line + b"\r\nContent-Length: 0\r\n\r\n")
    assert (answer.status, answer.reason, answer.body) == (status, reason, "")


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def test_interim_answers_up_to_the_limit_are_skipped(client: PostbackHttpClient) -> None:
    interim = (CONTINUE + EARLY_HINTS) * (INTERIM_LIMIT // 2)
    answer = await answer_to(client, interim + OK)
    assert (answer.status, answer.body) == (200, "ok")


async def test_one_interim_answer_past_the_limit_is_an_invalid_response(
    client: PostbackHttpClient,
) -> None:
    reason = await failure_of(client, CONTINUE * (INTERIM_LIMIT + 1) + OK)
    assert reason == f"more than {INTERIM_LIMIT} interim (1xx) answers"


async def test_an_answer_before_the_whole_request_was_sent_ends_its_connection(
    client: PostbackHttpClient,
) -> None:
    """A server that refuses a large body as soon as it has read the head, and keeps the
    connection open without reading the rest: the rest of the body is still waiting to be
    sent. Reused, the connection would carry the next request behind it, to a server that
    reads that body as its next request (here, never reads at all)."""

    async def refuses_early(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Hostile
    ) -> None:
        if s.connections > 1:
            await hostile.healthy(reader, writer, s)
            return
        await reader.readuntil(b"\r\n\r\n")
        s.requests += 1
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(3600)  # keep-alive, body unread

    async with hostile.serve(refuses_early) as server:
        # More than the loopback socket buffers take: some of it is still unsent.
        refused = await get(client, server.port, b"x" * (32 * 1024 * 1024))
        again = await get(client, server.port)
    assert (refused.status, again.status) == (413, 200)
    assert (server.requests, server.connections) == (2, 2)
