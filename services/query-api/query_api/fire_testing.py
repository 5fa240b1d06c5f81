"""Test fire: send one postback now, through the dispatcher, and answer with its attempt.

The answer is read back from the attempt log, so a network that tests a new URL sees exactly
what the log will show for real conversions, having gone through the whole path (dispatcher,
postbacks.attempts, log-writer, ClickHouse).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from pydantic import ValidationError

from postbacks.attempts import PostbackType, Trigger
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ConversionStatus
from query_api.config_repository import check_usable
from query_api.confinement import UNCONFINED, Confinement, confined_to
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import ApiError, field_errors
from query_api.logs.reader import LogStore, read_attempt

# Beyond the postback's own timeout: the dispatcher's batch wait and the log-writer's flush.
PIPELINE_ALLOWANCE_S = 15.0
POLL_INTERVAL_S = 0.1


class FireTestTimeout(ApiError):
    status = 504
    code = "test_fire_timeout"


def sample_input(config: PostbackConfig, given: dict[str, Any] | None) -> dict[str, Any]:
    """A sensible input for this configuration, overridden field by field by `given`."""
    status = config.statuses[0]
    sample: dict[str, Any] = {
        "transaction_id": f"test-{uuid.uuid4().hex[:12]}",
        "offer_id": config.offer_id if config.offer_id is not None else 1,
        "publisher_id": config.publisher_id if config.publisher_id is not None else 1,
        "sub1": "test",
    }
    if config.type is not PostbackType.CLICK:
        sample |= {
            "click_id": "test-click", "status": status.value, "payout": "1.00",
            "revenue": "2.00", "sale_amount": "10.00", "currency": "USD",
        }  # fmt: skip
        if status is ConversionStatus.REJECTED:
            sample["rejection_reason"] = "test rejection"
    if config.type is PostbackType.EVENT:
        sample |= {"event_id": config.event_id or "test-event", "event_name": "test"}
    return sample | (given or {})


class FireTester:
    def __init__(self, publisher: DispatcherPublisher, store: LogStore) -> None:
        self._publisher = publisher
        self._store = store

    async def fire(
        self,
        config: PostbackConfig,
        given: dict[str, Any] | None,
        confinement: Confinement = UNCONFINED,
    ) -> dict[str, Any]:
        try:
            check_usable(config)
        except ValidationError as exc:
            raise field_errors(exc.errors(include_url=False)) from exc
        sample = sample_input(config, given)
        # The attempt is logged under the sample's publisher and offer: a confined token may
        # not write into another publisher's log.
        if outside := confinement.outside(sample):
            limits = confinement.columns()
            raise field_errors(
                [{"loc": ("sample", c), "msg": confined_to(c, limits[c])} for c in outside]
            )
        # The standard library's encoder writes what orjson refuses (an integer past 64 bits,
        # a lone surrogate, as an escape), so the input's own check below names the field.
        source = json.dumps(sample)
        try:
            request = FireRequest(
                attempt_id=uuid.uuid4(), trigger=Trigger.TEST, postback=config, source=source
            )
            request.input_message()  # refuse a bad sample here, not in the dispatcher's DLQ
        except ValidationError as exc:
            raise field_errors(
                [{**e, "loc": ("sample", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        except ValueError as exc:  # parse_input's own refusals (a lone surrogate), in words
            raise field_errors([{"loc": ("sample",), "msg": str(exc)}]) from exc
        await self._publisher.request_fire(request)
        return await wait_for_attempt(
            self._store, request.attempt_id, config.timeout_ms / 1000, "test fire", FireTestTimeout
        )


async def wait_for_attempt(
    store: LogStore,
    attempt_id: uuid.UUID,
    timeout_s: float,
    what: str,
    timeout_error: type[ApiError],
) -> dict[str, Any]:
    """The logged attempt of a fire request, polled until it appears; `timeout_error` if not."""
    deadline = time.monotonic() + timeout_s + PIPELINE_ALLOWANCE_S
    while time.monotonic() < deadline:
        record = await read_attempt(store, attempt_id)
        if record is not None:
            return record
        await asyncio.sleep(POLL_INTERVAL_S)
    raise timeout_error(
        f"the {what} was sent (attempt_id {attempt_id}) but no attempt was logged within "
        f"{timeout_s + PIPELINE_ALLOWANCE_S:.0f} s; check that the dispatcher and the "
        "log-writer are running (GET /readyz); it may still appear in /api/v1/logs"
    )
