"""`postbacks dev` (what `make run` starts) as a user runs it: a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
from confluent_kafka import Producer

from postbacks.embedded_broker import free_port
from tests.e2e.receivers import Receiver
from tests.waiting import ceiling, until_sync


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reaped between the kill(0) and the read: gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_ready(api: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    def ready() -> bool:
        assert process.poll() is None, f"postbacks dev exited with {process.returncode}"
        try:
            return httpx.get(f"{api}/readyz", trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    until_sync(ready, "postbacks dev ready", timeout_s, every_s=0.3)


@contextmanager
def dev(data_dir: Path, api_port: int, kafka_port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "POSTBACKS_DATA_DIR": str(data_dir),
        "POSTBACKS_API_PORT": str(api_port),
        "POSTBACKS_KAFKA_PORT": str(kafka_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "postbacks_cli", "dev"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{api_port}", process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGTERM, as a supervisor would; returns the children it had."""
    children = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(ceiling(60)) == 0
    return children


def _create_postback(api: str, name: str, publisher_id: int, publisher: Receiver) -> str:
    created = httpx.post(
        f"{api}/api/v1/postbacks",
        trust_env=False,
        json={
            "name": name,
            "type": "Conversion",
            "publisher_id": publisher_id,
            "url": publisher.url("/ok?tx={transaction_id}"),
        },
    )
    assert created.status_code == 201, created.text
    config_id: str = created.json()["id"]
    return config_id


def _send_conversion(kafka_port: int, transaction_id: str, publisher_id: int) -> None:
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{kafka_port}"})
    conversion = {"transaction_id": transaction_id, "offer_id": 1, "publisher_id": publisher_id}
    producer.produce("conversions", orjson.dumps(conversion))
    assert producer.flush(10) == 0


def test_sigterm_stops_every_child_and_configurations_survive_a_restart(
    tmp_path: Path, publisher_server: Receiver
) -> None:
    api_port, kafka_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    with dev(tmp_path, api_port, kafka_port) as first:
        created = _create_postback(api, "survivor", 77, publisher_server)
        children = _stop(first)
    assert len(children) == 2, "expected the broker and the dispatcher as children"
    until_sync(lambda: not any(_alive(pid) for pid in children), "no child outlives postbacks dev")

    # The embedded broker kept nothing; the configuration comes back from ClickHouse.
    with dev(tmp_path, api_port, kafka_port) as second:
        listed = httpx.get(f"{api}/api/v1/postbacks", trust_env=False).json()["items"]
        assert [(c["id"], c["name"]) for c in listed] == [(created, "survivor")]

        _send_conversion(kafka_port, "tx-after-restart", 77)
        items = _logged(api, "tx-after-restart")
        assert [item["status"] for item in items] == ["Success"]
        _stop(second)


def _dispatcher_child(parent: int) -> int:
    (pid,) = [p for p in _children(parent) if b"dispatcher" in _cmdline(p)]
    return pid


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _logged(api: str, transaction_id: str) -> list[dict[str, object]]:
    def items() -> list[dict[str, object]]:
        found: list[dict[str, object]] = httpx.get(
            f"{api}/api/v1/logs", trust_env=False, params={"transaction_id": transaction_id}
        ).json()["items"]
        return found

    return until_sync(items, f"{transaction_id} in the log", every_s=0.3)


def test_a_dispatcher_that_dies_is_started_again_and_postbacks_resume(
    tmp_path: Path, publisher_server: Receiver
) -> None:
    api_port, kafka_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    with dev(tmp_path, api_port, kafka_port) as running:
        _create_postback(api, "after a crash", 78, publisher_server)
        first = _dispatcher_child(running.pid)
        os.kill(first, signal.SIGKILL)
        until_sync(lambda: not _alive(first), "the killed dispatcher gone", every_s=0.05)
        # /readyz says so (within its 1 s cache), then ready again once the new one has joined.
        until_sync(
            lambda: httpx.get(f"{api}/readyz", trust_env=False).status_code != 200,
            "/readyz noticing the dispatcher was gone",
        )

        _wait_ready(api, running)
        assert _dispatcher_child(running.pid) != first
        _send_conversion(kafka_port, "tx-after-crash", 78)
        items = _logged(api, "tx-after-crash")
        assert [item["status"] for item in items] == ["Success"]
        _stop(running)
