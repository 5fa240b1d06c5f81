"""/api/v1/logs: the attempt log, filtered and paged, counted, or exported as CSV (design §7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from query_api.confinement import Confinement
from query_api.dependencies import Confined, Limits, LogReads, Lookups
from query_api.errors import BadRequest, NotFound, error_responses
from query_api.guardrails import QueryLimits, within_window
from query_api.logs.counts import count_logs
from query_api.logs.export import export_filename, start_export
from query_api.logs.filters import FILTERABLE_COLUMNS, InvalidLogQuery, LogQuery, parse_log_query
from query_api.logs.models import LogCount, LogPage, LogRecord
from query_api.logs.parameters import MAX_QUERY_PARAMETERS, WINDOW, log_parameters
from query_api.logs.reader import read_attempt, read_logs

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])

_FILTERS = (
    "Every column of the log page filters with `c=V` (is), `c__is_not=V` (is not) and "
    "`c__contains=V` (case-insensitive substring); a column may repeat. Columns: "
    f"{', '.join(FILTERABLE_COLUMNS)}. Also `from`, `to` (RFC 3339)"
)
# What the schemas of the parameters cannot say: the 400 a schema-valid query may still get.
_WINDOW = f". {WINDOW}. At most {MAX_QUERY_PARAMETERS} query parameters in all"
_QUERY_ERRORS = error_responses(
    (
        400,
        "A query the API cannot run, the message naming the parameter and the fix: a value "
        "that does not parse, `from` not before `to`, a from..to wider than the server allows, "
        "a cursor this server did not make, a parameter that does not apply, too many "
        "parameters (code bad_request); or one that would read more rows than one query may "
        "(code query_too_large)",
    ),
    503,
)


class CsvResponse(StreamingResponse):
    """A streamed CSV body."""

    media_type = "text/csv"


@router.get(
    "",
    responses=_QUERY_ERRORS,
    openapi_extra={"parameters": log_parameters(paging=True, window=_WINDOW)},
    description=(
        f"Newest first. {_FILTERS}, `limit` (1-1000, default 50) and `cursor` (the previous "
        "`next_cursor`)."
    ),
)
async def list_logs(
    request: Request, store: LogReads, limits: Limits, confinement: Confined
) -> LogPage:
    page = await read_logs(store, confined_log_query(request, limits, confinement))
    return LogPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


# /count and /export.csv come before /{attempt_id}, which would otherwise take "count" as an id.
@router.get(
    "/count",
    responses=_QUERY_ERRORS,
    openapi_extra={"parameters": log_parameters(paging=False, window=_WINDOW)},
    description=(
        '`{"count": N}`: how many attempts paging through /api/v1/logs would list. '
        f"{_FILTERS}; no `limit` or `cursor`."
    ),
)
async def logs_count(
    request: Request, store: LogReads, limits: Limits, confinement: Confined
) -> LogCount:
    query = confined_log_query(
        request,
        limits,
        confinement,
        refused=("limit", "cursor"),
        why="the count covers every page",
    )
    return LogCount(count=await count_logs(store, query))


@router.get(
    "/export.csv",
    # Documented by hand: a response_class would make OpenAPI say text/csv for the errors too,
    # which are JSON.
    response_class=Response,
    responses={
        200: {
            "description": "The CSV file, streamed",
            "content": {CsvResponse.media_type: {"schema": {"type": "string"}}},
            "headers": {
                "Content-Disposition": {
                    "required": True,
                    "description": 'attachment; filename="postbacks-logs-20261128T010203Z.csv"',
                    "schema": {"type": "string"},
                }
            },
        },
        **_QUERY_ERRORS,
    },
    openapi_extra={"parameters": log_parameters(paging=False, window=_WINDOW)},
    description=(
        "Every matching attempt as a CSV download (UTF-8 with BOM), newest first, with the "
        "columns of the log page. Cells starting with =, +, -, @, |, %, their full-width forms, "
        "or any whitespace or control character get a leading ' so spreadsheets do not run "
        f"them as formulas. {_FILTERS}; no `limit` or `cursor`."
    ),
)
async def logs_export(
    request: Request, store: LogReads, limits: Limits, confinement: Confined
) -> CsvResponse:
    query = confined_log_query(
        request, limits, confinement, refused=("limit", "cursor"), why="the export holds every row"
    )
    # Validated and the first page read before the status line: errors still get a 4xx/5xx.
    chunks = await start_export(store, query)
    disposition = f'attachment; filename="{export_filename(datetime.now(UTC))}"'
    return CsvResponse(chunks, headers={"Content-Disposition": disposition})


@router.get("/{attempt_id}", responses=error_responses(404, 422, 503))
async def read_log(attempt_id: UUID, store: Lookups, confinement: Confined) -> LogRecord:
    record = await read_attempt(store, attempt_id)
    # One outside the token's confinement answers as one that does not exist.
    if record is None or not confinement.admits(record):
        raise NotFound(f"no attempt with attempt_id {attempt_id}")
    return LogRecord.model_validate(record)


def confined_log_query(
    request: Request,
    limits: QueryLimits,
    confinement: Confinement,
    refused: Sequence[str] = (),
    why: str = "",
) -> LogQuery:
    """The request's log query, confined, or BadRequest naming the parameter to fix: the log
    routes', the histogram's and the live view's."""
    pairs = request.query_params.multi_items()
    query = checked_log_query(pairs, limits, refused=refused, applies_to=request.url.path, why=why)
    return confinement.query(query)


def checked_log_query(
    pairs: Sequence[tuple[str, str]],
    limits: QueryLimits,
    *,
    refused: Sequence[str] = (),
    applies_to: str = "",
    why: str = "",
) -> LogQuery:
    """The log query of `pairs` within the limits' window, or BadRequest naming the parameter
    to fix: too many of them, one in `refused` (it does not apply to `applies_to`, `why`), or
    one the filter language refuses. The log routes and a re-fire's selection share it."""
    if len(pairs) > MAX_QUERY_PARAMETERS:
        raise BadRequest(
            f"too many query parameters ({len(pairs)}); send at most {MAX_QUERY_PARAMETERS}"
        )
    for key, _ in pairs:
        if key in refused:
            raise BadRequest(f"'{key}' does not apply to {applies_to} ({why}); leave it out")
    try:
        query = parse_log_query(pairs)
    except InvalidLogQuery as exc:
        raise BadRequest(str(exc)) from exc
    return within_window(query, limits)
