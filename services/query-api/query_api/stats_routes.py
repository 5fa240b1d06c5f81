"""/api/v1/stats: failure rates for dashboards, from the rollups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request

from query_api.dependencies import Confined, LogReads
from query_api.errors import BadRequest, error_responses
from query_api.failure_stats import (
    BUCKET_SECONDS,
    GROUP_COLUMNS,
    MAX_BUCKETS,
    MAX_ROWS,
    ROLLUP_FILTERS,
    failure_rates,
    parse_stats_query,
)
from query_api.logs.filters import InvalidLogQuery
from query_api.logs.parameters import choice_parameter, filter_parameters, time_parameters

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

_PARAMETERS = [
    choice_parameter("group_by", GROUP_COLUMNS, "publisher", "What each point is for"),
    choice_parameter("bucket", BUCKET_SECONDS, "hour", "The time each point covers"),
    *filter_parameters(ROLLUP_FILTERS),
    *time_parameters(
        f". At most {MAX_BUCKETS} buckets from `from` to `to` (or now), counted over the 24 "
        "hours before `to` when `from` is left out"
    ),
]


@router.get(
    "/failure-rate",
    responses=error_responses(
        (
            400,
            "A parameter the API cannot take (a value that does not parse, `from` not before "
            f"`to`, more than {MAX_BUCKETS} buckets, a filter on a column stats do not keep), "
            f"or an answer of more than {MAX_ROWS} points; the message names the fix",
        ),
        503,
    ),
    openapi_extra={"parameters": _PARAMETERS},
    description=(
        "Attempts, failures, failure_rate and avg_latency_ms per time bucket and group, oldest "
        "first. `group_by`: publisher (default), offer, postback, response_code. `bucket`: "
        "minute, hour (default), day. Filters as on /api/v1/logs for status, postback_name, "
        "publisher_id, offer_id, response_code; `from`/`to` (RFC 3339, minute resolution)."
    ),
)
async def failure_rate(request: Request, store: LogReads, confinement: Confined) -> dict[str, Any]:
    try:
        query = parse_stats_query(request.query_params.multi_items())
        confined = replace(query, filters=confinement.query(query.filters))
        items = await failure_rates(store, confined)
    except InvalidLogQuery as exc:
        raise BadRequest(str(exc)) from exc
    return {"group_by": query.group_by, "bucket": query.bucket, "items": items}
