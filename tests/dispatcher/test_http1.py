"""The HTTP/1.1 client (http1.py, http_client.py) against real loopback servers: keep-alive and
the pool (sequential, concurrent, TLS), the retry of a reused connection the server closed,
answer framing (until-close bodies, chunked, 100 Continue, Connection: close, the head limit),
cancellation mid-request, and the bytes of the request itself.

The hostile suite covers what each misbehaving server is classified as; this one covers how
connections are used and what goes over them. Timeouts are a few hundred ms.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import struct
from collections.abc import AsyncIterator

import pytest
import trustme

from dispatcher.failures import ConnectionReset, InvalidResponse, Timeout
from dispatcher.guard import LOOPBACK, DestinationGuard, parse_networks
from dispatcher.http1 import HEAD_LIMIT, SWEEP_S
from dispatcher.http_client import USER_AGENT, HttpAnswer, PostbackHttpClient
from dispatcher.resolver import StaticResolver
from tests.dispatcher import hostile
from tests.dispatcher.hostile import Handler, Hostile, answering

CA = trustme.CA()
Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def client() -> AsyncIterator[PostbackHttpClient]:
    guard = DestinationGuard(parse_networks(LOOPBACK))
    resolver = StaticResolver({"pub.test": ["127.0.0.1"]})
    client = PostbackHttpClient(guard, resolver, extra_ca_pem=CA.cert_pem.bytes())
    yield client
    await client.close()


async def get(
    client: PostbackHttpClient, url: str, headers: list[tuple[bytes, bytes]] | None = None
) -> HttpAnswer:
    return await client.send(
        "GET", url, headers or [], None, connect_timeout_ms=300, timeout_ms=500
    )


async def head(reader: Reader, s: Hostile) -> bytes:
    request = await reader.readuntil(b"\r\n\r\n")
    s.requests += 1
    return request


def recording(seen: list[bytes]) -> Handler:
    """Keep-alive; each request's raw bytes (head and Content-Length body) go to `seen`."""

    async def handler(reader: Reader, writer: Writer, s: Hostile) -> None:
        while True:
            request = await head(reader, s)
            length = 0
            for line in request.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            seen.append(request + await reader.readexactly(length))
            writer.write(OK)
            await writer.drain()

    return handler


async def test_sequential_requests_share_one_keep_alive_connection(
    client: PostbackHttpClient,
) -> None:
    async with hostile.serve(hostile.healthy) as server:
        for _ in range(50):
            answer = await get(client, f"http://pub.test:{server.port}/pb")
            assert (answer.status, answer.body) == (200, "ok")
    assert (server.requests, server.connections) == (50, 1)


async def test_concurrent_requests_leave_connections_the_next_round_reuses(
    client: PostbackHttpClient,
) -> None:
    async with hostile.serve(hostile.healthy) as server:
        url = f"http://pub.test:{server.port}/pb"
        first = await asyncio.gather(*(get(client, url) for _ in range(20)))
        assert server.connections == 20  # one request at a time on a connection
        second = await asyncio.gather(*(get(client, url) for _ in range(20)))
    assert {(a.status, a.body) for a in first + second} == {(200, "ok")}
    assert (server.requests, server.connections) == (40, 20)


async def test_a_reused_connection_closed_unanswered_is_retried_on_a_new_one(
    client: PostbackHttpClient,
) -> None:
    seen: list[tuple[int, bytes]] = []  # (connection, request line)

    async def second_request_closes(reader: Reader, writer: Writer, s: Hostile) -> None:
        connection = s.connections
        for _ in range(2):
            request = await head(reader, s)
            seen.append((connection, request.split(b"\r\n")[0]))
            if len(seen) == 2:
                return  # the second request overall: read, then the connection closed
            writer.write(OK)
            await writer.drain()

    async with hostile.serve(second_request_closes) as server:
        first = await get(client, f"http://pub.test:{server.port}/one")
        second = await get(client, f"http://pub.test:{server.port}/two")
    assert (first.status, second.status, second.body) == (200, 200, "ok")
    assert seen == [(1, b"GET /one HTTP/1.1"), (1, b"GET /two HTTP/1.1"), (2, b"GET /two HTTP/1.1")]


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
async def test_a_body_without_length_runs_until_the_server_closes(
    client: PostbackHttpClient, version: bytes
) -> None:
    async def until_close(reader: Reader, writer: Writer, s: Hostile) -> None:
        await head(reader, s)
        writer.write(version + b" 202 Accepted\r\nContent-Type: text/plain\r\n\r\nqueued, ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"thanks")  # returning closes the connection: the end of the body

    async with hostile.serve(until_close) as server:
        answer = await get(client, f"http://pub.test:{server.port}/pb")
        again = await get(client, f"http://pub.test:{server.port}/pb")
    assert (answer.status, answer.reason, answer.body) == (202, "Accepted", "queued, thanks")
    assert again == answer
    assert server.connections == 2  # such a connection ends with its answer


async def test_a_body_without_length_cut_by_a_reset_is_a_reset_not_an_answer(
    client: PostbackHttpClient,
) -> None:
    async def cut(reader: Reader, writer: Writer, s: Hostile) -> None:
        await head(reader, s)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.02)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST: the body was cut, not finished

    async with hostile.serve(cut) as server:
        with pytest.raises(ConnectionReset):
            await get(client, f"http://pub.test:{server.port}/pb")


