"""A publisher whose server answers with markup and script, as a hostile one would (XSS)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# If a page ever inserted this as HTML, the image would fail to load and run the handler.
PAYLOAD = (
    "<img src=x onerror=\"document.title='pwned';window.pwned=1\"><script>window.pwned=2</script>"
)


@dataclass
class HostilePublisher:
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def hostile_publisher() -> Iterator[HostilePublisher]:
    """Answers every request 400 with PAYLOAD as an HTML body, on 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = PAYLOAD.encode()
            self.send_response(400)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HostilePublisher(port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
