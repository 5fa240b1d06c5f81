"""The in-process re-fire API of tests/refire: what its fixture hands a test, and the runner
it owns (fast rate, a small pair limit), so jobs run for real and stop when the test ends."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from postbacks.store.chdb_backend import EmbeddedStore
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.guardrails import GuardedStore, QueryLimits
from query_api.refires.runner import RefireRunner
from query_api.refires.settings import RefireSettings

MAX_PAIRS = 5


@dataclass
class RefireApi:
    client: httpx.AsyncClient
    store: EmbeddedStore
    runner: RefireRunner
    publisher: DispatcherPublisher
    bootstrap: str


def make_runner(store: EmbeddedStore, publisher: DispatcherPublisher) -> RefireRunner:
    settings = RefireSettings(api_refire_rate=500, api_refire_max_pairs=MAX_PAIRS)
    return RefireRunner(store, GuardedStore(store, QueryLimits()), publisher, settings)
