"""The publishers' side of the delivery benchmark, all on 127.0.0.1: nginx answering 200 with a
tiny body, a receiver that accepts and never answers, and wrk measuring nginx's ceiling.

nginx runs from a config generated in a temporary directory (`nginx -c <conf> -p <dir> -g
'daemon off;'`), as a child of this process, with one worker so its cost is known and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from postbacks.embedded_broker import die_with_parent, free_port

REPLY = "ok"
_NGINX_CONF = """\
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    server {{
{listens}
        location / {{ default_type text/plain; return 200 "{reply}"; }}
    }}
}}
"""


def missing_tools() -> list[str]:
    """The programs this benchmark needs that are not on PATH (nginx is often in /usr/sbin)."""
    return [tool for tool in ("nginx", "wrk") if _which(tool) is None]


def nginx_binary() -> str | None:
    return _which("nginx")


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/local/sbin")


def tool_versions() -> dict[str, str | None]:
    """`nginx -v` and `wrk -v` first lines, for the results file."""
    versions: dict[str, str | None] = {}
    for tool in ("nginx", "wrk"):
        path = _which(tool)
        if path is None:
            versions[tool] = None
            continue
        done = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)
        lines = (done.stderr + done.stdout).strip().splitlines()
        versions[tool] = lines[0] if lines else None
    return versions


@contextlib.contextmanager
def nginx(ports: int) -> Iterator[list[int]]:
    """nginx listening on `ports` free ports of 127.0.0.1; yields the ports."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    chosen = _distinct_free_ports(ports)
    with tempfile.TemporaryDirectory(prefix="postbacks-bench-nginx-") as temporary:
        root = Path(temporary)
        listens = "\n".join(f"        listen 127.0.0.1:{p} backlog=4096;" for p in chosen)
        conf = root / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(dir=root, listens=listens, reply=REPLY))
        process = subprocess.Popen(
            [
                binary,
                "-e",
                str(root / "error.log"),
                "-p",
                str(root),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        try:
            _wait_listening(process, chosen, root / "error.log")
            yield chosen
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()


def _distinct_free_ports(count: int) -> list[int]:
    # free_port() releases its port at once, so two calls can return the same one; nginx then
    # fails on a duplicate listen directive.
    chosen: set[int] = set()
    while len(chosen) < count:
        chosen.add(free_port())
    return sorted(chosen)


def _wait_listening(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            logged = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {err}{logged}"[-800:])
        try:
            for port in ports:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pass
        except OSError:
            time.sleep(0.05)
            continue
        return
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{ports} within 10 s")


@contextlib.asynccontextmanager
async def hanging_receivers(count: int) -> AsyncIterator[list[int]]:
    """`count` ports of 127.0.0.1 that accept connections, read requests and never answer.

    One port each, so a dispatcher that bounds requests per host:port sees as many dead hosts
    as there are hanging publishers: the hostile case, not one dead host shared by all.
    """
    open_writers: set[asyncio.StreamWriter] = set()

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            while await reader.read(65536):
                pass  # read and discard, so the client's send never blocks; never answer
        except ConnectionError:
            pass
        finally:
            open_writers.discard(writer)
            writer.close()

    servers = [
        await asyncio.start_server(swallow, "127.0.0.1", 0, backlog=4096) for _ in range(count)
    ]
    try:
        yield [s.sockets[0].getsockname()[1] for s in servers]
    finally:
        for server in servers:
            server.close()
        for writer in list(open_writers):
            writer.close()
        for server in servers:
            await server.wait_closed()


@dataclass(frozen=True)
class Ceiling:
    """What wrk measured against nginx: requests/s with keep-alive, and its command line."""

    requests_per_second: float
    requests: int
    seconds: float
    threads: int
    connections: int
    non_2xx_or_errors: int
    command: str


def wrk_ceiling(url: str, seconds: float, threads: int, connections: int) -> Ceiling:
    wrk = _which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if rate is None or total is None:
        raise RuntimeError(f"could not read wrk's output: {out[-500:]}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Ceiling(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        seconds=elapsed,
        threads=threads,
        connections=connections,
        non_2xx_or_errors=errors,
        command=" ".join(command),
    )
