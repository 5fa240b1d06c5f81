"""Every ClickHouse query of the dashboards, variables and alert rule runs on the real schema.

The schema is deploy/clickhouse as the store applies it (chDB, a database per test); the queries
are expanded the way Grafana and the ClickHouse plugin expand them, over a few attempts
inserted through the attempt table, so the rollup is filled by its materialized view as in
production. "All" in a template variable means no filter: the variables' custom all value goes
into the panels as it is, so a query does not list every publisher, offer or postback (a list
of 29,000 publishers was over ClickHouse's max query size; issue 19).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postbacks.attempts import AttemptStatus, PostbackType
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import attempt_record, encoded
from tests.deploy.grafana_files import (
    Query,
    Selection,
    alert_rules,
    all_selected,
    clickhouse_queries,
    expand,
    template_variables,
)

NOW = datetime.now(UTC).replace(microsecond=0)
HEALTHY, FAILING = 42, 43
POSTBACKS = {HEALTHY: "Acme network", FAILING: "Down publisher"}


def _attempt(
    publisher: int,
    code: int,
    minutes_ago: float,
    latency_ms: int,
    *,
    offer: int = 7,
    postback: str | None = None,
) -> bytes:
    record = attempt_record(
        attempted_at=NOW - timedelta(minutes=minutes_ago),
        status=AttemptStatus.SUCCESS if 200 <= code < 300 else AttemptStatus.FAILED,
        postback_id=uuid.UUID(int=publisher),
        postback_name=postback or POSTBACKS[publisher],
        postback_type=PostbackType.CONVERSION,
        offer_id=offer,
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


def _run_grafana_style(query: Query, variables: Mapping[str, Selection], database: str) -> str:
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
                ratio = isinstance(value, int | float) and 0 <= value <= 1
                assert ratio, f"{query.where}: {name} = {value}, not a ratio"


@pytest.fixture
async def store_with_traffic(embedded_store: EmbeddedStore) -> EmbeddedStore:
    await embedded_store.insert_json("postback_attempts", _traffic())
    return embedded_store


async def _variable_options(store: EmbeddedStore) -> dict[str, list[str]]:
    """What each template variable's query lists on the store's data, by variable name."""
    options: dict[str, list[str]] = {}
    for query in clickhouse_queries():
        if ": $" in query.where:
            rows = await store.select(_run_grafana_style(query, {}, store.database))
            options[query.where.rsplit("$", 1)[1]] = [str(next(iter(r.values()))) for r in rows]
    return options


def _all(query: Query, options: Mapping[str, list[str]]) -> dict[str, Selection]:
    """Every variable of the query's dashboard at "All", as Grafana puts it into the query."""
    if query.board is None:
        return {}  # an alert rule: no template variables
    return {
        name: all_selected(variable, options[name])
        for name, variable in template_variables(query.board).items()
    }


async def test_every_clickhouse_query_runs_on_the_schema(
    store_with_traffic: EmbeddedStore,
) -> None:
    store = store_with_traffic
    queries = clickhouse_queries()
    variable_queries = [q for q in queries if ": $" in q.where]
    panel_queries = [q for q in queries if q not in variable_queries]
    assert len(variable_queries) == 3, [q.where for q in queries]
    assert len(panel_queries) >= 10, [q.where for q in queries]

    # The variables first, as Grafana does; then the panels with each variable at "All" (the
    # dashboards' default), which is the variable's custom all value or every value it listed.
    options = await _variable_options(store)
    assert options == {
        "publisher": [str(HEALTHY), str(FAILING)],
        "offer": ["7"],
        "postback": sorted(POSTBACKS.values()),
    }

    for query in panel_queries:
        sql = _run_grafana_style(query, _all(query, options), store.database)
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


# --- "All" is no filter; one or two values filter. A third publisher, on its own offer and
# postback, and the first publisher on a second offer, so that one and two values of each
# variable pick a proper part of the rows.

THIRD = 44
SLOW = "Slow network"
FILTERED_COLUMN = {"publisher": "publisher_id", "offer": "offer_id", "postback": "postback_name"}
SELECTIONS: list[dict[str, list[str]]] = [
    {"publisher": [str(FAILING)]},
    {"publisher": [str(HEALTHY), str(THIRD)]},
    {"offer": ["8"]},
    {"offer": ["7", "9"]},
    {"postback": [POSTBACKS[FAILING]]},
    {"postback": [POSTBACKS[HEALTHY], SLOW]},
    {"publisher": [str(HEALTHY), str(FAILING)], "offer": ["9"]},
]
_VARIABLE_USE = re.compile(r"\$\{?(publisher|offer|postback)\b")
_FILTER_LINE = re.compile(r"^[ \t]*AND\b[^\n]*\$\{?(?:publisher|offer|postback)\b[^\n]*\n?", re.M)
_TABLE = re.compile(r"\bFROM (postbacks\.(postback_\w+))")


