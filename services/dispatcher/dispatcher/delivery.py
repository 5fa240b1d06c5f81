"""Fires one postback and describes what happened as an AttemptRecord (design §5, §6)."""

from __future__ import annotations

import asyncio
import time
import uuid
from uuid import UUID

import httpx

from dispatcher.failures import describe_failure
from dispatcher.rendering import render
from postbacks.attempts import (
    SERVER_RESPONSE_LIMIT,
    TRUNCATION_MARK,
    AttemptRecord,
    AttemptStatus,
    Trigger,
)
from postbacks.clock import now_ms
from postbacks.configs import PostbackConfig
from postbacks.inputs import ClickInput, EventInput

USER_AGENT = "Postbacks/0.1 (+https://github.com/postbacks)"
ATTEMPT_HEADER = b"X-Postback-Attempt-Id"


def build_client(max_connections: int = 512) -> httpx.AsyncClient:
    """One client per process: connection pools are shared by every postback."""
    return httpx.AsyncClient(
        follow_redirects=False,  # a 3xx is a Failed attempt naming the target (design §5)
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=128),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,  # never route publishers' postbacks through a proxy from the environment
    )


async def _read_capped(response: httpx.Response) -> str:
    """The first SERVER_RESPONSE_LIMIT bytes of the body; the rest is never read."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > SERVER_RESPONSE_LIMIT:
            text = bytes(body[:SERVER_RESPONSE_LIMIT]).decode("utf-8", errors="replace")
            return text + TRUNCATION_MARK
    return bytes(body).decode("utf-8", errors="replace")


class Deliverer:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def fire(
        self,
        config: PostbackConfig,
        message: ClickInput,
        *,
        trigger: Trigger = Trigger.AUTO,
        attempt_id: UUID | None = None,
        refire_of: UUID | None = None,
    ) -> AttemptRecord:
        """Send one postback; every outcome, failures included, comes back as a record."""
        attempt_id = attempt_id or uuid.uuid4()
        rendered = render(config, message, attempt_id)
        url = rendered.url
        attempted_at = now_ms()
        started = time.perf_counter()
        code, error, body = 0, "", ""
        try:
            # One deadline for connect, headers and body together: a publisher that drips its
            # answer byte by byte cannot hold a delivery past timeout_ms.
            async with asyncio.timeout(config.timeout_ms / 1000):
                request = self._client.build_request(
                    config.method.value,
                    url,
                    headers=[*rendered.headers, (ATTEMPT_HEADER, str(attempt_id).encode())],
                    content=rendered.body,
                    timeout=config.timeout_ms / 1000,
                )
                response = await self._client.send(request, stream=True)
                try:
                    code = response.status_code
                    body = await _read_capped(response)
                finally:
                    await response.aclose()
        except Exception as exc:  # any failure to get an answer is logged, never raised
            error = describe_failure(exc, url, config.timeout_ms)
        else:
            error = _http_error(code, response)
        return AttemptRecord(
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


def _http_error(code: int, response: httpx.Response) -> str:
    if 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        target = response.headers.get("location", "(no Location header)")
        return f"HTTP {code} redirect to {target} (redirects are not followed)"
    return f"HTTP {code} {response.reason_phrase}".rstrip()
