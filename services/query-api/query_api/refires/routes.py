"""Re-fires over HTTP: one attempt, or every failure a log filter selects (a job).

    POST /api/v1/logs/{attempt_id}/refire      fire one attempt's input again (202, or 200 with
                                               the logged attempt when ?wait=true)
    POST /api/v1/refires?<log filters>         start a bulk job (202 {"job_id", ...});
                                               &dry_run=true answers {"count": N} only
    GET  /api/v1/refires                       the newest jobs
    GET  /api/v1/refires/{job_id}              one job: state and counts

Firing sends traffic to publishers, so the POSTs need postbacks:write; reading jobs needs
logs:read (they are a view of the log). build_app mounts the router with REFIRES.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from query_api.auth import LOGS_READ, POSTBACKS_WRITE, Access
from query_api.dependencies import AllServices, Confined, Limits, Refires
from query_api.errors import BadRequest, NotFound, error_responses
from query_api.fire_testing import wait_for_attempt
from query_api.guardrails import QueryLimits
from query_api.logs.filters import LogQuery
from query_api.logs.models import LogRecord
from query_api.logs.parameters import (
    MAX_QUERY_PARAMETERS,
    WINDOW,
    flag_parameter,
    log_parameters,
)
from query_api.logs.routes import checked_log_query
from query_api.refires.jobs import JobCounts, describe
from query_api.refires.requests import RefireTimeout, read_refirable, refire_request

REFIRES = Access(reading=(LOGS_READ,), writing=(POSTBACKS_WRITE,))

router = APIRouter(prefix="/api/v1", tags=["refires"])

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_NONE = JobCounts()


class RefireSent(BaseModel):
    attempt_id: UUID = Field(description="The new attempt, in the log once the dispatcher sent it")
    refire_of: UUID = Field(description="The attempt fired again")


class RefireJobStarted(BaseModel):
    job_id: UUID
    state: str = Field(description="queued, or done when nothing was selected")
    selected: int = Field(description="(transaction_id, postback_id) pairs it will fire")


class RefireDryRun(BaseModel):
    count: int = Field(description="(transaction_id, postback_id) pairs a job would fire")


_SELECTION_WINDOW = (
    f". {WINDOW}; without `to`, now is frozen when the job starts. At most "
    f"{MAX_QUERY_PARAMETERS} query parameters in all"
)


@router.post(
    "/logs/{attempt_id}/refire",
    status_code=202,
    responses={
        202: {"model": RefireSent, "description": "Sent to the dispatcher"},
        200: {"model": LogRecord, "description": "With `wait=true`: the new attempt, as logged"},
        **error_responses(
            (400, "A query parameter other than `wait`, or `wait` not true or false"),
            404,
            (
                409,
                "The configuration was deleted or fails today's checks, or the attempt has "
                "no stored input that fits it (code cannot_refire)",
            ),
            422,
            503,
            504,
        ),
    },
    openapi_extra={
        "parameters": [
            flag_parameter("wait", "Answer once the new attempt is logged (200), not at once")
        ]
    },
    description=(
        "Fire this attempt's stored input again, rendered by its configuration as it is now "
        "(a corrected URL is used), through the dispatcher. The new attempt is logged with "
        "trigger=refire and refire_of set. Answers 202 "
        '`{"attempt_id": <new id>, "refire_of": <this id>}`; with `?wait=true`, 200 and the '
        "logged attempt. A disabled configuration still fires (an explicit request); a "
        "deleted one is a 409."
    ),
)
async def refire_attempt(
    attempt_id: UUID, request: Request, services: AllServices, confinement: Confined
) -> Any:
    unknown = sorted(set(request.query_params) - {"wait"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; this endpoint takes only 'wait'")
    wait = _flag(request, "wait")
    store = services.lookup_store
    record = await read_refirable(store, attempt_id, confinement)
    postback_id = UUID(record["postback_id"])
    config = await services.postbacks.repository.get(postback_id)
    if config is not None and not confinement.admits_config(config):
        # Moved to another publisher since: its URL is no longer this token's to fire at.
        raise NotFound(f"no postback configuration with id {postback_id}")
    fire = refire_request(
        config,
        postback_id=postback_id,
        source=record["source"],
        refire_of=attempt_id,
        attempt_id=uuid.uuid4(),
    )
    await services.publisher.request_fire(fire)
    if wait:
        attempt = await wait_for_attempt(
            store, fire.attempt_id, fire.postback.timeout_ms / 1000, "re-fire", RefireTimeout
        )
        return JSONResponse(attempt, status_code=200)
    return JSONResponse(
        {"attempt_id": str(fire.attempt_id), "refire_of": str(attempt_id)}, status_code=202
    )


@router.post(
    "/refires",
    status_code=202,
    responses={
        202: {"model": RefireJobStarted, "description": "The job, queued"},
        200: {"model": RefireDryRun, "description": "With `dry_run=true`: how many it would fire"},
        **error_responses(
            (
                400,
                "A filter the API cannot run (as for GET /api/v1/logs; `limit` and `cursor` "
                "do not apply; code bad_request or query_too_large), or one that selects more "
                "pairs than one re-fire may fire (code too_many_pairs)",
            ),
            503,
        ),
    },
    openapi_extra={
        "parameters": [
            *log_parameters(paging=False, window=_SELECTION_WINDOW),
            flag_parameter("dry_run", "Only count the pairs it would fire; start nothing"),
        ]
    },
    description=(
        "Re-fire every (transaction_id, postback_id) pair that the log filters select (the "
        "parameters of GET /api/v1/logs, without limit and cursor; `from` defaults to 24 h "
        "ago and `to` to now, both frozen when the job starts). Each pair fires once, the "
        "input of its newest selected attempt, with its configuration as it is now; pairs "
        "that have a Success at or after that attempt are skipped, and so are test fires and "
        "disabled or deleted configurations. `dry_run=true` answers "
        '`{"count": N}` and starts nothing; otherwise 202 `{"job_id": ..., "selected": N}`. '
        "Follow the job at GET /api/v1/refires/{job_id}."
    ),
)
async def start_refire(
    request: Request, runner: Refires, limits: Limits, confinement: Confined
) -> Any:
    dry_run = _flag(request, "dry_run")
    filters, query = _selection(request, limits)
    if dry_run:
        return JSONResponse(
            {"count": await runner.dry_run(confinement.query(query))}, status_code=200
        )
    job = await runner.submit(filters, query, confinement)
    return JSONResponse(
        {"job_id": str(job.job_id), "state": job.state.value, "selected": job.selected},
        status_code=202,
    )


@router.get(
    "/refires",
    description=(
        "The newest 100 bulk re-fire jobs, newest first; under a confined token, those of the "
        "100 that were started within its confinement."
    ),
)
async def list_refires(runner: Refires, confinement: Confined) -> dict[str, list[dict[str, Any]]]:
    jobs = runner.jobs
    listed = [job for job in await jobs.recent() if confinement.covers(job.confinement)]
    counts = await jobs.counts(listed)
    return {"items": [describe(job, counts.get(job.job_id, _NONE)) for job in listed]}


@router.get(
    "/refires/{job_id}",
    responses=error_responses(404, 422),
    description=(
        "One bulk re-fire job. state: queued, running, done (every pair published or skipped) "
        "or failed (`error` says why). selected: pairs when it started; fired: fire requests "
        "published; skipped: pairs not fired (configuration deleted or disabled); succeeded "
        "and failed: those attempts as the log has them; pending: published, not logged yet."
    ),
)
async def read_refire(job_id: UUID, runner: Refires, confinement: Confined) -> dict[str, Any]:
    jobs = runner.jobs
    job = await jobs.get(job_id)
    if job is None or not confinement.covers(job.confinement):
        raise NotFound(f"no re-fire job with job_id {job_id}")
    counts = await jobs.counts([job])
    return describe(job, counts.get(job.job_id, _NONE))


def _flag(request: Request, name: str) -> bool:
    values = request.query_params.getlist(name)
    if len(values) > 1 or any(v.lower() not in _TRUE | _FALSE for v in values):
        raise BadRequest(f"'{name}' takes one value, true or false")
    return bool(values) and values[0].lower() in _TRUE


def _selection(request: Request, limits: QueryLimits) -> tuple[list[tuple[str, str]], LogQuery]:
    """The filters as given (without dry_run, from, to) and the query with its window frozen."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "dry_run"]
    query = checked_log_query(
        pairs,
        limits,
        refused=("limit", "cursor"),
        applies_to="a re-fire",
        why="it covers every matching attempt",
    )
    if query.to_ms is None:
        # Frozen at now: the job's own re-fires, logged later, must not join its selection.
        query = replace(query, to_ms=time.time_ns() // 1_000_000)
    filters = [(k, v) for k, v in pairs if k not in ("from", "to")]
    return filters, query
