"""GET /api/v1/logs/histogram: attempts per time bucket and status for the log's filters.

Its own router, included before the log routes': their `/api/v1/logs/{attempt_id}` would
otherwise take "histogram" for an attempt id.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from query_api.dependencies import Confined, Limits, LogReads
from query_api.errors import error_responses
from query_api.failure_stats import ROLLUP_COLUMNS
from query_api.logs.histogram import (
    BUCKET_SIZES,
    MAX_BUCKETS,
    MIN_MINUTE_BUCKETS,
    Histogram,
    log_histogram,
)
from query_api.logs.parameters import MAX_QUERY_PARAMETERS, WINDOW, log_parameters
from query_api.logs.reader import format_time
from query_api.logs.routes import confined_log_query

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])


class HistogramItem(BaseModel):
    bucket: str = Field(description="Start of the bucket: RFC 3339 UTC, milliseconds")
    status: str = Field(description="Success or Failed")
    attempts: int = Field(description="Attempts of this status in the bucket, within from..to")


class LogHistogram(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bucket_seconds: int = Field(description="The length of every bucket")
    source: Literal["rollup", "log"] = Field(
        description="rollup: counted on the per-minute rollup; log: on the attempt log"
    )
    from_: str = Field(
        alias="from",
        description="The start of what is counted (inclusive): the request's `from` (or its "
        "default), moved back to the minute when the rollup counted",
    )
    to: str = Field(
        description="The end of what is counted (exclusive): the request's `to` (or now), "
        "moved forward to the minute when the rollup counted"
    )
    items: list[HistogramItem] = Field(
        description="Oldest bucket first; a bucket or status without attempts is left out. The "
        "first and last bucket count only what lies within from..to"
    )


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


_SIZES = ", ".join(_duration(s) for s in BUCKET_SIZES)


@router.get(
    "/histogram",
    responses=error_responses(
        (
            400,
            "A query the API cannot run, the message naming the parameter and the fix: a value "
            "that does not parse, `from` not before `to`, a from..to wider than the server "
            "allows, `limit` or `cursor`, too many parameters (code bad_request); or, counted on "
            "the log, one that would read more rows than one query may (code query_too_large)",
        ),
        503,
    ),
    openapi_extra={
        "parameters": log_parameters(
            paging=False,
            window=f". {WINDOW}. At most {MAX_QUERY_PARAMETERS} query parameters in all",
        )
    },
    description=(
        "How many attempts /api/v1/logs would list, per time bucket and status: where failures "
        "started. The same filters as /api/v1/logs, `from` and `to`; no `limit` or `cursor`. "
        f"The bucket is the smallest of {_SIZES} that gives at most {MAX_BUCKETS} buckets "
        f"(whole minutes when they give at least {MIN_MINUTE_BUCKETS}), aligned to the Unix "
        "epoch. Counted on the per-minute rollup when every filter is on one of "
        f"{', '.join(ROLLUP_COLUMNS)} and the bucket is whole minutes (`from` and `to` then go "
        "out to the minutes around them); otherwise on the log. `from` and `to` in the answer "
        "are what was counted."
    ),
)
async def logs_histogram(
    request: Request, store: LogReads, limits: Limits, confinement: Confined
) -> LogHistogram:
    query = confined_log_query(
        request,
        limits,
        confinement,
        refused=("limit", "cursor"),
        why="the histogram covers every page",
    )
    return _answer(await log_histogram(store, query))


def _answer(histogram: Histogram) -> LogHistogram:
    return LogHistogram(
        bucket_seconds=histogram.bucket_seconds,
        source=histogram.source,
        from_=format_time(histogram.from_ms),
        to=format_time(histogram.to_ms),
        items=[
            HistogramItem(bucket=format_time(b.bucket_ms), status=b.status, attempts=b.attempts)
            for b in histogram.bars
        ],
    )
