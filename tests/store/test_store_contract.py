"""The store contract, written once and run on every backend (the `store` fixture)."""

from __future__ import annotations

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
from postbacks.store.protocol import Store
from postbacks.store.schema import apply_schema, schema_statements
from postbacks.store.server_backend import ServerStore
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
        "attempt_id": uuid.uuid4(),
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
    values.update(fields)
    return AttemptRecord.model_validate(values)


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
