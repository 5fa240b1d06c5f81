"""Generated from postbacks.attempts.AttemptRecord by `python -m postbacks_cli.attempt_codegen`.

Do not edit. The attempt record's fields, in its order, as the dispatcher fills them
(attempt.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from postbacks.attempts import AttemptStatus, HttpMethod, PostbackType, Trigger


@dataclass(slots=True)
class AttemptFields:
    attempt_id: str
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