async def test_a_close_after_100_continue_is_not_resent(client: PostbackHttpClient) -> None:
    async def continue_then_close(reader: Reader, writer: Writer, s: Hostile) -> None:
        while True:
            request = await head(reader, s)
            if b"/second" not in request:
                writer.write(OK)
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            return  # closed after an interim answer: the server had the request

    async with hostile.serve(continue_then_close) as server:
        await get(client, f"http://pub.test:{server.port}/first")
        with pytest.raises(InvalidResponse, match="closed mid-answer"):
            await get(client, f"http://pub.test:{server.port}/second")
    assert server.requests == 2  # not sent again on a new connection


async def test_a_chunked_body_is_reassembled_and_the_connection_kept(
    client: PostbackHttpClient,
) -> None:
    chunked = answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n8\r\n, world!\r\n",
        b"0\r\n\r\n",
    )
    async with hostile.serve(chunked) as server:
        for _ in range(2):
            answer = await get(client, f"http://pub.test:{server.port}/pb")
            assert (answer.status, answer.body) == (200, "hello, world!")
    assert (server.requests, server.connections) == (2, 1)


async def test_an_interim_100_continue_is_skipped_for_the_real_answer(
    client: PostbackHttpClient,
) -> None:
    created = b"HTTP/1.1 201 Created\r\nLocation: /things/1\r\nContent-Length: 7\r\n\r\ncreated"
    async with hostile.serve(answering(b"HTTP/1.1 100 Continue\r\n\r\n", created)) as server:
        for _ in range(2):
            answer = await get(client, f"http://pub.test:{server.port}/pb")
            assert (answer.status, answer.reason, answer.body) == (201, "Created", "created")
            assert answer.location == "/things/1"
    assert server.connections == 1


async def test_connection_close_in_the_answer_means_a_new_connection_next_time(
    client: PostbackHttpClient,
) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with hostile.serve(answering(closing)) as server:  # the server itself never closes
        for _ in range(3):
            assert (await get(client, f"http://pub.test:{server.port}/pb")).status == 200
    assert (server.requests, server.connections) == (3, 3)