def _panel_queries_using_variables() -> list[Query]:
    return [
        q for q in clickhouse_queries() if ": $" not in q.where and _VARIABLE_USE.search(q.text)
    ]


def _more_traffic() -> list[bytes]:
    rows: list[bytes] = []
    for i in range(12):
        minutes_ago = 1 + 4 * i
        code = (200, 503, 0)[i % 3]
        rows.append(_attempt(THIRD, code, minutes_ago, 300 + i, offer=8, postback=SLOW))
        code = (200, 200, 404)[i % 3]
        rows.append(_attempt(HEALTHY, code, minutes_ago + 0.25, 60 + i, offer=9))
    return rows


def _unfiltered(sql: str) -> str:
    """The panel's SQL without its lines that filter by a template variable."""
    stripped = _FILTER_LINE.sub("", sql)
    assert not _VARIABLE_USE.search(stripped), f"a variable outside an `AND ...` line:\n{sql}"
    return stripped


def _over_rows_of(sql: str, chosen: Mapping[str, list[str]]) -> str:
    """The panel's SQL without variable filters, over only the rows the chosen values select:
    what the panel must show for that choice, whatever its own conditions say."""

    def literal(name: str, value: str) -> str:
        return value if name != "postback" else "'" + value + "'"

    where = " AND ".join(
        f"{FILTERED_COLUMN[name]} IN ({', '.join(literal(name, v) for v in values)})"
        for name, values in chosen.items()
    )
    sql, tables = _TABLE.subn(rf"FROM (SELECT * FROM \1 WHERE {where}) AS \2", _unfiltered(sql))
    assert tables == 1, sql
    return sql


def _canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Rows in an order of their own: ties of the panels' ORDER BY may come either way."""
    return sorted(repr(sorted(row.items())) for row in rows)


@pytest.fixture
async def store_with_more_traffic(store_with_traffic: EmbeddedStore) -> EmbeddedStore:
    await store_with_traffic.insert_json("postback_attempts", _more_traffic())
    return store_with_traffic


async def test_all_is_no_filter_and_values_filter(store_with_more_traffic: EmbeddedStore) -> None:
    store = store_with_more_traffic
    options = await _variable_options(store)
    assert options == {
        "publisher": [str(HEALTHY), str(FAILING), str(THIRD)],
        "offer": ["7", "8", "9"],
        "postback": sorted([*POSTBACKS.values(), SLOW]),
    }
    filtered = _panel_queries_using_variables()
    assert len(filtered) >= 10, [q.where for q in filtered]

    async def run(query: Query, sql: str) -> list[dict[str, Any]]:
        try:
            return await store.select(sql)
        except Exception as exc:
            raise AssertionError(f"{query.where} failed:\n{sql}\n{exc}") from exc

    for query in filtered:
        everything = _all(query, options)
        sql = _run_grafana_style(query, everything, store.database)
        rows = await run(query, sql)
        unfiltered = _run_grafana_style(
            Query(query.where, _unfiltered(query.text), query.table), {}, store.database
        )
        assert _canonical(rows) == _canonical(await run(query, unfiltered)), (
            f'{query.where}: "All" is not the unfiltered result:\n{sql}'
        )
        _check_shape(query, rows)

        for chosen in SELECTIONS:
            sql = _run_grafana_style(query, {**everything, **chosen}, store.database)
            rows = await run(query, sql)
            expected = await run(
                query,
                _run_grafana_style(
                    Query(query.where, _over_rows_of(query.text, chosen), query.table),
                    {},
                    store.database,
                ),
            )
            assert expected, f"{query.where}: no rows for {chosen}; the test data should have some"
            assert _canonical(rows) == _canonical(expected), (
                f"{query.where}: {chosen} does not select exactly its rows:\n{sql}"
            )


def test_all_does_not_list_the_values() -> None:
    """Rendered for "All", a panel's SQL is the same for 3 and for 30,000 known publishers
    (offers, postbacks): no value is listed, so it stays under ClickHouse's max query size."""
    few = [str(n) for n in range(1, 4)]
    many = [str(n) for n in range(1, 30_001)]
    queries = _panel_queries_using_variables()
    assert queries
    for query in queries:
        with_few, with_many = (
            _run_grafana_style(query, _all(query, dict.fromkeys(FILTERED_COLUMN, known)), "x")
            for known in (few, many)
        )
        assert with_few == with_many, f'{query.where}: "All" lists the values:\n{with_few}'
        assert "'2'" not in with_few, f'{query.where}: "All" lists the values:\n{with_few}'
