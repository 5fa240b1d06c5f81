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
from tests.waiting import ceiling, until_sync

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

    def stop(self, timeout_s: float = 60) -> int | None:
        """SIGTERM and wait (the clean way out); kill -9 if it does not exit in time."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(ceiling(timeout_s))
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


# A process's start-up: imports (compiled to bytecode on the first run of a fresh clone), chDB
# opening its directory, joining the consumer group. Seconds usually; far more on a busy machine.
START_S = 180.0


def wait_until_ready(service: Service, port: int, timeout_s: float = START_S) -> None:
    """Until /readyz answers 200; fails at once if the process exits."""

    def ready() -> bool:
        if service.exited() is not None:
            raise AssertionError(f"{service.command} exited with {service.exited()}")
        url = f"http://127.0.0.1:{port}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
        return False

    try:
        until_sync(ready, f"{service.command} ready", timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{service.output()}") from None


def scraped(port: int, prefix: str = "postbacks_") -> str:
    """The service's own metrics whose names start with `prefix`, for a failure's message."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError as exc:
        return f"(no metrics on port {port}: {exc})"
    return "\n".join(line for line in text.splitlines() if line.startswith(prefix))


@contextlib.contextmanager
def broker_process(log_dir: Path) -> Iterator[str]:
    """`postbacks broker`: the embedded broker in its own process, so it outlives the kills."""
    port = free_port()
    broker = Service("broker", {"POSTBACKS_KAFKA_PORT": str(port)}, log_dir)
    broker.start()
    try:

        def started() -> bool:
            if broker.exited() is not None:
                raise AssertionError(f"postbacks broker exited with {broker.exited()}")
            return "embedded Kafka on" in broker.output()  # printed once the topics exist

        try:
            until_sync(started, "postbacks broker started", START_S)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{broker.output()}") from None
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        yield f"127.0.0.1:{port}"
    finally:
        broker.stop()


async def session_over(killed_at: float, session_s: float) -> None:
    """Until the group's session of a member killed at `killed_at` (time.monotonic()) has
    expired on the broker's clock. Not a guess at how long something takes: the broker keeps a
    killed member for its session, whatever the load. Tansu drops it only when another member
    asks after that; one that joins earlier waits out the rest of it in a rebalance with a
    member that never answers (the group once stalled for over 90 s there: see
    test_dispatcher_kill.py), which is not what the crash tests are about."""
    await asyncio.sleep(max(0.0, killed_at + session_s + 1 - time.monotonic()))


@dataclass(frozen=True)
class StoredLog:
    ids: list[str]  # attempt_id of every row (plain SELECT: a duplicate shows twice)
    transactions: list[str]  # transaction_id of every row
    rollup_attempts: int  # sum(attempts) of the per-minute rollup
    # transaction_id of every Failed attempt that was never sent ("not sent: ..."), e.g. shed
    # because the publisher's server looked stuck (a test process starved of CPU)
    unsent: list[str]


def stored_attempts(data_dir: Path) -> StoredLog:
    """What the log-writer stored, read by a process of its own: chDB opens a directory in one
    process only, and this test process has its own directory open already."""
    answer = subprocess.run(
        [sys.executable, "-m", "tests.crash.stored_attempts", str(data_dir / "clickhouse")],
        capture_output=True,
        check=True,
        timeout=ceiling(300),
        cwd=Path(__file__).resolve().parents[2],
    )
    found = orjson.loads(answer.stdout)
    return StoredLog(
        found["ids"], found["transactions"], int(found["rollup_attempts"]), found["unsent"]
    )


class KillPoints:
    """Where a stream holds for a kill: after slice `at[j]` it waits until the test has done
    kill j. So every kill comes while records are still to come, and the kills happen however
    slow the restarts between them are (a stream that ran on by the clock was over before the
    second kill on a busy machine, and the test found no work left to kill)."""

    def __init__(self, at: list[int]) -> None:
        self.at = sorted(at)
        self._reached = [asyncio.Event() for _ in self.at]
        self._killed = [asyncio.Event() for _ in self.at]

    async def after_slice(self, index: int) -> None:
        if index in self.at:
            j = self.at.index(index)
            self._reached[j].set()
            await self._killed[j].wait()

    async def reached(self, j: int, timeout_s: float = START_S) -> None:
        """Until the stream holds at kill point j."""
        try:
            await asyncio.wait_for(self._reached[j].wait(), ceiling(timeout_s))
        except TimeoutError:
            raise AssertionError(f"the stream did not reach kill point {j}") from None

    def killed(self, j: int) -> None:
        self._killed[j].set()


async def stream_evenly(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    seconds: float,
    slices: int,
    holds: KillPoints | None = None,
) -> None:
    """Produce (key, value) `records` to `topic` in `slices` even steps over about `seconds`
    (plus the time held at `holds`): traffic that keeps flowing while a service is killed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        for i in range(slices):
            for key, value in records[
                i * len(records) // slices : (i + 1) * len(records) // slices
            ]:
                await producer.send(topic, value, key=key)
            if holds is not None and i in holds.at:
                await producer.flush()  # on the broker before the kill that follows
                await holds.after_slice(i)
            await asyncio.sleep(seconds / slices)
        await producer.flush()
    finally:
        await producer.stop()
