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
from postbacks.store.opening import open_store
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings

log = logging.getLogger(__name__)


class DevSettings(QueryApiSettings, LogWriterSettings, DispatcherSettings):
    """Every setting of every service: `dev` runs them all."""

    # The demo publishers and a developer's own test servers are on this machine (design §8).
    allowed_networks: str = LOOPBACK


@contextlib.asynccontextmanager
async def kafka(settings: DevSettings) -> AsyncIterator[str]:
    """The Kafka to use: the one configured, or an embedded broker started for this run."""
    if settings.kafka_bootstrap:
        await ensure_topics(settings.kafka_bootstrap)
        yield settings.kafka_bootstrap
        return
    broker = EmbeddedBroker(settings.kafka_port)
    broker.start()
    try:
        await ensure_topics(broker.bootstrap)
        log.info("embedded Kafka (memory only) on %s", broker.bootstrap)
        yield broker.bootstrap
    finally:
        broker.stop()
        log.info("embedded Kafka stopped")


@contextlib.asynccontextmanager
async def dispatcher_process(
    bootstrap: str, port: int, allowed_networks: str = LOOPBACK
) -> AsyncIterator[Process]:
    env = {
        **os.environ,
        "POSTBACKS_KAFKA_BOOTSTRAP": bootstrap,
        "POSTBACKS_DISPATCHER_PORT": str(port),
        "POSTBACKS_ALLOWED_NETWORKS": allowed_networks,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "postbacks_cli",
        "dispatcher",
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        start_new_session=True,  # stopped by this process, in order (see EmbeddedBroker.start)
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.info("dispatcher stopped")


async def run_dev(settings: DevSettings) -> None:
    async with kafka(settings) as bootstrap:
        settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
        store = open_store(settings)
        api = QueryApi(settings, store)
        # Configurations are republished before the dispatcher starts, so its first inputs
        # already meet the full set even when the memory-only broker started empty.
        await api.start()
        dispatcher_port = free_port()
        log.info("dispatcher metrics on http://127.0.0.1:%d/metrics", dispatcher_port)
        writer = LogWriter(settings, store)
        try:
            async with dispatcher_process(
                bootstrap, dispatcher_port, settings.allowed_networks
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

    def __init__(self, process: Process, port: int) -> None:
        self._process = process
        self._url = f"http://127.0.0.1:{port}/readyz"

    async def ready(self) -> str | None:
        if self._process.returncode is not None:
            return f"dispatcher exited with code {self._process.returncode}"
        try:
            async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
                answer = await client.get(self._url)
        except httpx.HTTPError:
            return "dispatcher starting"
        return None if answer.status_code == 200 else "dispatcher not ready: " + answer.text
