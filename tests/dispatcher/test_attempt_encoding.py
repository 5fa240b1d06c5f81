"""The dispatcher's fast attempt encoder writes AttemptRecord's JSON byte for byte.

The log-writer and the query-api decode `postbacks.attempts` with the pydantic model; the
dispatcher writes it with orjson from a plain dataclass (dispatcher/attempt.py). Generated
records, arbitrary text included, must come out identical both ways.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.attempt import Attempt, AttemptIds
from postbacks.attempts import AttemptRecord, AttemptStatus, HttpMethod, PostbackType, Trigger

# Lone surrogates cannot be written as UTF-8 by either encoder; everything else can.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
INTS = st.integers(min_value=0, max_value=2**63 - 1)
WHEN = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30))))

ATTEMPTS = st.builds(
    Attempt,
    attempt_id=st.uuids().map(str),
    attempted_at=WHEN,
    status=st.sampled_from(AttemptStatus),
    postback_id=st.uuids(),
    postback_name=TEXT,
    postback_type=st.sampled_from(PostbackType),
    offer_id=INTS,
    publisher_id=INTS,
    event_id=TEXT,
    transaction_id=TEXT,
    response_code=st.integers(min_value=0, max_value=65535),
    url=TEXT,
    method=st.sampled_from(HttpMethod),
    error=TEXT,
    server_response=TEXT,
    latency_ms=st.integers(min_value=0, max_value=2**32 - 1),
    trigger=st.sampled_from(Trigger),
    refire_of=st.none() | st.uuids(),
    attempt_number=st.integers(min_value=1, max_value=255),
    source=TEXT,
)


@settings(max_examples=300, deadline=None)
@given(attempt=ATTEMPTS)
def test_fast_encoding_equals_the_contract_models_json(attempt: Attempt) -> None:
    record = attempt.record()  # also: every generated value is valid for the contract
    assert attempt.to_json() == record.model_dump_json().encode()
    assert AttemptRecord.model_validate_json(attempt.to_json()) == record


def test_a_typical_attempt_and_its_utc_milliseconds() -> None:
    attempt = Attempt(
        attempt_id="00000000-0000-4000-8000-0000000000bb",
        attempted_at=datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC),
        status=AttemptStatus.FAILED,
        postback_id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
        postback_name='Acme é "quoted"',
        postback_type=PostbackType.CONVERSION,
        offer_id=7,
        publisher_id=42,
        event_id="",
        transaction_id="tx\n1",
        response_code=0,
        url="http://pub.example/pb?tx=tx%0A1",
        method=HttpMethod.GET,
        error="timeout: no complete response from pub.example within 300 ms",
        server_response="",
        latency_ms=300,
        trigger=Trigger.REFIRE,
        refire_of=None,
        attempt_number=2,
        source='{"transaction_id":"tx\\n1"}',
    )
    assert attempt.to_json() == attempt.record().model_dump_json().encode()
    assert b'"attempted_at":"2026-01-02T03:04:05.123000Z"' in attempt.to_json()
    assert b'"refire_of":null,"attempt_number":2,"source":' in attempt.to_json()


def test_attempt_ids_are_distinct_version_4_uuids_across_refills() -> None:
    ids = AttemptIds()
    texts = [ids.new() for _ in range(1000)]  # several reads of the random pool
    made = [uuid.UUID(text) for text in texts]
    assert [str(u) for u in made] == texts  # canonical: lower-case hex, dashes where uuid puts them
    assert len(set(made)) == len(made)
    assert {(u.version, u.variant) for u in made} == {(4, uuid.RFC_4122)}
    # Still random where uuid4 is: no bit of the 122 is stuck across the sample.
    ored = anded = made[0].int
    for u in made:
        ored, anded = ored | u.int, anded & u.int
    fixed = (0xF000 << 64) | (0xC000 << 48)
    assert ored | fixed == (1 << 128) - 1
    assert anded & ~fixed == 0
