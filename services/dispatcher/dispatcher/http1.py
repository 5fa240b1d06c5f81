"""HTTP/1.1 exchanges on the event loop's own sockets: llhttp parses, this module connects.

Why not a client library: every one measured here either runs its I/O on a thread of its own
(pyreqwest: 32 µs of CPU per request, and each answer is handed back across the GIL), frames
in pure Python (h11 on a raw protocol: 60 µs), or wraps each request in much more machinery
(aiohttp parses with llhttp too, at 72 µs). This path costs about 16.5 µs with the guard and
the checks of http_client.py (bench `http-clients`, c=256).

The protocol itself is not written here: responses are parsed by llhttp, Node.js's parser,
through httptools (MagicStack, the parser under uvicorn): status line, headers,
Content-Length and chunked framing, keep-alive rules, malformed input. What is written here
is the asyncio glue: a request head from already-validated parts, one request at a time per
connection, a pool of idle keep-alive connections, the deadlines, the bounds on an answer
(head, body, every byte of it, interim answers).

A connection is a Protocol; its answer resolves a future. No task, no stream, no thread.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import NamedTuple, cast

import httptools

from postbacks.attempts import SERVER_RESPONSE_LIMIT, TRUNCATION_MARK

HEAD_LIMIT = 64 * 1024  # a status line and headers longer than this are not a publisher's answer
# Every byte of one answer: a head at its limit, as much again for interim (1xx) answers and
# trailers, and the body cap sent in 1-byte chunks (6 bytes on the wire each: "1\r\nx\r\n")
# with room to spare. Real answers are a few hundred bytes; one that reaches this without
# ending (endless trailers or chunk extensions, framing far larger than its data) is not read
# further: httptools holds a header or trailer being received in memory, the whole of it.
ANSWER_LIMIT = 2 * HEAD_LIMIT + 8 * SERVER_RESPONSE_LIMIT
# A real server sends one 100 Continue, or a 103 Early Hints or two, before its answer.
INTERIM_LIMIT = 10
# A Location is only shown, in the error of a redirect: a longer one is cut, and marked so.
LOCATION_LIMIT = 1024
IDLE_LIMIT_S = 50.0  # below the usual 60 s keep-alive of servers: reuse, never race their close
# How often the pool looks for requests past their deadline: a timeout is reported up to this
# late. A loop timer per request (call_at, then cancel) cost 4 % of the loop's time under load.
SWEEP_S = 0.02
_REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    reason: str
    location: str | None
    body: str  # at most SERVER_RESPONSE_LIMIT bytes of it, marked when cut
    retry_after: str | None = None  # the Retry-After header of a failed answer (retry_policy.py)


class AnswerTimedOut(Exception):
    """No complete answer before the deadline."""


class ParseFailed(Exception):
    """The bytes that came back are not an HTTP/1.1 answer; str() says why."""


class ConnectionLost(Exception):
    """The connection ended before the answer did. `reset` when the peer reset it,
    `answered` when some of the answer had arrived."""

    def __init__(self, cause: BaseException | None, *, answered: bool) -> None:
        super().__init__(str(cause) if cause else "the connection closed")
        self.reset = isinstance(cause, ConnectionResetError | BrokenPipeError)
        self.answered = answered


class Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and resolves with its answer."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[Connection], None]
    ) -> None:
        self._loop = loop  # held: asyncio.get_running_loop() makes a getpid() syscall in 3.11
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpAnswer] | None = None
        self._deadline = 0.0  # of the request out, on the loop's clock (the pool's sweep)
        self._answer_bytes = 0  # all received for the request out, interim answers included
        self._interim_answers = 0  # of the request out
        self.closed = False
        self.idle_since = 0.0
        self._reset_answer()

    def _reset_answer(self) -> None:
        self._got_bytes = False
        self._status = 0
        self._head_bytes = 0  # of reads that ended before the head did
        self._header_bytes = 0  # of the header lines parsed: a head that ends within a read
        self._headers_done = False
        self._location: str | None = None
        self._retry_after: str | None = None
        self._framed = False  # Content-Length or Transfer-Encoding: the parser finds the end
        self._body = bytearray()

    # --- requests --------------------------------------------------------------------------

    def exchange(self, request: bytes, deadline: float) -> asyncio.Future[HttpAnswer]:
        assert self._transport is not None, "exchange before connection_made"
        assert self._waiter is None, "one request at a time on a connection"
        self._waiter = waiter = self._loop.create_future()
        self._deadline = deadline
        self._answer_bytes = self._interim_answers = 0
        self._transport.write(request)
        return waiter

    @property
    def waiting(self) -> bool:
        """A request is out and its answer has not come (or its caller gave up on it)."""
        return self._waiter is not None

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def expire_if_due(self, now: float) -> None:
        if self._waiter is not None and now >= self._deadline:
            self._fail(AnswerTimedOut())

    def _finish(self, answer: HttpAnswer, *, keep: bool) -> None:
        waiter = self._settle()
        self._reset_answer()
        if not keep:
            self.close()
        if waiter is not None:
            waiter.set_result(answer)

    def _fail(self, error: Exception) -> None:
        waiter = self._settle()
        self.close()  # never reused: the rest of that answer could still arrive
        if waiter is not None:
            waiter.set_exception(error)

    def _settle(self) -> asyncio.Future[HttpAnswer] | None:
        """The request is over: its waiter is returned for the outcome if its caller still
        waits for it (not cancelled)."""
        waiter, self._waiter = self._waiter, None
        return waiter if waiter is not None and not waiter.done() else None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self._got_bytes = True
        self._answer_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(_switched_protocols())
            return
        except httptools.HttpParserError as exc:
            self._fail(ParseFailed(str(exc) or type(exc).__name__))
            return
        # The limits are checked after the parse: one read (up to 256 KiB) may hold a whole
        # answer, or a head and more body than the cap, and those end in the parse.
        if self._waiter is None:
            return  # answered, cut at the body cap, or failed
        if not self._headers_done:  # first: a head that never ends is named as such
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:
                self._fail(_head_too_long())
                return
        if self._answer_bytes > ANSWER_LIMIT:
            self._fail(ParseFailed(f"the answer exceeds {ANSWER_LIMIT} bytes and has not ended"))

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed HTTP/1.1 connection is finished

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            self._on_lost(self)  # an idle connection the server closed: out of the pool
            return
        if (
            exc is None
            and self._headers_done
            and not self._framed
            and not self._parser.should_keep_alive()
        ):
            # No Content-Length, not chunked: the body runs until the server closes (cleanly;
            # a reset means the body was cut, and is reported so).
            self._finish(self._answer(), keep=False)
            return
        self._fail(ConnectionLost(exc, answered=self._got_bytes))

    # --- llhttp callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:
            # Another answer began in the same read as the one just finished, unasked: kept,
            # the parser would be mid-message and hand it to the next request as its answer.
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4  # name: value CRLF
        lowered = name.lower()
        # A trailer (a field after a chunked body: llhttp hands it here too) is not merged into
        # the head (RFC 9110 §6.5.1): it could otherwise name the redirect or the retry delay.
        if lowered == b"location":
            if not self._headers_done:
                self._location = _shown_location(value)
        elif lowered == b"retry-after":
            if not self._headers_done:
                self._retry_after = value.decode("latin-1")
        elif lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = status = self._parser.get_status_code()
        if max(self._head_bytes, self._header_bytes) > HEAD_LIMIT:
            # A head that ended within a read (up to 256 KiB) is only counted here. Each count
            # is a part of the head, never more. What follows in this read finds no waiter.
            self._fail(_head_too_long())
        elif not 200 <= status <= 599:  # llhttp takes any three digits: 000 to 999
            self._check_rare_status(status)

    def _check_rare_status(self, status: int) -> None:
        """Interim answers (1xx) are skipped (on_message_complete); 101 switches to a protocol
        never asked for; codes outside 100-599 are not HTTP's (RFC 9110 §15), and 0 would
        read as "no answer" in the attempt record."""
        if status == 101:
            self._fail(_switched_protocols())
        elif not 100 <= status <= 199:
            self._fail(ParseFailed(f"the status code {status:03d} is not from 100 to 599"))

    def on_body(self, body: bytes) -> None:
        if self._waiter is None:
            return  # already answered (cut at the cap): the rest is not read
        self._body += body
        if len(self._body) > SERVER_RESPONSE_LIMIT:
            # The cap: stop here and drop the connection rather than drain the rest.
            self._finish(self._answer(), keep=False)

    def on_message_complete(self) -> None:
        if self._waiter is None:
            return
        if self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._interim_answers += 1
            if self._interim_answers > INTERIM_LIMIT:
                self._fail(ParseFailed(f"more than {INTERIM_LIMIT} interim (1xx) answers"))
                return
            self._reset_answer()
            self._got_bytes = True  # answered in part: a close now must not resend the request
            return
        # An answer before the whole request was written (a 401 or 413 sent without reading
        # the body) ends the connection: the server would read the rest of this body next.
        keep = self._parser.should_keep_alive() and not self._request_unsent()
        self._finish(self._answer(), keep=keep)

    def _request_unsent(self) -> bool:
        return self._transport is not None and self._transport.get_write_buffer_size() > 0

    def _answer(self) -> HttpAnswer:
        status = self._status
        body = self._body
        if len(body) > SERVER_RESPONSE_LIMIT:
            text = bytes(body[:SERVER_RESPONSE_LIMIT]).decode("utf-8", errors="replace")
            text += TRUNCATION_MARK
        else:
            text = body.decode("utf-8", errors="replace")
        retry_after = self._retry_after if status >= 400 else None
        return HttpAnswer(status, _REASONS.get(status, ""), self._location, text, retry_after)


def _head_too_long() -> ParseFailed:
    return ParseFailed(f"the status line and headers exceed {HEAD_LIMIT} bytes")


def _switched_protocols() -> ParseFailed:
    return ParseFailed("the server switched protocols (101), which was never asked for")


def _shown_location(value: bytes) -> str:
    if len(value) <= LOCATION_LIMIT:
        return value.decode("latin-1")  # any bytes decode: no error can come of it
    return value[:LOCATION_LIMIT].decode("latin-1") + TRUNCATION_MARK


class Origin(NamedTuple):
    """Where connections go: the checked address, with the name TLS verifies. A NamedTuple:
    a dict key on every request (the pool), hashed in C."""

    address: str
    port: int
    tls_name: str | None  # the host name for TLS (SNI and certificate), None for http://


class ConnectionPool:
    """Idle keep-alive connections by origin, most recently used first out; and the deadlines
    of the busy ones, swept every SWEEP_S while any is busy."""

    def __init__(
        self,
        tls: ssl.SSLContext,
        *,
        max_idle_per_origin: int = 256,
        max_origins: int = 2048,
    ) -> None:
        self._tls = tls
        self._idle: dict[Origin, list[Connection]] = {}
        self._busy: set[Connection] = set()
        self._max_idle = max_idle_per_origin
        self._max_origins = max_origins
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: asyncio.TimerHandle | None = None

    def idle(self, origin: Origin) -> Connection | None:
        """A live idle connection to `origin`, taken out of the pool, if there is one."""
        connections = self._idle.get(origin)
        now = time.monotonic()
        while connections:
            connection = connections.pop()
            if connection.closed:
                continue
            if now - connection.idle_since > IDLE_LIMIT_S:
                connection.close()
                continue
            self._busy_now(connection)
            return connection
        return None

    async def connect(self, origin: Origin) -> Connection:
        """A new connection (and TLS handshake); the caller bounds it with a timeout."""
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: Connection(loop, self._forget),
            origin.address,
            origin.port,
            ssl=self._tls if origin.tls_name is not None else None,
            server_hostname=origin.tls_name,
        )
        self._busy_now(connection)
        return connection

    def _busy_now(self, connection: Connection) -> None:
        self._busy.add(connection)
        if self._sweep is None:
            if self._loop is None:  # held: get_running_loop() makes a getpid() syscall in 3.11
                self._loop = asyncio.get_running_loop()
            self._sweep = self._loop.call_later(SWEEP_S, self._expire_due)

    def _expire_due(self) -> None:
        """Fails the requests past their deadline; again in SWEEP_S while any connection is
        busy."""
        assert self._loop is not None
        now = self._loop.time()
        for connection in list(self._busy):  # a failure may end in release(): a copy
            connection.expire_if_due(now)
        self._sweep = self._loop.call_later(SWEEP_S, self._expire_due) if self._busy else None

    def release(self, origin: Origin, connection: Connection) -> None:
        """Back to the pool after an answer (a closed connection is only forgotten)."""
        self._busy.discard(connection)
        if connection.waiting:  # its caller was cancelled mid-request: never reused
            connection.close()
        if connection.closed:
            return
        connections = self._idle.get(origin)
        if connections is None:
            if len(self._idle) >= self._max_origins:
                self._drop(next(iter(self._idle)))
            connections = self._idle[origin] = []
        if len(connections) >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        connections.append(connection)

    def _forget(self, connection: Connection) -> None:
        self._busy.discard(connection)  # idle ones are skipped when next met (closed)

    def _drop(self, origin: Origin) -> None:
        for connection in self._idle.pop(origin, []):
            connection.close()

    def close(self) -> None:
        for origin in list(self._idle):
            self._drop(origin)
        for connection in list(self._busy):
            connection.close()
        self._busy.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
