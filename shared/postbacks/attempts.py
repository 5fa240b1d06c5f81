"""The attempt record: one per postback attempt (design §6)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

SERVER_RESPONSE_LIMIT = 4096
TRUNCATION_MARK = "…[truncated]"


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
    postback_name: str
    postback_type: PostbackType
    offer_id: Annotated[int, Field(ge=0)]
    publisher_id: Annotated[int, Field(ge=0)]
    event_id: str = ""
    transaction_id: str
    response_code: Annotated[int, Field(ge=0, le=65535)]
    url: str
    method: HttpMethod = HttpMethod.GET
    error: str = ""
    server_response: str = ""
    latency_ms: Annotated[int, Field(ge=0)]
    trigger: Trigger = Trigger.AUTO
    refire_of: UUID | None = None
    # 1 for the first attempt of a postback, 2.. for the retries of a retry policy (configs.py).
    attempt_number: Annotated[int, Field(ge=1, le=255)] = 1
    source: str = Field(description="the input message as JSON, so a re-fire can render again")
