"""/api/v1/postbacks: configurations, create / list / read / replace / patch / delete."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Request, Response

from postbacks.configs import (
    MERGE_PATCH,
    PostbackConfig,
    PostbackConfigIn,
    PostbackConfigPatch,
    PostbackConfigPut,
)
from query_api.dependencies import Confined, Postbacks, Tester
from query_api.errors import UnsupportedMediaType, error_responses

router = APIRouter(prefix="/api/v1/postbacks", tags=["postbacks"])


@router.post("", status_code=201, responses=error_responses(422))
async def create_postback(
    payload: PostbackConfigIn, service: Postbacks, confinement: Confined
) -> PostbackConfig:
    return await service.create(payload, confinement)


@router.get("")
async def list_postbacks(
    service: Postbacks, confinement: Confined
) -> dict[str, list[PostbackConfig]]:
    return {"items": await service.list(confinement)}


@router.get("/{postback_id}", responses=error_responses(404, 422))
async def read_postback(
    postback_id: UUID, service: Postbacks, confinement: Confined
) -> PostbackConfig:
    return await service.get(postback_id, confinement)


_CHANGED_SINCE_READ = (
    409,
    "The version sent back (or, without one, updated_at) is older than the stored one: the "
    "configuration changed since it was read (code conflict). GET it again and redo the change",
)
_READ_ONLY = (
    "read-only fields (id, created_at, updated_at, version) may be sent back as GET returned "
    "them and are then ignored; a changed one is a 422 naming it, and an earlier version a 409"
)


@router.put(
    "/{postback_id}",
    description=f"Replace every field a client sets. The {_READ_ONLY}.",
    responses=error_responses(404, _CHANGED_SINCE_READ, 422),
)
async def replace_postback(
    postback_id: UUID, payload: PostbackConfigPut, service: Postbacks, confinement: Confined
) -> PostbackConfig:
    return await service.replace(postback_id, payload, payload.read_back(), confinement)


PATCH_MEDIA_TYPES = (MERGE_PATCH, "application/json")


def _merge_patch_body(request: Request) -> None:
    """A PATCH body is a JSON merge patch: JSON Patch (RFC 6902) or a form would be misread."""
    sent = request.headers.get("content-type")
    if sent is None:
        return  # read as JSON, as by the other routes
    media_type = sent.partition(";")[0].strip().lower()
    if media_type not in PATCH_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"PATCH takes a JSON merge patch (RFC 7396), not {media_type or 'an empty type'}: "
            f"send it with Content-Type: {MERGE_PATCH} (or application/json)"
        )


@router.patch(
    "/{postback_id}",
    description=(
        "Change only the fields the body names: a JSON merge patch (RFC 7396), sent as "
        f"{MERGE_PATCH} or application/json. `null` resets a field to its default; `headers` "
        "merge name by name, `null` removing one. The result is checked exactly as a PUT is, "
        f"and published to the dispatchers as a PUT is. The {_READ_ONLY}: sending the version "
        'read, e.g. {"enabled": false, "version": 3}, makes the change only if nothing '
        "changed since."
    ),
    dependencies=[Depends(_merge_patch_body)],
    # The same schema as application/json too (Body names one media type only).
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PostbackConfigPatch"}}
            }
        }
    },
    responses=error_responses(
        404,
        _CHANGED_SINCE_READ,
        (415, f"The body is not sent as {MERGE_PATCH} or application/json"),
        (
            422,
            "The patch, or the configuration it makes, does not fit; `details` names each "
            "field, as for PUT (code invalid)",
        ),
    ),
)
async def patch_postback(
    postback_id: UUID,
    patch: Annotated[PostbackConfigPatch, Body(media_type=MERGE_PATCH)],
    service: Postbacks,
    confinement: Confined,
) -> PostbackConfig:
    return await service.patch(postback_id, patch, confinement)


@router.post(
    "/{postback_id}/test",
    description=(
        "Fire this postback once now, through the dispatcher, and answer with the logged "
        "attempt (trigger=test). The optional body is a sample input; fields it leaves out "
        "get sensible test values."
    ),
    responses=error_responses(404, 422, 504),
)
async def fire_test_postback(
    postback_id: UUID,
    service: Postbacks,
    tester: Tester,
    confinement: Confined,
    sample: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    config = await service.get(postback_id, confinement)
    return await tester.fire(config, sample, confinement)


@router.delete("/{postback_id}", status_code=204, responses=error_responses(404, 422))
async def delete_postback(postback_id: UUID, service: Postbacks, confinement: Confined) -> Response:
    await service.delete(postback_id, confinement)
    return Response(status_code=204)
