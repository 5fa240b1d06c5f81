"""Real local HTTP servers that answer postbacks the ways publishers do: 200, 404, 500, slowly.

They run on 127.0.0.1 only and record every request line they receive.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEHAVIOURS = {
    "/ok": (200, b"OK accepted"),
    "/missing": (404, b"no such postback endpoint"),
    "/broken": (500, b"database is down"),
    "/moved": (302, b""),
    "/big": (200, b"x" * 10_000),
}
SLOW_PATH = "/slow"
SLOW_SECONDS = 2.0


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    requests: list[ReceivedRequest] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def find(self, text: str) -> list[ReceivedRequest]:
        """Requests whose path contains `text` (e.g. a transaction id)."""
        return [r for r in self.requests if text in r.path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.answer(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.answer(self.rfile.read(length))

        def answer(self, body: bytes) -> None:
            state.requests.append(
                ReceivedRequest(self.command, self.path, dict(self.headers), body)
            )
            route = self.path.split("?", 1)[0]
            if route == SLOW_PATH:
                time.sleep(SLOW_SECONDS)
                code, reply = 200, b"too late"
            else:
                code, reply = BEHAVIOURS.get(route, (404, b"unknown test route"))
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        # socketserver's listen backlog is 5. Publishers' servers listen with hundreds (nginx
        # 511, uvicorn 2048), and a burst of 64 connects overflowing 5 leaves a few connections
        # established on our side but unaccepted on the server's until TCP retransmits (seconds).
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
