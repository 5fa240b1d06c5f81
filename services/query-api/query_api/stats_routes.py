"""/api/v1/stats: failure rates for dashboards, from the rollups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from query_api.dependencies import LogReads
from query_api.errors import BadRequest
from query_api.failure_stats import failure_rates, parse_stats_query
from query_api.logs.filters import InvalidLogQuery

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get(
    "/failure-rate",
    description=(
        "Attempts, failures, failure_rate and avg_latency_ms per time bucket and group, oldest "
        "first. `group_by`: publisher (default), offer, postback, response_code. `bucket`: "
        "minute, hour (default), day. Filters as on /api/v1/logs for status, postback_name, "
        "publisher_id, offer_id, response_code; `from`/`to` (RFC 3339, minute resolution)."
    ),
)
async def failure_rate(request: Request, store: LogReads) -> dict[str, Any]:
    try:
        query = parse_stats_query(request.query_params.multi_items())
        items = await failure_rates(store, query)
    except InvalidLogQuery as exc:
        raise BadRequest(str(exc)) from exc
    return {"group_by": query.group_by, "bucket": query.bucket, "items": items}
