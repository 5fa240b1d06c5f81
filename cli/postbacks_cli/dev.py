"""`postbacks dev`: everything on the embedded defaults, from one command.

    postbacks dev (this process)
    ├── embedded Kafka broker (Tansu)      child process, unless POSTBACKS_KAFKA_BOOTSTRAP is set
    ├── dispatcher                         child process (`postbacks dispatcher`): its own CPU
    ├── log-writer  ┐ in this process:     chDB lets one process own a data directory, so the
    └── query-api   ┘ one chDB store       two services that use ClickHouse share this one

Stopping (Ctrl-C, SIGTERM) stops them in reverse order; the children also die with this process
if it is killed outright (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator

import httpx

from dispatcher.guard import LOOPBACK
from dispatcher.settings import DispatcherSettings
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks.embedded_broker import EmbeddedBroker, die_with_parent, free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import BOOTSTRAP, PROTOCOL, KafkaConnection
from postbacks.kafka_probe import wait_for_kafka
from postbacks.startup import Misconfigured
from postbacks.store.opening import open_store
from postbacks_cli.migrate import migrate_server
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings

log = logging.getLogger(__name__)

# A dispatcher that exits is started again after RESTART_PAUSE_S, doubled at each exit up to
# MAX_RESTART_PAUSE_S, and back to RESTART_PAUSE_S once one has run STABLE_RUN_S.
RESTART_PAUSE_S = 1.0
MAX_RESTART_PAUSE_S = 30.0
STABLE_RUN_S = 60.0


class DevSettings(QueryApiSettings, LogWriterSettings, DispatcherSettings):
    """Every setting of every service: `dev` runs them all."""

    # The demo publishers and a developer's own test servers are on this machine (design §8).
    allowed_networks: str = LOOPBACK


@contextlib.asynccontextmanager
async def kafka(settings: DevSettings) -> AsyncIterator[KafkaConnection]:
    """The Kafka to use: the one configured, or an embedded broker started for this run."""
    if settings.kafka_bootstrap:
        await wait_for_kafka(settings.kafka)  # waits, or refuses naming the setting
        await ensure_topics(settings.kafka)
        yield settings.kafka
        return
    if settings.kafka_security_protocol != "PLAINTEXT":
        raise Misconfigured(
            PROTOCOL,
            f"the embedded broker speaks PLAINTEXT only: set {BOOTSTRAP} to the secured Kafka "
            f"to use, or leave {PROTOCOL} unset",
        )
    broker = EmbeddedBroker(settings.kafka_port)
    broker.start()
    try:
        await ensure_topics(broker.kafka)
        log.info("embedded Kafka (memory only) on %s", broker.bootstrap)
        yield broker.kafka
    finally:
        broker.stop()
        log.info("embedded Kafka stopped")


@contextlib.asynccontextmanager
async def dispatcher_process(
    kafka: KafkaConnection, port: int, allowed_networks: str = LOOPBACK
) -> AsyncIterator[SupervisedDispatcher]:
    dispatcher = SupervisedDispatcher(kafka, port, allowed_networks)
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        log.info("dispatcher stopped")


class SupervisedDispatcher:
    """The dispatcher child, started again when it exits on its own.

    The dispatcher stops on purpose when the broker does not acknowledge its attempts (it never
    commits what it has not published, so stopping loses nothing), and may die for other
    reasons; in production the orchestrator restarts it (compose: `restart: unless-stopped`).
    Here this does, after a pause that doubles while restarts keep failing (1 s to 30 s), so a
    dispatcher that cannot start does not spin.
    """

    def __init__(self, kafka: KafkaConnection, port: int, allowed_networks: str) -> None:
        self._env = {
            **os.environ,
            **kafka.environment(),  # the bootstrap servers and the whole security setup
            "POSTBACKS_DISPATCHER_PORT": str(port),
            "POSTBACKS_ALLOWED_NETWORKS": allowed_networks,
        }
        self._process: Process | None = None
        self._watching: asyncio.Task[None] | None = None
        self.restarts = 0

    @property
    def process(self) -> Process:
        assert self._process is not None, "start() first"
        return self._process

    async def start(self) -> None:
        self._process = await self._spawn()
        self._watching = asyncio.create_task(self._watch(), name="dispatcher-supervisor")

    async def _spawn(self) -> Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "postbacks_cli",
            "dispatcher",
            env=self._env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,  # stopped by this process, in order (see EmbeddedBroker.start)
        )

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        pause = RESTART_PAUSE_S
        while True:
            started = loop.time()
            code = await self.process.wait()
            if loop.time() - started > STABLE_RUN_S:
                pause = RESTART_PAUSE_S
            log.error("dispatcher exited with code %d; starting it again in %.0f s", code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_PAUSE_S)
            self._process = await self._spawn()
            self.restarts += 1

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def run_dev(settings: DevSettings) -> None:
    async with kafka(settings) as connection:
        settings = settings.model_copy(update={"kafka_bootstrap": connection.bootstrap})
        store = open_store(settings)
        if settings.clickhouse_url:
            # dev applies the schema itself, on a server too: no separate `postbacks migrate`.
            # (On chDB the services do, as the embedded engine's owners; store/opening.py.)
            await migrate_server(store, settings)
        api = QueryApi(settings, store)
        # Configurations are republished before the dispatcher starts, so its first inputs
        # already meet the full set even when the memory-only broker started empty.
        await api.start()
        dispatcher_port = free_port()
        log.info("dispatcher metrics on http://127.0.0.1:%d/metrics", dispatcher_port)
        writer = LogWriter(settings, store)
        try:
            async with dispatcher_process(
                connection, dispatcher_port, settings.allowed_networks
            ) as dispatcher:
                await writer.start()
                probe = DispatcherProbe(dispatcher, dispatcher_port)
                await api.serve({"log-writer": writer.ready, "dispatcher": probe.ready})
        finally:
            await writer.stop()
            await api.stop()
            await store.close()


class DispatcherProbe:
    """Readiness of the dispatcher child, asked over its ops port."""

    def __init__(self, dispatcher: SupervisedDispatcher, port: int) -> None:
        self._dispatcher = dispatcher
        self._url = f"http://127.0.0.1:{port}/readyz"

    async def ready(self) -> str | None:
        if (code := self._dispatcher.process.returncode) is not None:
            return f"dispatcher exited with code {code}; starting it again"
        try:
            async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
                answer = await client.get(self._url)
        except httpx.HTTPError:
            return "dispatcher starting"
        return None if answer.status_code == 200 else "dispatcher not ready: " + answer.text
