"""The store contract, written once and run on every backend (the `store` fixture)."""

from __future__ import annotations

import logging
import re
import socket
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import clickhouse_connect
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbacks.attempts import AttemptRecord, AttemptStatus, HttpMethod, PostbackType, Trigger
from postbacks.store.errors import StoreError, StoreQueryError
from postbacks.store.missing_columns import SCRATCH_PREFIX
from postbacks.store.protocol import Store
from postbacks.store.schema import apply_schema, schema_statements
from postbacks.store.server_backend import ServerStore
from tests.attempts import attempt_record
from tests.store.clickhouse_http_front import ClickHouseHttpFront

UINT64_MAX = 2**64 - 1
HOSTILE = [
    "",
    "it's",
    "'; DROP TABLE postback_attempts; --",
    'double "quotes"',
    "back\\slash\\",
    "\\N",
    "\\0 \\t \\n written out",
    "tab\there",
    "new\nline",
    "carriage\rreturn\r\n",
    "nul\0byte",
    "{name:String}",
    "100% %(name)s %s",
    "`backtick`",
    "é 日本語 🙂 \u2028 \u200f \ufeff",
]


def _record(n: int, **fields: object) -> AttemptRecord:
    values: dict[str, object] = {
        "attempted_at": datetime(2026, 1, 2, 3, 4, 5, 678000 + n * 1000, tzinfo=UTC),
        "status": AttemptStatus.SUCCESS,
        "postback_id": uuid.uuid4(),
        "postback_name": f"postback {n}",
        "postback_type": PostbackType.CONVERSION,
        "offer_id": 10 + n,
        "publisher_id": 42,
        "transaction_id": f"tx-{n}",
        "response_code": 200,
        "url": f"https://publisher.example/pb?tx=tx-{n}",
        "latency_ms": 12 + n,
        "source": orjson.dumps({"transaction_id": f"tx-{n}", "offer_id": 10 + n}).decode(),
    }
    return attempt_record(n, **(values | fields))


async def test_apply_schema_is_idempotent_and_creates_every_object(store: Store) -> None:
    await apply_schema(store)  # the fixture applied it once already
    await apply_schema(store)
    expected = {
        m.group(1)
        for statement in schema_statements(store.database)
        if (m := re.search(rf"IF NOT EXISTS {store.database}\.(\w+)", statement))
    }
    rows = await store.select(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": store.database}
    )
    assert expected >= {"postback_attempts", "postback_configs"}
    assert {row["name"] for row in rows} == expected


# Columns an older table lacks here: defaults, codecs, comments, and one in the middle.
ADDED_SINCE = ("event_id", "trigger", "refire_of", "attempt_number", "source")


async def test_apply_schema_adds_the_columns_an_older_table_lacks(store: Store) -> None:
    # The table as an older version created it, with one row in it.
    attempts = store.table("postback_attempts")
    (statement,) = [s for s in schema_statements(store.database) if f"EXISTS {attempts}\n" in s]
    old = "\n".join(
        line
        for line in statement.splitlines()
        if not line.split() or line.split()[0] not in ADDED_SINCE
    )
    await store.execute(f"DROP TABLE {attempts}")
    await store.execute(old)
    record = _record(1)
    row = record.model_dump(mode="json", exclude=set(ADDED_SINCE))
    await store.insert_json("postback_attempts", [orjson.dumps(row)])
    assert not {c["name"] for c in await _column_specs(store, store.database)} & set(ADDED_SINCE)

    await apply_schema(store)
    await apply_schema(store)  # and nothing more the second time

    fresh = f"{store.database}_fresh"
    await store.execute(f"CREATE DATABASE {fresh}")
    try:
        await store.execute(statement.replace(attempts, f"{fresh}.postback_attempts", 1))
        # Name, order, type, default, codec and comment, as a table created today has them.
        assert await _column_specs(store, store.database) == await _column_specs(store, fresh)
    finally:
        await store.execute(f"DROP DATABASE {fresh}")
    rows = await store.select(
        f"SELECT event_id, trigger, refire_of, attempt_number, source, transaction_id"
        f" FROM {attempts}"
    )
    assert rows == [
        {
            "event_id": "",
            "trigger": "auto",
            "refire_of": None,
            "attempt_number": 1,
            "source": "",
            "transaction_id": "tx-1",
        }
    ]
    leftovers = await store.select(
        "SELECT name FROM system.tables WHERE database = {db:String}"
        " AND startsWith(name, {prefix:String})",
        {"db": store.database, "prefix": SCRATCH_PREFIX},
    )
    assert leftovers == []  # the scratch table is gone
    databases = await store.select(
        "SELECT name FROM system.databases WHERE startsWith(name, {prefix:String})",
        {"prefix": f"{store.database}_"},
    )
    assert databases == []  # and no scratch database was made


