"""The attempt of one postback as the dispatcher builds it, and its bytes on `postbacks.attempts`.

The contract is `postbacks.attempts.AttemptRecord` (design §6): the log-writer, the query-api
and their tests decode these bytes with it. Building and serialising that pydantic model cost
about 10 µs per postback, a visible share of the hot path, so the dispatcher fills a plain
dataclass generated from it (attempt_fields.py: same field names, same order) and lets orjson
write it. orjson writes UUIDs, enums, datetimes (UTC as `Z`) and strings exactly as
pydantic-core does; a property test
(tests/dispatcher/test_attempt_encoding.py) holds the two byte for byte on generated records.
The values come from our own code (validated inputs, HTTP status codes, clocks), so the
model's bounds hold without validating each record again.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import orjson

from dispatcher.attempt_fields import AttemptFields
from postbacks.attempts import AttemptRecord

_OPTIONS = orjson.OPT_UTC_Z
_IDS_PER_READ = 256
# The variant nibble of a version 4 UUID is 8, 9, a or b: two random bits under a fixed "10".
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class AttemptIds:
    """Random (version 4) UUIDs as their canonical text, from one `os.urandom` read per 256.

    The text is all the hot path needs (the header, the {attempt_id} macro, the record's
    JSON, the Kafka key), and writing it straight from the random bytes costs a third of
    `str(uuid.uuid4())`, once per postback. `uuid.uuid4()` also reads 16 bytes per call; one
    read per 256 saves the system calls. The bytes are the same kernel randomness, read in bulk.
    """

    def __init__(self) -> None:
        self._pool = ""
        self._at = 0

    def new(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(16 * _IDS_PER_READ).hex(), 0
        self._at = at + 32
        h = self._pool[at : at + 32]
        # The 13th hex digit becomes the version (4), the 17th the variant, as uuid4 sets them.
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# A dataclass again (no new fields): orjson writes only a type that is one itself.
@dataclass(slots=True)
class Attempt(AttemptFields):
    def to_json(self) -> bytes:
        """The record's value on `postbacks.attempts`: AttemptRecord's JSON, byte for byte."""
        return orjson.dumps(self, option=_OPTIONS)

    def record(self) -> AttemptRecord:
        """The same attempt as the validated contract model (tests, and anything not hot)."""
        return AttemptRecord.model_validate(
            {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        )
