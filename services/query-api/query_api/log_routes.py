"""/api/v1/logs: the attempt log, filtered and paged (design §7)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request

from query_api.errors import BadRequest, NotFound
from query_api.log_filters import InvalidLogQuery, parse_log_query
from query_api.log_reader import read_attempt, read_logs

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])

# Bounds the size of the SQL one request can build (each value is one bound parameter).
MAX_QUERY_PARAMETERS = 200


@router.get(
    "",
    description=(
        "Newest first. Every column of the log page filters with `c=V` (is), `c__is_not=V` "
        "(is not) and `c__contains=V` (case-insensitive substring); a column may repeat. "
        "Columns: status, postback_name, postback_type, offer_id, publisher_id, event_id, "
        "transaction_id, response_code, url, error, server_response. Also `from`, `to` "
        "(RFC 3339), `limit` (1-1000, default 50) and `cursor` (the previous `next_cursor`)."
    ),
)
async def list_logs(request: Request) -> dict[str, Any]:
    pairs = request.query_params.multi_items()
    if len(pairs) > MAX_QUERY_PARAMETERS:
        raise BadRequest(
            f"too many query parameters ({len(pairs)}); send at most {MAX_QUERY_PARAMETERS}"
        )
    try:
        query = parse_log_query(pairs)
    except InvalidLogQuery as exc:
        raise BadRequest(str(exc)) from exc
    page = await read_logs(request.app.state.store, query)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{attempt_id}")
async def read_log(attempt_id: UUID, request: Request) -> dict[str, Any]:
    record = await read_attempt(request.app.state.store, attempt_id)
    if record is None:
        raise NotFound(f"no attempt with attempt_id {attempt_id}")
    return record