async def test_a_clusters_table_is_reported_not_altered(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # No cluster here: a Memory table stands in for the Distributed one, which is not
    # MergeTree either. An ALTER of it alone would leave its shards' tables as they were.
    jobs = store.table("postback_refire_jobs")
    await store.execute(f"DROP TABLE {jobs}")
    await store.execute(f"CREATE TABLE {jobs} (job_id UUID, version UInt64) ENGINE = Memory")
    with caplog.at_level(logging.WARNING, logger="postbacks.store.missing_columns"):
        await apply_schema(store)
    columns = await _column_specs(store, store.database, "postback_refire_jobs")
    assert [c["name"] for c in columns] == ["job_id", "version"]
    (warning,) = [r.getMessage() for r in caplog.records if "cluster" in r.getMessage()]
    assert f"{jobs} lacks the columns state, filters, from_ms," in warning


async def _column_specs(
    store: Store, database: str, table: str = "postback_attempts"
) -> list[dict[str, Any]]:
    return await store.select(
        "SELECT name, type, default_kind, default_expression, compression_codec, comment"
        " FROM system.columns WHERE database = {db:String} AND table = {table:String}"
        " ORDER BY position",
        {"db": database, "table": table},
    )


async def test_attempts_round_trip_every_field(store: Store) -> None:
    records = [
        _record(0),
        _record(
            1,
            status=AttemptStatus.FAILED,
            postback_type=PostbackType.EVENT,
            event_id="5",
            offer_id=UINT64_MAX,
            publisher_id=0,
            response_code=0,
            method=HttpMethod.POST,
            error='connection refused: it\'s "down"\tagain\n',
            server_response="nul\0 back\\slash 🙂 …[truncated]",
            trigger=Trigger.REFIRE,
            refire_of=uuid.uuid4(),
            postback_name=HOSTILE[2],
            transaction_id=HOSTILE[-1],
        ),
        _record(2, response_code=65535, latency_ms=2**32 - 1),
    ]
    await store.insert_json("postback_attempts", [r.model_dump_json().encode() for r in records])

    table = store.table("postback_attempts")
    rows = await store.select(f"SELECT * FROM {table} ORDER BY attempted_at, attempt_id")
    assert [AttemptRecord.model_validate(row) for row in rows] == records
    assert rows[1]["offer_id"] == UINT64_MAX  # a JSON number, not a quoted string

    one = await store.select(
        f"SELECT attempt_id, refire_of FROM {table} WHERE attempt_id = {{id:UUID}}",
        {"id": str(records[1].attempt_id)},
    )
    assert [(UUID(r["attempt_id"]), UUID(r["refire_of"])) for r in one] == [
        (records[1].attempt_id, records[1].refire_of)
    ]
    rollup = await store.select(
        f"SELECT sum(attempts) AS n FROM {store.table('postback_attempts_by_minute')}"
    )
    assert rollup == [{"n": 3}]


async def test_insert_of_no_rows_is_a_no_op(store: Store) -> None:
    await store.insert_json("postback_attempts", [])
    rows = await store.select(f"SELECT count() AS n FROM {store.table('postback_attempts')}")
    assert rows == [{"n": 0}]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_strings_bind_as_data(store: Store, value: str) -> None:
    rows = await store.select(
        "SELECT {s:String} AS s, length({s:String}) AS n, {s:String} = {t:String} AS same",
        {"s": value, "t": value},
    )
    assert rows == [{"s": value, "n": len(value.encode()), "same": 1}]


async def test_long_parameter_binds(store: Store) -> None:
    # Long enough that clickhouse-connect moves parameters from the URL into a form body.
    value = "".join(HOSTILE) * 40
    rows = await store.select("SELECT {s:String} AS s", {"s": value})
    assert rows == [{"s": value}]


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.text(max_size=60))
async def test_any_string_binds_as_data(store: Store, value: str) -> None:
    assert await store.select("SELECT {s:String} AS s", {"s": value}) == [{"s": value}]


async def test_numbers_and_nulls_bind(store: Store) -> None:
    rows = await store.select(
        "SELECT {max:UInt64} AS max, {min:Int64} AS min, {f:Float64} AS f,"
        " {null:Nullable(String)} AS null, {n:Nullable(UInt64)} AS n,"
        " isNull({null:Nullable(String)}) AS is_null,"
        " {empty:Nullable(String)} AS empty, {slash_n:Nullable(String)} AS slash_n",
        {
            "max": UINT64_MAX,
            "min": -(2**63),
            "f": 0.1,
            "null": None,
            "n": None,
            "empty": "",
            "slash_n": "\\N",
        },
    )
    assert rows == [
        {
            "max": UINT64_MAX,
            "min": -(2**63),
            "f": 0.1,
            "null": None,
            "n": None,
            "is_null": 1,
            "empty": "",
            "slash_n": "\\N",
        }
    ]


