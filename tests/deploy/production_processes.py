"""The three services as production runs them: `postbacks <service>` processes, settings from the
environment, on the embedded broker (Kafka) and each with its own chDB directory (ClickHouse)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from postbacks.embedded_broker import free_port

POSTBACKS = Path(sys.executable).with_name("postbacks")
TOKEN = "deploy-test-admin"


@dataclass
class Process:
    name: str
    url: str  # where /metrics, /healthz and /readyz answer
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, as docker stop and Kubernetes send it; the exit code."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout_s}s") from None


def _environment(bootstrap: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTBACKS_", "CLICKHOUSE"))}
    # Loopback only, and the receivers are local: let the destination guard through to them.
    env.update(
        POSTBACKS_KAFKA_BOOTSTRAP=bootstrap,
        POSTBACKS_ALLOWED_NETWORKS="127.0.0.0/8",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(settings)
    return env


@contextlib.contextmanager
def production_services(bootstrap: str, workdir: Path) -> Iterator[dict[str, Process]]:
    """Start dispatcher, log-writer and query-api; kill whatever is still running at the end."""
    ports = {"dispatcher": free_port(), "log-writer": free_port(), "query-api": free_port()}
    settings = {
        "dispatcher": {"POSTBACKS_DISPATCHER_PORT": str(ports["dispatcher"])},
        "log-writer": {
            "POSTBACKS_LOG_WRITER_PORT": str(ports["log-writer"]),
            "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS": "100",
            "POSTBACKS_DATA_DIR": str(workdir / "log-writer"),
            # No ClickHouse server here: each runs on its own chDB, which it must be told to.
            "POSTBACKS_EMBEDDED": "true",
        },
        "query-api": {
            "POSTBACKS_API_PORT": str(ports["query-api"]),
            "POSTBACKS_API_TOKENS": f'{{"{TOKEN}": ["logs:read", "postbacks:write"]}}',
            "POSTBACKS_DATA_DIR": str(workdir / "query-api"),
            "POSTBACKS_EMBEDDED": "true",
        },
    }
    started: dict[str, Process] = {}
    try:
        for name, port in ports.items():
            log = workdir / f"{name}.log"
            with log.open("wb") as sink:
                popen = subprocess.Popen(
                    [str(POSTBACKS), name],
                    env=_environment(bootstrap, **settings[name]),
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                )
            started[name] = Process(name, f"http://127.0.0.1:{port}", popen, log)
        yield started
    finally:
        for process in started.values():
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait()


async def wait_ready(process: Process, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited:\n{process.output()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.get(f"{process.url}/readyz")
                if answer.status_code == 200:
                    return
                last = answer.text
            await asyncio.sleep(0.3)
    raise AssertionError(f"{process.name} not ready in {timeout_s}s ({last}):\n{process.output()}")
