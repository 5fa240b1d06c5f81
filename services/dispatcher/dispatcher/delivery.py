"""Fires one postback and describes what happened as an Attempt (design §5, §6)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from dispatcher.attempt import Attempt, AttemptIds
from dispatcher.failures import DeliveryFailure, UrlTooLong
from dispatcher.http_client import HttpAnswer, PostbackHttpClient
from dispatcher.rendering import render
from postbacks.attempts import TEXT_LIMITS, URL_LIMIT, AttemptStatus, Trigger, clipped
from postbacks.clock import now_ms
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, EventInput

ATTEMPT_HEADER = b"X-Postback-Attempt-Id"
ERROR_LIMIT = TEXT_LIMITS["error"]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, once per postback
class Outcome:
    """An attempt and what the retry policy needs to judge it (retry_policy.py)."""

    attempt: Attempt
    failure: DeliveryFailure | None = None  # why there was no HTTP response
    retry_after: str | None = None  # the answer's Retry-After header


class Deliverer:
    def __init__(self, client: PostbackHttpClient) -> None:
        self._client = client
        self._ids = AttemptIds()

    def fire_job(
        self,
        config: PostbackConfig,
        message: ClickInput,
        request: FireRequest | None,
        attempt_number: int = 1,
    ) -> Coroutine[Any, Any, Outcome]:
        """An input's postback (its `attempt_number`th attempt), or a test fire / re-fire with
        its own attempt id. (Not a coroutine itself: `send`'s is returned, one frame fewer to
        resume when the answer comes.)"""
        if request is None:
            return self.send(config, message, attempt_number=attempt_number)
        return self.send(
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
        error: str,
        request: FireRequest | None,
        attempt_number: int = 1,
        *,
        rendered: bool = True,
    ) -> Attempt:
        """The Failed attempt of a postback that was never sent (e.g. its host is overloaded),
        with its URL as rendered, or as configured when rendering itself failed."""
        attempt_id = str(request.attempt_id) if request else self._ids.new()
        url = render(config, message, attempt_id).url if rendered else config.url
        return _attempt(
            config,
            message,
            attempt_id=attempt_id,
            attempted_at=now_ms(),
            started=time.perf_counter(),
            url=url,
            outcome=(0, error, ""),
            trigger=request.trigger if request else Trigger.AUTO,
            refire_of=request.refire_of if request else None,
            attempt_number=attempt_number,
        )

    async def send(
        self,
        config: PostbackConfig,
        message: ClickInput,
        *,
        trigger: Trigger = Trigger.AUTO,
        attempt_id: UUID | None = None,
        refire_of: UUID | None = None,
        attempt_number: int = 1,
    ) -> Outcome:
        """Send one postback. Every outcome, failures included, comes back as an attempt record,
        with what the retry policy needs to judge it."""
        attempt_text = self._ids.new() if attempt_id is None else str(attempt_id)
        rendered = render(config, message, attempt_text)
        headers = rendered.headers
        headers.append((ATTEMPT_HEADER, attempt_text.encode()))
        attempted_at = now_ms()
        started = time.perf_counter()
        code, error, body = 0, "", ""
        failure: DeliveryFailure | None = None
        retry_after: str | None = None
        try:
            if len(rendered.url) > URL_LIMIT:
                raise UrlTooLong(len(rendered.url), URL_LIMIT)
            answer = await self._client.send(
                config.method.value,
                rendered.url,
                headers,
                rendered.body,
                connect_timeout_ms=min(config.connect_timeout_ms, config.timeout_ms),
                timeout_ms=config.timeout_ms,
            )
        except DeliveryFailure as exc:
            failure, error = exc, str(exc)
        else:
            code, body, error = answer.status, answer.body, http_error(answer)
            retry_after = answer.retry_after
        attempt = _attempt(
            config,
            message,
            attempt_id=attempt_text,
            attempted_at=attempted_at,
            started=started,
            url=rendered.url,
            outcome=(code, error, body),
            trigger=trigger,
            refire_of=refire_of,
            attempt_number=attempt_number,
        )
        return Outcome(attempt, failure, retry_after)


def _attempt(
    config: PostbackConfig,
    message: ClickInput,
    *,
    attempt_id: str,
    attempted_at: datetime,
    started: float,
    url: str,
    outcome: tuple[int, str, str],
    trigger: Trigger,
    refire_of: UUID | None,
    attempt_number: int,
) -> Attempt:
    code, error, body = outcome
    # The two texts that can come long from outside (a URL rendered from long values, an
    # error naming a long Location header): clipped, so the record always fits the topic.
    if len(url) > URL_LIMIT:
        url = clipped(url, URL_LIMIT)
    if len(error) > ERROR_LIMIT:
        error = clipped(error, ERROR_LIMIT)
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
        attempt_number=attempt_number,
        source=source_json(message),
    )


def source_json(message: ClickInput) -> str:
    """`message.model_dump_json(exclude_none=True)`, through pydantic-core's serializer
    directly: the same bytes, without the wrapper's handling of a dozen unused options, which
    cost a fifth of the call once per postback."""
    serializer = type(message).__pydantic_serializer__
    return serializer.to_json(message, exclude_none=True).decode()


def http_error(answer: HttpAnswer) -> str:
    """The `error` of an attempt that got an HTTP answer: empty for 2xx."""
    code = answer.status
    if 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        target = answer.location or "(no Location header)"
        return f"HTTP {code} redirect to {target} (redirects are not followed)"
    return f"HTTP {code} {answer.reason}".rstrip()
