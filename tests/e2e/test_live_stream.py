"""The live view on the whole pipeline: streams opened before conversions are produced on Kafka
get the attempts the dispatcher makes and the log-writer stores, and only those their filters
and their token allow."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from query_api.app import build_app
from query_api.auth import Grant, TokenTable
from query_api.confinement import Confinement
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.e2e.messages import conversion
from tests.e2e.receivers import Receiver
from tests.e2e.system import System
from tests.serving import served
from tests.sse_client import event_stream

PATH = "/api/v1/logs/stream"
CONFINED = "confined-to-42"
# From the produce to the event: the dispatcher fires, the log-writer stores (batches of up to
# 100 ms here), the next read of the log (every second) finds it.
ARRIVES_S = 15


@contextlib.asynccontextmanager
async def confined_api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """A second query-api on the same log, with a token confined to publisher 42 (the system's
    own runs without tokens, as `postbacks dev` does)."""
    confinement = Confinement(publisher_ids=frozenset({42}))
    tokens = TokenTable({CONFINED: Grant(frozenset({"logs:read"}), confinement)})
    publisher = DispatcherPublisher(system.kafka)  # never started: the stream sends nothing
    app = build_app(system.store, publisher, tokens=tokens)
    try:
        async with (
            served(app) as url,
            reader(url, {"Authorization": f"Bearer {CONFINED}"}) as client,
        ):
            try:
                yield client
            finally:
                await services_of(app).live.close()
    finally:
        await publisher.stop()


def reader(url: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    # No read timeout: a stream is quiet until something is logged (heartbeats come at 15 s).
    timeout = httpx.Timeout(10, read=None)
    return httpx.AsyncClient(base_url=url, headers=headers, trust_env=False, timeout=timeout)


async def test_open_streams_get_the_attempts_logged_for_them_and_no_others(
    system: System, publisher_server: Receiver
) -> None:
    for publisher in (42, 43):
        await system.create_postback(
            name=f"live-{publisher}",
            type="Conversion",
            publisher_id=publisher,
            url=publisher_server.url("/ok?tx={transaction_id}"),
        )
    await system.configs_applied()
    async with (
        confined_api(system) as confined,
        reader(str(system.api.base_url)) as client,
        event_stream(client, PATH, params={"publisher_id": "42"}) as filtered,
        event_stream(confined, PATH) as own,
        event_stream(client, PATH) as everything,
    ):
        system.produce("conversions", [conversion("tx-live-42", 42), conversion("tx-live-43", 43)])

        for stream in (filtered, own):
            (event,) = await stream.take(1, ARRIVES_S)
            assert (event.json()["transaction_id"], event.json()["publisher_id"]) == (
                "tx-live-42",
                42,
            )
        # The 43 attempt was logged too, and a stream without filters shows it.
        both = await everything.take(2, ARRIVES_S)
        assert sorted(e.json()["transaction_id"] for e in both) == ["tx-live-42", "tx-live-43"]
        await system.settled()  # every attempt stored: what has not come now is not coming
        assert not await filtered.quiet(1.5)  # a read of the log (one a second) and then some
        assert not await own.quiet(0)
        assert not await everything.quiet(0)
