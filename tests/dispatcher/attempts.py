"""An attempt for the dispatcher's tests, as delivery.py builds one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dispatcher.attempt import Attempt
from postbacks.attempts import AttemptStatus, HttpMethod, PostbackType, Trigger


def failed_attempt(server_response: str) -> Attempt:
    """A Failed attempt (HTTP 500, a 3 KB URL) with this answer."""
    return Attempt(
        attempt_id=str(uuid.uuid4()),
        attempted_at=datetime.now(UTC),
        status=AttemptStatus.FAILED,
        postback_id=uuid.uuid4(),
        postback_name="pb",
        postback_type=PostbackType.CONVERSION,
        offer_id=1,
        publisher_id=1,
        event_id="",
        transaction_id="tx",
        response_code=500,
        url="http://pub.example/pb?" + "q" * 3000,
        method=HttpMethod.GET,
        error="HTTP 500 Internal Server Error",
        server_response=server_response,
        latency_ms=3,
        trigger=Trigger.AUTO,
        refire_of=None,
        attempt_number=1,
        source='{"transaction_id": "tx"}',
    )
