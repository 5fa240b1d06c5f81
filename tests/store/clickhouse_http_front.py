"""Enough of ClickHouse's HTTP interface, over this process's chDB session, for tests only.

No ClickHouse server can be installed where CI runs, yet the clickhouse-connect backend must run
there (design §2). This stands in for the server and nothing else: the client library under
test talks real HTTP to it. It serves what clickhouse-connect sends:

- `GET /ping` answers "Ok.\\n".
- `POST|GET /`: the statement is the `query` URL parameter, the body, or both joined by a
  newline (the body is then INSERT data); `multipart/form-data` bodies carry `query` and
  `param_*` fields (the driver switches to them for long parameters).
- `param_<name>` values bind `{name:Type}` placeholders; they arrive in ClickHouse's escaped
  text format, which is also what chDB takes.
- `database` runs the statement with that current database; `default_format` (else
  TabSeparated) is the output format unless the statement names one.
- Other URL parameters are settings. They are added to the statement's SETTINGS clause for
  queries and `INSERT ... FORMAT`; a statement's own value of a setting wins, as on a server.
  DDL runs without them: a trailing SETTINGS there would mean table settings.
- Responses carry the headers the driver reads (X-ClickHouse-Format, -Timezone, -Summary,
  -Query-Id); an error is HTTP 500 with the exception text and X-ClickHouse-Exception-Code.

- Optionally, TLS (`tls`, a server-side SSLContext) and password checks (`accounts`, user ->
  password: a wrong one is HTTP 403 with code 516, as a server answers); `signed_in` records
  each request's user and how it signed in ("password", or "certificate" for mutual TLS).

Not served: compression (the store never asks for it), binary request bodies (the driver's
Native inserts; the store sends JSON), sessions, privileges, progress headers.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import threading
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from postbacks.store.chdb_backend import shared_session

# HTTP-interface parameters that are not settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "user", "password", "quota_key", "role",
        "session_id", "session_timeout", "session_check", "close_session", "query_id",
        "compress", "decompress", "buffer_size", "wait_end_of_query", "stacktrace",
        "client_protocol_version",
    }
)  # fmt: skip
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_RESULT_STATEMENT = re.compile(r"(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b", re.I)
_TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*\Z", re.I)
_INSERT_FORMAT = re.compile(
    r"\A(?P<head>INSERT\b.*?)(?:\bSETTINGS\s+(?P<own>.*?))?\bFORMAT\s+(?P<fmt>\w+)", re.I | re.S
)
_ERROR_CODE = re.compile(r"Code: (\d+)")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _settings_clause(settings: dict[str, str], statement: str) -> str:
    """`k='v', ...` for the URL settings that the statement does not set itself."""
    return ", ".join(
        f"{name}={_literal(value)}"
        for name, value in settings.items()
        if not re.search(rf"\b{re.escape(name)}\s*=", statement)
    )


def _plan(sql: str, settings: dict[str, str], default_format: str) -> tuple[str, str | None]:
    """The statement to run with URL settings applied, and its output format if it has rows."""
    comments = _LEADING_COMMENTS.match(sql)
    body = sql[comments.end() if comments else 0 :]
    if _RESULT_STATEMENT.match(body):
        found = _TRAILING_FORMAT.search(sql)
        fmt = found.group(1) if found else default_format
        statement = f"{sql[: found.start()] if found else sql}\nFORMAT {fmt}"
        clause = _settings_clause(settings, statement)
        # SETTINGS after FORMAT is accepted even when the query has its own clause earlier.
        return (f"{statement}\nSETTINGS {clause}" if clause else statement), fmt
    insert = _INSERT_FORMAT.match(body)
    if insert:
        own = (insert["own"] or "").strip()
        extra = _settings_clause(settings, own)
        merged = ", ".join(part for part in (own, extra) if part)
        head = f"{insert['head']}SETTINGS {merged} " if merged else insert["head"]
        return f"{head}FORMAT {insert['fmt']}{body[insert.end() :]}", None
    return sql, None


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not boundary:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, str] = {}
    for part in body.split(b"--" + boundary.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n").decode()
    return fields


class ClickHouseHttpFront:
    """A ClickHouse HTTP endpoint on 127.0.0.1 serving statements from chDB, in a thread."""

    def __init__(
        self,
        chdb_dir: Path,
        *,
        tls: ssl.SSLContext | None = None,
        accounts: dict[str, str] | None = None,
    ) -> None:
        self._session = shared_session(chdb_dir)
        self._tls = tls
        self.accounts = accounts
        self.signed_in: list[tuple[str, str]] = []
        # `database` is applied with USE, which is session-wide: statements take turns.
        self._lock = threading.Lock()
        self._timezone = self._session.query("SELECT timezone()", "TabSeparated").bytes()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        if tls is not None:
            # The handshake runs as the connection is accepted; a failed one drops it.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        # stop() waits for every handler thread, so none is left inside chDB at exit.
        self._server.daemon_threads = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        # Idle keep-alive connections hold their handler threads in a read: end them.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        self._thread.join()

    def track(self, connection: socket.socket, *, open: bool) -> None:
        with self._connections_lock:
            if open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def sign_in(self, headers: Any) -> Reply | None:
        """None if the request's account may in; else the server's refusal."""
        if self.accounts is None:
            return None
        user, password, how = "default", "", "password"
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
        elif headers.get("X-ClickHouse-SSL-Certificate-Auth") == "on":
            user, how = headers.get("X-ClickHouse-User", ""), "certificate"
        self.signed_in.append((user, how))
        if how == "password" and self.accounts.get(user) == password:
            return None
        if how == "certificate" and user in self.accounts:
            return None
        message = (
            f"Code: 516. DB::Exception: {user}: Authentication failed: password is incorrect, "
            "or there is no user with such name. (AUTHENTICATION_FAILED)\n"
        )
        return Reply(403, message.encode(), {"X-ClickHouse-Exception-Code": "516"})

    def handle(self, params: dict[str, str], body: bytes, content_type: str) -> Reply:
        try:
            return self._handle(params, body, content_type)
        except Exception as exc:  # as a server does: any failure is an exception response
            message = str(exc)
            code = _ERROR_CODE.search(message)
            return Reply(
                500,
                f"{message}\n".encode(),
                {"X-ClickHouse-Exception-Code": code.group(1) if code else "1001"},
            )

    def _handle(self, params: dict[str, str], body: bytes, content_type: str) -> Reply:
        if content_type.startswith("multipart/form-data"):
            params = {**params, **_multipart(content_type, body)}
            body = b""
        text = body.decode()
        query = params.pop("query", "")
        sql = f"{query}\n{text}" if query and text else query or text
        database = params.pop("database", "")
        default_format = params.pop("default_format", "TabSeparated")
        binds = {k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")}
        settings = {
            k: v
            for k, v in params.items()
            if k not in _TRANSPORT_PARAMS and not k.startswith("param_")
        }
        statement, fmt = _plan(sql, settings, default_format)
        result = self._run(statement, fmt or "TabSeparated", binds, database)
        headers = {
            "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": self._timezone.decode().strip(),
            "X-ClickHouse-Server-Display-Name": "chdb-http-front",
            "X-ClickHouse-Summary": json.dumps(
                {
                    "read_rows": str(result.rows_read()),
                    "read_bytes": str(result.bytes_read()),
                    "written_rows": str(result.rows_written()),
                    "written_bytes": str(result.bytes_written()),
                    "elapsed_ns": str(int(result.elapsed() * 1e9)),
                }
            ),
        }
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        data: bytes = result.bytes()
        return Reply(200, data, headers)

    def _run(self, statement: str, fmt: str, binds: dict[str, str], database: str) -> Any:
        if not statement.strip():
            raise ValueError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
        with self._lock:
            if database:
                self._session.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
            try:
                return self._session.query(statement, fmt, params=binds or None)
            finally:
                if database:
                    self._session.query("USE default", "TabSeparated")


def _handler_for(front: ClickHouseHttpFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the driver's connection pool expects
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def setup(self) -> None:
            super().setup()
            front.track(self.connection, open=True)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                front.track(self.connection, open=False)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/ping":
                self._send(Reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"}))
            else:
                self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self._body()
            if url.path != "/":
                self._send(Reply(404, b"There is no handle " + url.path.encode() + b"\n"))
                return
            if self.headers.get("Content-Encoding", "identity") != "identity":
                self._send(Reply(415, b"this test front does not decompress request bodies\n"))
                return
            refused = front.sign_in(self.headers)
            if refused is not None:
                self._send(refused)
                return
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            self._send(front.handle(params, body, self.headers.get("Content-Type", "")))

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: failures show up in the tests' assertions

    return Handler
