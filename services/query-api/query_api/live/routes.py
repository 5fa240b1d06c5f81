"""The live view's route, GET /api/v1/logs/stream (design §7.7)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from query_api.dependencies import Confined, Limits, Live
from query_api.errors import BadRequest, error_responses
from query_api.live.hub import LiveLog
from query_api.live.limits import StreamLimits
from query_api.live.watcher import Watcher
from query_api.logs.cursor import CursorError, CursorPosition, decode_cursor
from query_api.logs.parameters import CURSOR_PATTERN, MAX_QUERY_PARAMETERS, filter_parameters
from query_api.logs.routes import confined_log_query

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])

_LAST_EVENT_ID = "Last-Event-ID"
_DEFAULT = StreamLimits()
_PARAMETERS = [
    *filter_parameters(),
    {
        "name": _LAST_EVENT_ID,
        "in": "header",
        "required": False,
        "description": (
            "The `id` of the last event a dropped stream got: the rows logged since are sent "
            "first (EventSource sends it when it reconnects)"
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": CURSOR_PATTERN},
    },
]
_ERRORS = error_responses(
    (
        400,
        "A filter that does not parse, `from`, `to`, `limit` or `cursor` (which do not apply), "
        "a Last-Event-ID this server did not send, too many parameters, or filters too large "
        "for the live view (code bad_request); a resumed stream's first read that would read "
        "more rows than one query may (code query_too_large)",
    ),
    (
        503,
        "As many live clients as the server serves at once, or as many different filters as "
        "its one read of the log holds (code too_many_streams, with Retry-After); a resumed "
        "stream's first read could not run (codes busy, query_too_slow)",
    ),
)


class EventStream(StreamingResponse):
    """A live client's stream; however it ends (the client went away, the server stops), the
    client's slot is freed."""

    media_type = "text/event-stream"

    def __init__(self, watcher: Watcher, live: LiveLog, ends_after: float | None) -> None:
        chunks = watcher.chunks() if ends_after is None else _until(watcher.chunks(), ends_after)
        # no-store: never cached; X-Accel-Buffering: nginx passes each event on at once.
        super().__init__(chunks, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._watcher = watcher
        self._live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._live.leave(self._watcher)


@router.get(
    "/stream",
    # Documented by hand: a response_class would make OpenAPI say text/event-stream for the
    # errors too, which are JSON.
    response_class=Response,
    responses={
        200: {
            "description": "Server-sent events, until the client closes the connection",
            "content": {EventStream.media_type: {"schema": {"type": "string"}}},
        },
        **_ERRORS,
    },
    openapi_extra={"parameters": _PARAMETERS},
    description=(
        "The attempts matching the filters as they are logged, as server-sent events: each one "
        "an event whose data is an item of GET /api/v1/logs (JSON, one line), newest first "
        f"within each read of the log (every {_DEFAULT.interval_seconds:g} s by default). Each "
        "event's `id` is a position in the log; a client that reconnects with it in "
        "`Last-Event-ID` is sent first the attempts logged since (at most "
        f"{_DEFAULT.resume_rows:,}, from at most {_DEFAULT.resume_window_hours:g} hours back). "
        "Besides attempts: `event: gap` (`{reason, message, skipped}`) when some were not "
        "shown (they are in the log), `event: warning` (`{message}`) when the log cannot be "
        "read for now, "
        f"and a `: heartbeat` comment after {_DEFAULT.heartbeat_seconds:g} s without events. An "
        f"attempt stored more than {_DEFAULT.lookback_seconds:g} s after its time is not shown "
        "live (POSTBACKS_API_STREAM_LOOKBACK_SECONDS). The filters of GET /api/v1/logs (`c=V`, "
        "`c__is_not=V`, `c__contains=V`), without `from`, `to`, `limit` or `cursor`; at most "
        f"{MAX_QUERY_PARAMETERS} query parameters."
    ),
)
async def stream_logs(
    request: Request, limits: Limits, live: Live, confinement: Confined
) -> EventStream:
    query = confined_log_query(
        request,
        limits,
        confinement,
        refused=("from", "to", "limit", "cursor"),
        why="the live view runs from now, or from the Last-Event-ID header, until it is closed",
    )
    resume = _resume_position(request.headers.get(_LAST_EVENT_ID))
    watcher = await live.watch(query.filters, resume)
    ends_after = live.limits.confined_stream_seconds if confinement.confined else None
    return EventStream(watcher, live, ends_after)


async def _until(chunks: AsyncGenerator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks` until `seconds` have passed (checked as each comes: a heartbeat at the latest),
    then the end of the body, which a client resumes from with Last-Event-ID."""
    deadline = asyncio.get_running_loop().time() + seconds
    async with contextlib.aclosing(chunks) as stream:
        async for chunk in stream:
            yield chunk
            if asyncio.get_running_loop().time() >= deadline:
                return


def _resume_position(last_event_id: str | None) -> CursorPosition | None:
    # EventSource sends no header rather than an empty one; an empty one means the same.
    if not last_event_id:
        return None
    try:
        return decode_cursor(last_event_id)
    except CursorError as exc:
        raise BadRequest(
            f"'{_LAST_EVENT_ID}' is not the id of an event this server sent ({exc}); "
            "reconnect without it to start from now"
        ) from exc
