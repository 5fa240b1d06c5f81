"""Run a service coroutine until SIGINT or SIGTERM, then let it shut down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

import typer

from postbacks.startup import Misconfigured

log = logging.getLogger(__name__)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # aiokafka reports every rebalance and coordinator change at INFO; keep the console readable.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per postback otherwise


async def _until_signalled(service: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.ensure_future(service)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # The first signal cancels the service, whose finally-blocks stop what it started.
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("%s stopped", name)


def run_until_signalled(service: Coroutine[Any, Any, None], name: str) -> None:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # uvloop is a speed-up, not a requirement
        runner = asyncio.run
    try:
        runner(_until_signalled(service, name))
    except Misconfigured as refused:
        # A refusal at start is the operator's to fix: one line naming the setting, no traceback.
        typer.echo(f"{name} refusing to start: {refused}", err=True)
        raise typer.Exit(2) from refused
