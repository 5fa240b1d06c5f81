"""The services as real processes (`.venv/bin/postbacks ...`), started, killed and restarted.

Each runs in a session of its own and dies with the test process (PR_SET_PDEATHSIG); its output
goes to a file under the test's tmp_path, shown when something goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from postbacks.embedded_broker import die_with_parent, free_port

POSTBACKS = Path(sys.executable).parent / "postbacks"


class Service:
    """One `postbacks <command>` process at a time; `kill()` is kill -9; `start()` restarts."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.command = command
        self._env = {**os.environ, **env}
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self._log_dir / f"{self.command}-{self.starts}.log").open("wb")
        self._process = subprocess.Popen(
            [str(POSTBACKS), self.command],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no finally-block, no flush, no offset commit runs."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout_s: float = 20) -> int | None:
        """SIGTERM and wait (the clean way out); kill -9 if it does not exit in time."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def exited(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def output(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self._log_dir.glob(f"{self.command}-*.log"))
        )


def wait_until_ready(service: Service, port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.exited() is not None:
            raise AssertionError(f"{service.command} exited:\n{service.output()}")
        url = f"http://127.0.0.1:{port}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{service.command} not ready in {timeout_s}s:\n{service.output()}")


@contextlib.contextmanager
def broker_process(log_dir: Path) -> Iterator[str]:
    """`postbacks broker`: the embedded broker in its own process, so it outlives the kills."""
    port = free_port()
    broker = Service("broker", {"POSTBACKS_KAFKA_PORT": str(port)}, log_dir)
    broker.start()
    try:
        deadline = time.monotonic() + 30
        while "embedded Kafka on" not in broker.output():  # printed once the topics exist
            if broker.exited() is not None or time.monotonic() > deadline:
                raise AssertionError(f"broker did not start:\n{broker.output()}")
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        yield f"127.0.0.1:{port}"
    finally:
        broker.stop()


@dataclass(frozen=True)
class StoredLog:
    ids: list[str]  # attempt_id of every row (plain SELECT: a duplicate shows twice)
    transactions: list[str]  # transaction_id of every row
    rollup_attempts: int  # sum(attempts) of the per-minute rollup


def stored_attempts(data_dir: Path) -> StoredLog:
    """What the log-writer stored, read by a process of its own: chDB opens a directory in one
    process only, and this test process has its own directory open already."""
    answer = subprocess.run(
        [sys.executable, "-m", "tests.crash.stored_attempts", str(data_dir / "clickhouse")],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    found = orjson.loads(answer.stdout)
    return StoredLog(found["ids"], found["transactions"], int(found["rollup_attempts"]))


async def stream_evenly(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], seconds: float, slices: int
) -> None:
    """Produce (key, value) `records` to `topic` in `slices` even steps over about `seconds`:
    traffic that keeps flowing while a service is killed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        for i in range(slices):
            for key, value in records[
                i * len(records) // slices : (i + 1) * len(records) // slices
            ]:
                await producer.send(topic, value, key=key)
            await asyncio.sleep(seconds / slices)
        await producer.flush()
    finally:
        await producer.stop()
