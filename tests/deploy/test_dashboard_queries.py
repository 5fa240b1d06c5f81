"""Every ClickHouse query of the dashboards, variables and alert rule runs on the real schema.

The schema is deploy/clickhouse as the store applies it (chDB, a database per test); the queries
are expanded the way Grafana and the ClickHouse plugin expand them, over a few attempts
inserted through the attempt table, so the rollup is filled by its materialized view as in
production.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postbacks.attempts import AttemptStatus, PostbackType
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import attempt_record, encoded
from tests.deploy.grafana_files import Query, alert_rules, clickhouse_queries, expand

NOW = datetime.now(UTC).replace(microsecond=0)
HEALTHY, FAILING = 42, 43
POSTBACKS = {HEALTHY: "Acme network", FAILING: "Down publisher"}


def _attempt(publisher: int, code: int, minutes_ago: float, latency_ms: int) -> bytes:
    record = attempt_record(
        attempted_at=NOW - timedelta(minutes=minutes_ago),
        status=AttemptStatus.SUCCESS if 200 <= code < 300 else AttemptStatus.FAILED,
        postback_id=uuid.UUID(int=publisher),
        postback_name=POSTBACKS[publisher],
        postback_type=PostbackType.CONVERSION,
        offer_id=7,
        publisher_id=publisher,
        transaction_id=f"tx-{uuid.uuid4().hex[:8]}",
        response_code=code,
        url=f"https://publisher-{publisher}.example/pb",
        error="" if code == 200 else ("connection refused" if code == 0 else f"HTTP {code}"),
        latency_ms=latency_ms,
        source="{}",
    )
    return encoded(record)


def _traffic() -> list[bytes]:
    """Over the last hour: publisher 42 almost always answers 200, publisher 43 mostly fails.

    30 attempts each in the last five minutes, so the alert's minimum of 20 is met.
    """
    rows: list[bytes] = []
    for i in range(60):
        minutes_ago = 0.5 + i / 7 if i < 30 else i - 25
        rows.append(_attempt(HEALTHY, 500 if i % 20 == 0 else 200, minutes_ago, 40 + i))
        code = (500, 0, 404, 200)[i % 4]
        rows.append(_attempt(FAILING, code, minutes_ago, 900 + 10 * i))
    return rows


def _run_grafana_style(query: Query, variables: dict[str, list[str]], database: str) -> str:
    return expand(
        query.text,
        start=NOW - timedelta(hours=1),
        end=NOW + timedelta(minutes=1),
        interval_s=60,
        variables=variables,
        database=database,
    )


def _check_shape(query: Query, rows: list[dict[str, Any]]) -> None:
    assert rows, f"{query.where}: no rows on data that should match"
    for row in rows:
        if not query.table:
            # A time series: a `time` column, then labels (strings) and values (numbers).
            assert "time" in row, f"{query.where}: time series without a time column: {row}"
            values = [v for k, v in row.items() if k != "time" and not isinstance(v, str)]
            assert values, f"{query.where}: time series without a numeric value: {row}"
            assert all(isinstance(v, int | float) for v in values), f"{query.where}: {row}"
        for name, value in row.items():
            if name.endswith("failure_rate") or name == "share":
                assert 0 <= value <= 1, f"{query.where}: {name} = {value}, not a ratio"


@pytest.fixture
async def store_with_traffic(embedded_store: EmbeddedStore) -> EmbeddedStore:
    await embedded_store.insert_json("postback_attempts", _traffic())
    return embedded_store


async def test_every_clickhouse_query_runs_on_the_schema(
    store_with_traffic: EmbeddedStore,
) -> None:
    store = store_with_traffic
    queries = clickhouse_queries()
    variable_queries = [q for q in queries if ": $" in q.where]
    panel_queries = [q for q in queries if q not in variable_queries]
    assert len(variable_queries) == 3, [q.where for q in queries]
    assert len(panel_queries) >= 10, [q.where for q in queries]

    # The variables first, as Grafana does; "All" then means every value they listed.
    variables: dict[str, list[str]] = {}
    for query in variable_queries:
        rows = await store.select(_run_grafana_style(query, {}, store.database))
        name = query.where.rsplit("$", 1)[1]
        variables[name] = [str(next(iter(row.values()))) for row in rows]
    assert variables == {
        "publisher": [str(HEALTHY), str(FAILING)],
        "offer": ["7"],
        "postback": sorted(POSTBACKS.values()),
    }

    for query in panel_queries:
        sql = _run_grafana_style(query, variables, store.database)
        try:
            rows = await store.select(sql)
        except Exception as exc:
            raise AssertionError(f"{query.where} failed on the schema:\n{sql}\n{exc}") from exc
        _check_shape(query, rows)


async def test_the_publisher_variable_narrows_the_queries(
    store_with_traffic: EmbeddedStore,
) -> None:
    store = store_with_traffic
    only_failing = {"publisher": [str(FAILING)], "offer": ["7"], "postback": [POSTBACKS[FAILING]]}
    rows = await store.select(
        _run_grafana_style(
            next(q for q in clickhouse_queries() if q.where.endswith(": Top failing publishers")),
            only_failing,
            store.database,
        )
    )
    assert [r["publisher_id"] for r in rows] == [FAILING]
    assert rows[0]["failure_rate"] == pytest.approx(0.75)


async def test_the_alert_query_fires_for_the_failing_publisher_only(
    store_with_traffic: EmbeddedStore,
) -> None:
    store = store_with_traffic
    (rule,) = alert_rules()
    query_step, threshold_step = rule["data"]
    window = timedelta(seconds=query_step["relativeTimeRange"]["from"])
    sql = expand(
        query_step["model"]["rawSql"],
        start=NOW - window,
        end=NOW,
        interval_s=60,
        variables={},
        database=store.database,
    )
    rates = {r["publisher"]: r["failure_rate"] for r in await store.select(sql)}
    (condition,) = threshold_step["model"]["conditions"]
    assert condition["evaluator"]["type"] == "gt"
    threshold = condition["evaluator"]["params"][0]
    firing = {publisher for publisher, rate in rates.items() if rate > threshold}
    assert firing == {str(FAILING)}, rates
    assert rule["condition"] == threshold_step["refId"]
    assert threshold_step["model"]["expression"] == query_step["refId"]
