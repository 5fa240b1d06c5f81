"""The attempt record: one per postback attempt (design §6)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

UINT64_MAX = 2**64 - 1  # offer_id and publisher_id are UInt64 columns
SERVER_RESPONSE_LIMIT = 4096  # bytes of the answer's body kept (then marked as cut)
TRUNCATION_MARK = "…[truncated]"
# The most characters a rendered URL may have: a longer one is not sent (most servers refuse
# past 8 KiB) and fails with an error that says so.
URL_LIMIT = 16_384
# The most characters each text column of an attempt holds. The dispatcher clips what it writes
# to these (marked as cut; `source` needs no clip: the input's own bounds keep it under its
# limit), and the log-writer refuses a record past them. A record the dispatcher writes is so at
# most about 500 KB (source's 150,000 characters, the rest clipped), under the broker's 1 MB
# default; a broker set lower is met by outputs.py, which publishes a refused one slimmed down.
TEXT_LIMITS: dict[str, int] = {
    "postback_name": 200,  # configs.py's bound on a configuration's name
    "event_id": 256,  # inputs.py's bound on ids
    "transaction_id": 256,
    "url": URL_LIMIT,
    "error": 2048,
    "server_response": SERVER_RESPONSE_LIMIT + len(TRUNCATION_MARK),
    # The input as JSON: its fields are bounded by inputs.py (23 texts of 1,024 characters, two
    # ids of 256, amounts of at most 40 digits), and escaping at most sextuples a character.
    "source": 150_000,
}


def clipped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked, when it is longer."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


class AttemptStatus(StrEnum):
    SUCCESS = "Success"
    FAILED = "Failed"


class PostbackType(StrEnum):
    CLICK = "Click"
    CONVERSION = "Conversion"
    EVENT = "Event"


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class Trigger(StrEnum):
    AUTO = "auto"
    REFIRE = "refire"
    TEST = "test"


class AttemptRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempt_id: UUID
    attempted_at: datetime
    status: AttemptStatus
    postback_id: UUID
    postback_name: Annotated[str, Field(max_length=TEXT_LIMITS["postback_name"])]
    postback_type: PostbackType
    offer_id: Annotated[int, Field(ge=0, le=UINT64_MAX)]
    publisher_id: Annotated[int, Field(ge=0, le=UINT64_MAX)]
    event_id: Annotated[str, Field(max_length=TEXT_LIMITS["event_id"])] = ""
    transaction_id: Annotated[str, Field(max_length=TEXT_LIMITS["transaction_id"])]
    response_code: Annotated[int, Field(ge=0, le=65535)]
    url: Annotated[str, Field(max_length=TEXT_LIMITS["url"])]
    method: HttpMethod = HttpMethod.GET
    error: Annotated[str, Field(max_length=TEXT_LIMITS["error"])] = ""
    server_response: Annotated[str, Field(max_length=TEXT_LIMITS["server_response"])] = ""
    latency_ms: Annotated[int, Field(ge=0)]
    trigger: Trigger = Trigger.AUTO
    refire_of: UUID | None = None
    # 1 for the first attempt of a postback, 2.. for the retries of a retry policy (configs.py).
    attempt_number: Annotated[int, Field(ge=1, le=255)] = 1
    source: str = Field(
        max_length=TEXT_LIMITS["source"],
        description="the input message as JSON, so a re-fire can render again",
    )
