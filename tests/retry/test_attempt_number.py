"""attempt_number in the log-writer's check of attempt records: kept as sent, defaulted for
records written before it existed, refused past what its UInt8 column holds."""

from __future__ import annotations

import orjson

from log_writer.validation import problem_with

RECORD = {
    "attempt_id": "00000000-0000-4000-8000-000000000001",
    "attempted_at": "2026-11-28T12:00:00.000Z",
    "status": "Failed",
    "postback_id": "00000000-0000-4000-8000-000000000002",
    "postback_name": "p",
    "postback_type": "Conversion",
    "offer_id": 1,
    "publisher_id": 2,
    "transaction_id": "tx",
    "response_code": 503,
    "url": "https://pub.example/pb",
    "latency_ms": 5,
    "source": "{}",
}


def test_a_retry_keeps_its_number() -> None:
    row, reason = problem_with(orjson.dumps(RECORD | {"attempt_number": 3}))
    assert reason is None
    assert row is not None
    assert row.attempt_number == 3


def test_a_record_from_before_retries_is_a_first_attempt() -> None:
    row, _ = problem_with(orjson.dumps(RECORD))
    assert row is not None
    assert row.attempt_number == 1


def test_a_number_past_uint8_is_refused_naming_it() -> None:
    row, reason = problem_with(orjson.dumps(RECORD | {"attempt_number": 256}))
    assert row is None
    assert reason is not None
    assert "attempt_number" in reason
