"""Attempt records for every test: the one factory of `postbacks.attempts.AttemptRecord` rows.

The record is the contract the dispatcher publishes, the log-writer stores and the query-api
reads, so the tests of each build it here. `attempt_record(n)` is the n-th of a varied, valid
set (statuses, codes, names and publishers cycle with n); any column is set by keyword. Tests
that need their own values (random ones, hostile text, chosen times) pass them as keywords;
generators of invalid or hostile records stay with their tests (tests/log_writer/hostile.py).
The dispatcher's own unvalidated dataclass is built in tests/dispatcher/attempts.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from postbacks.attempts import AttemptRecord
from postbacks.store.protocol import Store

T0 = datetime.now(UTC).replace(microsecond=0)
TABLE = "postback_attempts"


def attempt_record(n: int = 0, **fields: object) -> AttemptRecord:
    """The n-th attempt (at T0 + n ms, one in four Failed with a 503), with `fields` changed."""
    values: dict[str, object] = {
        "attempt_id": uuid.uuid4(),
        "attempted_at": T0 + timedelta(milliseconds=n),
        "status": "Success" if n % 4 else "Failed",
        "postback_id": uuid.UUID(int=n % 3 + 1),
        "postback_name": f"pb-{n % 3}",
        "postback_type": "Conversion",
        "offer_id": 7,
        "publisher_id": 40 + n % 5,
        "transaction_id": f"tx-{n}",
        "response_code": 200 if n % 4 else 503,
        "url": f"http://127.0.0.1/pb?tx=tx-{n}",
        "latency_ms": n % 100,
        "source": f'{{"transaction_id": "tx-{n}"}}',
    }
    values.update(fields)
    return AttemptRecord.model_validate(values)


def encoded(record: AttemptRecord) -> bytes:
    """The record's value on `postbacks.attempts` (and a JSONEachRow line of the table)."""
    return record.model_dump_json().encode()


def encoded_all(records: Iterable[AttemptRecord]) -> list[bytes]:
    return [encoded(r) for r in records]


async def insert_attempts(
    store: Store, records: Sequence[AttemptRecord], batch: int = 2000
) -> None:
    """Written straight into the attempt table (the rollup fills through its view), in batches."""
    for start in range(0, len(records), batch):
        await store.insert_json(TABLE, encoded_all(records[start : start + batch]))


def clickhouse_order(record: AttemptRecord) -> tuple[datetime, int, int]:
    """The table's order key as ClickHouse compares it: time, then the attempt id.

    ClickHouse compares UUIDs by their last 8 bytes first, then the first 8 (it stores a UUID
    as two UInt64 halves, low half first). Checked on chDB 26.9.
    """
    return record.attempted_at, record.attempt_id.int & (2**64 - 1), record.attempt_id.int >> 64
