"""Fires one postback and describes what happened as an Attempt (design §5, §6)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from uuid import UUID

from dispatcher.attempt import Attempt
from dispatcher.failures import DeliveryFailure
from dispatcher.http_client import HttpAnswer, PostbackHttpClient
from dispatcher.rendering import render
from postbacks.attempts import AttemptStatus, Trigger
from postbacks.clock import now_ms
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, EventInput

ATTEMPT_HEADER = "X-Postback-Attempt-Id"


class Deliverer:
    def __init__(self, client: PostbackHttpClient) -> None:
        self._client = client

    async def fire_job(
        self, config: PostbackConfig, message: ClickInput, request: FireRequest | None
    ) -> Attempt:
        """An input's postback, or a test fire / re-fire with its own attempt id."""
        if request is None:
            return await self.fire(config, message)
        return await self.fire(
            config,
            message,
            trigger=request.trigger,
            attempt_id=request.attempt_id,
            refire_of=request.refire_of,
        )

    def unsent(
        self,
        config: PostbackConfig,
        message: ClickInput,
        failure: DeliveryFailure,
        request: FireRequest | None,
    ) -> Attempt:
        """The Failed attempt of a postback that was never sent (e.g. its host is overloaded)."""
        attempt_id = request.attempt_id if request else uuid.uuid4()
        url = render(config, message, attempt_id).url
        return _attempt(
            config,
            message,
            attempt_id=attempt_id,
            attempted_at=now_ms(),
            started=time.perf_counter(),
            url=url,
            outcome=(0, str(failure), ""),
            trigger=request.trigger if request else Trigger.AUTO,
            refire_of=request.refire_of if request else None,
        )

    async def fire(
        self,
        config: PostbackConfig,
        message: ClickInput,
        *,
        trigger: Trigger = Trigger.AUTO,
        attempt_id: UUID | None = None,
        refire_of: UUID | None = None,
    ) -> Attempt:
        """Send one postback; every outcome, failures included, comes back as a record."""
        attempt_id = attempt_id or uuid.uuid4()
        rendered = render(config, message, attempt_id)
        headers = [(name.decode(), value.decode()) for name, value in rendered.headers]
        headers.append((ATTEMPT_HEADER, str(attempt_id)))
        attempted_at = now_ms()
        started = time.perf_counter()
        code, error, body = 0, "", ""
        try:
            answer = await self._client.send(
                config.method.value,
                rendered.url,
                headers,
                rendered.body,
                connect_timeout_ms=min(config.connect_timeout_ms, config.timeout_ms),
                timeout_ms=config.timeout_ms,
            )
        except DeliveryFailure as failure:
            error = str(failure)
        else:
            code, body, error = answer.status, answer.body, http_error(answer)
        return _attempt(
            config,
            message,
            attempt_id=attempt_id,
            attempted_at=attempted_at,
            started=started,
            url=rendered.url,
            outcome=(code, error, body),
            trigger=trigger,
            refire_of=refire_of,
        )


def _attempt(
    config: PostbackConfig,
    message: ClickInput,
    *,
    attempt_id: UUID,
    attempted_at: datetime,
    started: float,
    url: str,
    outcome: tuple[int, str, str],
    trigger: Trigger,
    refire_of: UUID | None,
) -> Attempt:
    code, error, body = outcome
    return Attempt(
        attempt_id=attempt_id,
        attempted_at=attempted_at,
        status=AttemptStatus.SUCCESS if 200 <= code < 300 else AttemptStatus.FAILED,
        postback_id=config.id,
        postback_name=config.name,
        postback_type=config.type,
        offer_id=message.offer_id,
        publisher_id=message.publisher_id,
        event_id=message.event_id if isinstance(message, EventInput) else "",
        transaction_id=message.transaction_id,
        response_code=code,
        url=url,
        method=config.method,
        error=error,
        server_response=body,
        latency_ms=round((time.perf_counter() - started) * 1000),
        trigger=trigger,
        refire_of=refire_of,
        source=message.model_dump_json(exclude_none=True),
    )


def http_error(answer: HttpAnswer) -> str:
    """The `error` of an attempt that got an HTTP answer: empty for 2xx."""
    code = answer.status
    if 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        target = answer.location or "(no Location header)"
        return f"HTTP {code} redirect to {target} (redirects are not followed)"
    return f"HTTP {code} {answer.reason}".rstrip()