async def test_unused_parameters_leave_the_sql_alone(store: Store) -> None:
    rows = await store.select("SELECT '100%' AS s, 'a%b' LIKE 'a%' AS hit", {"unused": "x"})
    assert rows == [{"s": "100%", "hit": 1}]


async def test_parameters_bind_in_execute(store: Store) -> None:
    table = store.table("postback_configs")
    await store.execute(
        f"INSERT INTO {table} (id, name, type, statuses, method, url, timeout_ms, enabled,"
        " created_at, updated_at, version)"
        " SELECT {id:UUID}, {name:String}, 'Click', ['approved'], 'GET', {url:String}, 5000,"
        " true, now64(3), now64(3), {version:UInt64}",
        {"id": str(uuid.UUID(int=1)), "name": HOSTILE[1], "url": HOSTILE[3], "version": 7},
    )
    rows = await store.select(f"SELECT id, name, url, version, offer_id FROM {table}")
    assert rows == [
        {
            "id": str(uuid.UUID(int=1)),
            "name": HOSTILE[1],
            "url": HOSTILE[3],
            "version": 7,
            "offer_id": None,
        }
    ]


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELEC 1", None),
        ("SELECT * FROM no_such_database.no_such_table", None),
        ("SELECT {n:UInt64} AS n", {"n": "not a number"}),
        ("SELECT {missing:String} AS s", None),
    ],
)
async def test_refused_statements_raise_store_query_error(
    store: Store, sql: str, params: dict[str, str] | None
) -> None:
    with pytest.raises(StoreQueryError):
        await store.select(sql, params)
    with pytest.raises(StoreQueryError):
        await store.execute(sql, params)


async def test_malformed_rows_raise_store_query_error(store: Store) -> None:
    with pytest.raises(StoreQueryError):
        await store.insert_json("postback_attempts", [b'{"attempt_id": "not a uuid"}'])
    rows = await store.select(f"SELECT count() AS n FROM {store.table('postback_attempts')}")
    assert rows == [{"n": 0}]


async def test_ping_answers(store: Store) -> None:
    await store.ping()  # raises StoreError unless the store answers; see the unreachable case


async def test_table_qualifies_plain_identifiers_only(store: Store) -> None:
    assert store.table("postback_attempts") == f"{store.database}.postback_attempts"
    for bad in ["", "a.b", "x; DROP TABLE y", "1abc", "na-me", "`t`", "t u"]:
        with pytest.raises(ValueError, match="identifier"):
            store.table(bad)


async def test_table_rejects_a_trailing_newline(store: Store) -> None:
    with pytest.raises(ValueError, match="identifier"):
        store.table("postback_attempts\n")


# --- ServerStore specifics: how it is opened, and what "unreachable" looks like ---


async def test_server_store_from_url(clickhouse_front: ClickHouseHttpFront) -> None:
    url = f"http://default:@{clickhouse_front.host}:{clickhouse_front.port}/?database=from_url"
    store = ServerStore.from_url(url)
    assert store.database == "from_url"
    assert ServerStore.from_url(url, database="explicit").database == "explicit"
    await store.ping()
    await store.close()
    with pytest.raises(ValueError, match="http"):
        ServerStore.from_url("tcp://localhost:9000")
    with pytest.raises(ValueError, match="compress"):
        ServerStore.from_url(f"{url}&compress=1")


async def test_unreachable_server_raises_store_error_not_query_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ServerStore(host="127.0.0.1", port=port)
    with pytest.raises(StoreError) as raised:
        await store.ping()
    assert not isinstance(raised.value, StoreQueryError)


# --- The HTTP front itself: the parts of ClickHouse's interface the store does not reach ---


def test_front_serves_the_drivers_typed_queries_in_a_database(
    clickhouse_front: ClickHouseHttpFront,
) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    options: dict[str, Any] = {
        "host": clickhouse_front.host,
        "port": clickhouse_front.port,
        "compress": False,
        "autogenerate_session_id": False,
        "dedicated_pool": True,  # so that close() closes its connections
    }
    admin = clickhouse_connect.get_client(**options)
    admin.command(f"CREATE DATABASE {database}")
    try:
        admin.command(f"CREATE TABLE {database}.t (x UInt64, s String) ENGINE = Memory")
        admin.command(f"INSERT INTO {database}.t VALUES ({UINT64_MAX}, 'a\\tb')")
        client = clickhouse_connect.get_client(**options, database=database)
        result = client.query(
            "SELECT currentDatabase(), x, s FROM t WHERE s = {s:String}", parameters={"s": "a\tb"}
        )
        assert result.result_rows == [(database, UINT64_MAX, "a\tb")]
        assert client.ping()
        client.close()
    finally:
        admin.command(f"DROP DATABASE {database}")
        admin.close()