def in_writes(whole: bytes, writes: int) -> list[bytes]:
    step = -(-len(whole) // writes)
    return [whole[i : i + step] for i in range(0, len(whole), step)]


def head_of(size: int) -> bytes:
    """An answer whose header lines (57 bytes each) come to about `size` bytes."""
    fillers = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"f" * 40) for i in range(size // 57))
    return b"HTTP/1.1 200 OK\r\n" + fillers + b"Content-Length: 2\r\n\r\nok"


# One write: the head and body most likely in one read, where only parsed headers are counted;
# eight: the head over several reads.
@pytest.mark.parametrize("writes", [1, 8], ids=["one-write", "eight-writes"])
async def test_a_head_over_the_limit_is_an_invalid_response(
    client: PostbackHttpClient, writes: int
) -> None:
    async with hostile.serve(answering(*in_writes(head_of(HEAD_LIMIT + 40_000), writes))) as server:
        with pytest.raises(InvalidResponse) as failed:
            await get(client, f"http://pub.test:{server.port}/pb")
    assert str(failed.value) == (
        f"invalid HTTP response from pub.test:{server.port}: "
        f"the status line and headers exceed {HEAD_LIMIT} bytes"
    )


@pytest.mark.parametrize("writes", [1, 8], ids=["one-write", "eight-writes"])
async def test_a_head_just_under_the_limit_is_an_answer(
    client: PostbackHttpClient, writes: int
) -> None:
    whole = head_of(HEAD_LIMIT - 2_000)
    assert HEAD_LIMIT - 4_000 < whole.index(b"\r\n\r\n") < HEAD_LIMIT
    async with hostile.serve(answering(*in_writes(whole, writes))) as server:
        answer = await get(client, f"http://pub.test:{server.port}/pb")
    assert (answer.status, answer.body) == (200, "ok")


async def test_a_cancelled_request_leaves_a_connection_never_reused(
    client: PostbackHttpClient,
) -> None:
    asked, hung_up = asyncio.Event(), asyncio.Event()

    async def first_request_hangs(reader: Reader, writer: Writer, s: Hostile) -> None:
        if s.connections == 1:
            await head(reader, s)
            asked.set()
            try:
                more = await reader.read(1)  # anything but EOF or a reset: it was reused
            except ConnectionResetError:
                more = b""
            if not more:
                hung_up.set()
            return
        await hostile.healthy(reader, writer, s)

    async with hostile.serve(first_request_hangs) as server:
        url = f"http://pub.test:{server.port}/pb"
        pending = asyncio.create_task(
            client.send("GET", url, [], None, connect_timeout_ms=300, timeout_ms=5000)
        )
        await asyncio.wait_for(asked.wait(), 1)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await asyncio.wait_for(hung_up.wait(), 1)  # the client closed it
        answer = await get(client, url)
    assert (answer.status, answer.body) == (200, "ok")
    assert (server.requests, server.connections) == (2, 2)


async def test_each_request_times_out_at_its_own_deadline_and_answers_are_untouched(
    client: PostbackHttpClient,
) -> None:
    """Deadlines are swept, not timed one by one: each still fails near its own deadline (at
    most a sweep late), while a request answered in time on the same pool is not failed."""
    loop = asyncio.get_running_loop()

    async def timed(url: str, timeout_ms: int) -> tuple[float, BaseException | HttpAnswer]:
        started = loop.time()
        try:
            outcome: BaseException | HttpAnswer = await client.send(
                "GET", url, [], None, connect_timeout_ms=300, timeout_ms=timeout_ms
            )
        except Timeout as exc:
            outcome = exc
        return loop.time() - started, outcome

    async with (
        hostile.serve(hostile.hangs) as hanging,
        hostile.serve(hostile.answers_after(0.15)) as slow,
    ):
        gathered = asyncio.gather(
            timed(f"http://pub.test:{hanging.port}/pb", 100),
            timed(f"http://pub.test:{hanging.port}/pb", 300),
            timed(f"http://pub.test:{slow.port}/pb", 400),
        )
        results = await asyncio.wait_for(gathered, 5)  # a sweep that stopped: fail, not hang
    (short_s, short), (long_s, long), (_, answered) = results
    assert isinstance(short, Timeout)
    assert isinstance(long, Timeout)
    assert "100 ms" in str(short)
    assert "300 ms" in str(long)
    slack = SWEEP_S + 0.1  # a sweep late, and a busy CI machine
    assert 0.1 <= short_s < 0.1 + slack
    assert 0.3 <= long_s < 0.3 + slack
    assert isinstance(answered, HttpAnswer)
    assert answered.status == 200


async def test_an_unasked_answer_after_the_real_one_is_never_given_to_the_next_request(
    client: PostbackHttpClient,
) -> None:
    """A server that sends the start of a second, unasked answer in the same write as the
    first: kept, that connection would hand the next request a 500 whose body is the start of
    its real answer. It is dropped, so the next request gets its own answer on a new one."""

    async def answers_twice_once(reader: Reader, writer: Writer, s: Hostile) -> None:
        first = s.connections == 1
        while True:
            await head(reader, s)
            extra = b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\n" if first else b""
            writer.write(OK + extra)  # one write: the client reads both together
            await writer.drain()

    async with hostile.serve(answers_twice_once) as server:
        url = f"http://pub.test:{server.port}/pb"
        first = await get(client, url)
        second = await get(client, url)
    assert (first.status, first.body) == (200, "ok")
    assert (second.status, second.body) == (200, "ok")
    assert (server.requests, server.connections) == (2, 2)


async def test_the_request_bytes(client: PostbackHttpClient) -> None:
    seen: list[bytes] = []
    async with hostile.serve(recording(seen)) as server:
        origin = f"pub.test:{server.port}"
        headers = [(b"X-Postback-Attempt", b"a-1"), (b"Accept-Language", b"fr"), (b"X-Z", b"z")]
        await get(client, f"http://{origin}/p?x=1", headers)
        for body in (b'{"a":1}', None):
            await client.send(
                "POST", f"http://{origin}/in", [], body, connect_timeout_ms=300, timeout_ms=500
            )
        await get(client, f"http://{origin}/frag?y=2#section")
        await get(client, f"http://{origin}/ö?q=é")
        await get(client, f"http://user:p%40ss@{origin}/")
    lines = [request.split(b"\r\n") for request in seen]
    assert lines[0][0] == b"GET /p?x=1 HTTP/1.1"
    assert lines[0][1:] == [
        f"Host: {origin}".encode(),
        f"User-Agent: {USER_AGENT}".encode(),
        b"Accept: */*",
        b"X-Postback-Attempt: a-1",
        b"Accept-Language: fr",
        b"X-Z: z",
        b"",
        b"",
    ]  # a GET without a body has no Content-Length
    assert lines[1][0] == b"POST /in HTTP/1.1"
    assert lines[1][-3:] == [b"Content-Length: 7", b"", b'{"a":1}']
    assert lines[2][-3:] == [b"Content-Length: 0", b"", b""]
    assert lines[3][0] == b"GET /frag?y=2 HTTP/1.1"
    assert lines[4][0] == b"GET /%C3%B6?q=%C3%A9 HTTP/1.1"
    assert f"Authorization: Basic {base64.b64encode(b'user:p@ss').decode()}".encode() in lines[5]
    assert f"Host: {origin}".encode() in lines[5]  # the credentials are not in the Host
    assert all(b"Authorization" not in line for request in lines[:5] for line in request)


async def test_https_keeps_one_tls_connection_alive(client: PostbackHttpClient) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("pub.test").configure_cert(context)
    async with hostile.serve(hostile.healthy, tls=context) as server:
        for _ in range(5):
            answer = await get(client, f"https://pub.test:{server.port}/pb")
            assert (answer.status, answer.body) == (200, "ok")
    assert (server.requests, server.connections) == (5, 1)
