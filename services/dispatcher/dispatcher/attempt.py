"""The attempt of one postback as the dispatcher builds it, and its bytes on `postbacks.attempts`.

The contract is `postbacks.attempts.AttemptRecord` (design §6): the log-writer, the query-api
and their tests decode these bytes with it. Building and serialising that pydantic model cost
about 10 µs per postback, a visible share of the hot path, so the dispatcher fills this plain
dataclass (same field names, same order) and lets orjson write it. orjson writes UUIDs,
enums, datetimes (UTC as `Z`) and strings exactly as pydantic-core does; a property test
(tests/dispatcher/test_attempt_encoding.py) holds the two byte for byte on generated records.
The values come from our own code (validated inputs, HTTP status codes, clocks), so the
model's bounds hold without validating each record again.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson

from postbacks.attempts import AttemptRecord, AttemptStatus, HttpMethod, PostbackType, Trigger

_OPTIONS = orjson.OPT_UTC_Z
_IDS_PER_READ = 256
_VERSION_4 = (~(0xF000 << 64) & ~(0xC000 << 48), (0x4000 << 64) | (0x8000 << 48))


class AttemptIds:
    """Random (version 4) UUIDs, from one `os.urandom` read per 256 of them.

    `uuid.uuid4()` reads 16 bytes per call, and CPython releases the GIL around that read:
    while pyreqwest was the HTTP client (its own thread, until 2026-11-29), the loop's thread
    handed the GIL to that thread once per postback and then waited to get it back (py-spy:
    ~5 % of the loop's time at uuid4, mostly without the GIL). One read per 256 still saves
    the system calls. The bytes are the same kernel randomness, read in bulk."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def new(self) -> UUID:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(16 * _IDS_PER_READ), 0
        self._at = at + 16
        clear, version = _VERSION_4
        return UUID(int=int.from_bytes(self._pool[at : at + 16]) & clear | version)


@dataclass(slots=True)
class Attempt:
    attempt_id: UUID
    attempted_at: datetime
    status: AttemptStatus
    postback_id: UUID
    postback_name: str
    postback_type: PostbackType
    offer_id: int
    publisher_id: int
    event_id: str
    transaction_id: str
    response_code: int
    url: str
    method: HttpMethod
    error: str
    server_response: str
    latency_ms: int
    trigger: Trigger
    refire_of: UUID | None
    attempt_number: int
    source: str

    def to_json(self) -> bytes:
        """The record's value on `postbacks.attempts`: AttemptRecord's JSON, byte for byte."""
        return orjson.dumps(self, option=_OPTIONS)

    def record(self) -> AttemptRecord:
        """The same attempt as the validated contract model (tests, and anything not hot)."""
        return AttemptRecord.model_validate(
            {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        )
