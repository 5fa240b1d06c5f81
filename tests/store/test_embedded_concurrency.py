"""chDB shares parameters across a session: concurrent parameterized queries must not mix."""

from __future__ import annotations

import asyncio

from postbacks.store.chdb_backend import EmbeddedStore


async def test_concurrent_parameterized_queries_each_get_their_own_values(
    embedded_store: EmbeddedStore,
) -> None:
    async def echo(n: int) -> int:
        rows = await embedded_store.select(
            "SELECT {a:UInt64} + sleepEachRow(0.001) * 0 AS v FROM numbers(20)", {"a": n}
        )
        assert {int(r["v"]) for r in rows} == {n}
        return n

    assert await asyncio.gather(*(echo(n) for n in range(40))) == list(range(40))
