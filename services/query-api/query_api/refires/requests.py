"""Re-firing one attempt: its stored input, rendered by the configuration as it is NOW.

Used by the single re-fire (POST /api/v1/logs/{attempt_id}/refire) and by every pair of a bulk
job. The configuration is read from the store at the moment of the re-fire, so a URL corrected
after the failure is the URL called. Deciding what can be re-fired lives here, in one place:

- the configuration was deleted: refused (409); re-create it first, then re-fire;
- the configuration is disabled: an explicit single re-fire still fires it (like a test fire:
  a person asked for exactly this postback), a bulk job skips it (disabling is how a network
  says "send nothing to this publisher", and a filter is too coarse to overrule that);
- the stored input no longer fits the configuration (its type was changed): refused (409).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import ValidationError

from postbacks.attempts import Trigger
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from query_api.config_repository import check_usable
from query_api.confinement import Confinement
from query_api.errors import ApiError, Conflict, NotFound
from query_api.logs.reader import LogStore, read_attempt


class CannotRefire(Conflict):
    """The attempt exists but cannot be fired again as things are; the message says why."""

    code = "cannot_refire"


class RefireTimeout(ApiError):
    status = 504
    code = "refire_timeout"


def refire_request(
    config: PostbackConfig | None,
    *,
    postback_id: UUID,
    source: str,
    refire_of: UUID,
    attempt_id: UUID,
) -> FireRequest:
    """The fire request that repeats `refire_of`; CannotRefire if it cannot be built."""
    if config is None:
        raise CannotRefire(
            f"the postback configuration {postback_id} of attempt {refire_of} was deleted; "
            "re-create it (POST /api/v1/postbacks), then re-fire the attempts it failed"
        )
    try:
        check_usable(config)
    except ValidationError as exc:
        raise CannotRefire(
            f"the postback configuration {config.name!r} fails today's checks "
            f"({_first_error(exc)}); fix it (PUT /api/v1/postbacks/{postback_id}), then re-fire"
        ) from exc
    request = FireRequest(
        attempt_id=attempt_id,
        trigger=Trigger.REFIRE,
        postback=config,
        source=source,
        refire_of=refire_of,
    )
    try:
        request.input_message()  # refuse here what the dispatcher would dead-letter
    except (ValidationError, ValueError) as exc:
        raise CannotRefire(
            f"the stored input of attempt {refire_of} does not fit configuration "
            f"{config.name!r} as it is now (type {config.type}): {_first_error(exc)}"
        ) from exc
    return request


async def read_refirable(
    store: LogStore, attempt_id: UUID, confinement: Confinement
) -> dict[str, Any]:
    """The stored attempt with its source; NotFound (also when it is outside `confinement`)
    or CannotRefire saying what is wrong."""
    record = await read_attempt(store, attempt_id)
    if record is None or not confinement.admits(record):
        raise NotFound(f"no attempt with attempt_id {attempt_id}")
    if not record["source"]:
        raise CannotRefire(f"attempt {attempt_id} has no stored input to fire again")
    return record


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"]) or "input"
        return f"{field}: {error['msg']}"
    return str(exc)
