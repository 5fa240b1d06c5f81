"""Publishing the dead letters of a batch so that one the broker refuses cannot stop the loop.

postbacks.dead_letters bounds a letter (it keeps the first KEPT_BYTES of the record's key and
value) below the 1 MB the producer and a broker take by default, not below every broker's
configured limit. A letter refused for its size is published again cut further: where the
record is, why it was refused, how many bytes it had and the first CUT_BYTES of them; refused
again, without any of them. The record itself stays at its topic, partition and offset until
retention removes it. Any other failure to publish (the broker is unreachable) is raised: the
batch is not committed, and is read again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from postbacks import topics
from postbacks.containment import record_name

log = logging.getLogger(__name__)

# What a cut letter keeps of the record: JSON escaping may sextuple a character of the text, so
# a cut letter stays below about 150 KB whatever the record held.
CUT_BYTES = 16_384
CUT_REASON_CHARS = 2_000


async def publish_dead_letters(producer: AIOKafkaProducer, letters: Sequence[bytes]) -> None:
    """Publish `letters` to the dead-letter topic; return once the broker holds every one."""
    sends = [await _send(producer, letter) for letter in letters]
    results = await asyncio.gather(*sends, return_exceptions=True)
    refused = _refused(letters, results)
    cut = [cut_letter(letter) for letter in refused]
    sends = [await producer.send(topics.DLQ, letter) for letter in cut]
    refused = _refused(cut, await asyncio.gather(*sends, return_exceptions=True))
    # Refused even cut (a broker limit of a few KB): where the record is and why, no bytes.
    await asyncio.gather(*[await producer.send(topics.DLQ, bare_letter(r)) for r in refused])


def _refused(letters: Sequence[bytes], results: Sequence[object]) -> list[bytes]:
    """The letters the broker refused for their size; any other failure is raised."""
    refused = []
    for letter, result in zip(letters, results, strict=True):
        if isinstance(result, MessageSizeTooLargeError):
            refused.append(letter)
        elif isinstance(result, BaseException):
            raise result
    return refused


async def _send(producer: AIOKafkaProducer, letter: bytes) -> asyncio.Future[Any]:
    try:
        sent: asyncio.Future[Any] = await producer.send(topics.DLQ, letter)
    except MessageSizeTooLargeError:  # the producer's own limit (max_request_size)
        sent = await producer.send(topics.DLQ, cut_letter(letter))
    return sent


def cut_letter(letter: bytes) -> bytes:
    """`letter` keeping only the first CUT_BYTES of its record's key and value.

    The letter is cut as it is, not built again: it is counted once (postbacks.dead_letters
    counts the letters it builds) and keeps what it says of the whole record (`value_bytes`).
    """
    fields: dict[str, Any] = orjson.loads(letter)
    value = _unbase64(fields.get("value_base64"))
    key = _unbase64(fields.get("key_base64"))
    text = fields.get("value_text")
    where = record_name(fields["topic"], fields["partition"], fields["offset"])
    fields["reason"] = (
        f"{str(fields['reason'])[:CUT_REASON_CHARS]} [its dead letter, {len(letter)} bytes, was "
        f"too large for {topics.DLQ}: cut to the first {CUT_BYTES} bytes of the record, which "
        f"is {where}]"
    )
    fields["key_base64"] = _base64(key)
    fields["value_base64"] = _base64(value)
    fields["value_text"] = text[:CUT_BYTES] if isinstance(text, str) else None
    fields["value_truncated"] = bool(fields.get("value_truncated")) or (
        value is not None and len(value) > CUT_BYTES
    )
    log.warning("dead letter of %s (%d bytes) cut: too large for the broker", where, len(letter))
    return orjson.dumps(fields)


def bare_letter(letter: bytes) -> bytes:
    """`letter` without any of its record's bytes: where the record is, why, and its size."""
    fields: dict[str, Any] = orjson.loads(letter)
    fields["reason"] = str(fields["reason"])[:CUT_REASON_CHARS]
    fields |= {"key_base64": None, "value_base64": None, "value_text": None}
    fields["value_truncated"] = fields.get("value_bytes") is not None
    return orjson.dumps(fields)


def _unbase64(text: object) -> bytes | None:
    return base64.b64decode(text) if isinstance(text, str) else None


def _base64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data[:CUT_BYTES]).decode()
