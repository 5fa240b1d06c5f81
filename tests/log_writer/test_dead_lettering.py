"""A dead letter the producer or the broker refuses for its size is cut, not fatal to the loop."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from log_writer.dead_lettering import CUT_BYTES, publish_dead_letters
from postbacks import topics
from postbacks.dead_letters import dead_letter
from tests.log_writer.records import Consumed

# Both below the size of the letters built here, as a broker configured below the default
# 1 MB would be; a cut letter fits both.
REQUEST_LIMIT = 300_000
BROKER_LIMIT = 200_000


class Producer:
    """aiokafka's producer as publish_dead_letters uses it: `send` refuses a message past
    `request_limit` itself (max_request_size), and the broker refuses one past `broker_limit`
    through the future `send` returns."""

    def __init__(self, *, request_limit: int, broker_limit: int, failure: Exception | None = None):
        self.request_limit = request_limit
        self.broker_limit = broker_limit
        self.failure = failure
        self.attempted: list[bytes] = []
        self.published: list[bytes] = []

    async def send(self, topic: str, value: bytes) -> asyncio.Future[Any]:
        assert topic == topics.DLQ
        self.attempted.append(value)
        if len(value) > self.request_limit:
            raise MessageSizeTooLargeError("larger than max_request_size (injected)")
        sent: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failure is not None:
            sent.set_exception(self.failure)
        elif len(value) > self.broker_limit:
            sent.set_exception(MessageSizeTooLargeError("larger than message.max.bytes"))
        else:
            self.published.append(value)
            sent.set_result(None)
        return sent


def letter_of(value: bytes, offset: int) -> bytes:
    return dead_letter(Consumed(value, offset=offset), reason="bad record", service="log-writer")


async def test_letters_that_fit_are_published_as_they_are() -> None:
    producer = Producer(request_limit=REQUEST_LIMIT, broker_limit=BROKER_LIMIT)
    letters = [letter_of(b"small", 1), letter_of(b"x" * 20_000, 2)]
    await publish_dead_letters(producer, letters)
    assert producer.published == letters


@pytest.mark.parametrize(
    ("value", "refused_by"),
    [
        # Raw control bytes: the letter's text escapes each as \u0001, six bytes for one.
        (b"\x01" * 60_000, "the producer"),
        (b"\x01" * 34_000, "the broker"),
    ],
)
async def test_a_letter_too_large_is_published_cut(value: bytes, refused_by: str) -> None:
    small = letter_of(b"small", 1)
    large = letter_of(value, 2)
    if refused_by == "the producer":
        assert len(large) > REQUEST_LIMIT
    else:
        assert BROKER_LIMIT < len(large) <= REQUEST_LIMIT
    producer = Producer(request_limit=REQUEST_LIMIT, broker_limit=BROKER_LIMIT)

    await publish_dead_letters(producer, [small, large])

    assert producer.published[0] == small
    [cut] = [orjson.loads(d) for d in producer.published[1:]]
    assert (cut["topic"], cut["partition"], cut["offset"]) == ("postbacks.attempts", 0, 2)
    assert cut["reason"].startswith("bad record [its dead letter, ")
    assert "postbacks.attempts[0]@2" in cut["reason"]
    assert base64.b64decode(cut["value_base64"]) == value[:CUT_BYTES]
    assert cut["value_text"] == value.decode()[:CUT_BYTES]
    assert cut["value_bytes"] == len(value)
    assert cut["value_truncated"] is True


async def test_a_broker_that_cannot_be_reached_is_not_taken_for_a_refusal() -> None:
    """The batch must then stay uncommitted, to be read again: the failure is raised."""
    producer = Producer(
        request_limit=REQUEST_LIMIT, broker_limit=BROKER_LIMIT, failure=KafkaTimeoutError()
    )
    letter = letter_of(b"small", 1)
    with pytest.raises(KafkaTimeoutError):
        await publish_dead_letters(producer, [letter])
    assert producer.attempted == [letter]  # not sent again cut, as if it were too large


async def test_a_letter_refused_even_cut_is_published_without_the_records_bytes() -> None:
    producer = Producer(request_limit=REQUEST_LIMIT, broker_limit=2_000)
    await publish_dead_letters(producer, [letter_of(b"y" * 50_000, 7)])
    [published] = [orjson.loads(v) for v in producer.published]
    assert published["offset"] == 7
    assert published["reason"].startswith("bad record")
    assert published["value_bytes"] == 50_000
    assert published["value_truncated"] is True
    assert (published["value_base64"], published["value_text"]) == (None, None)
