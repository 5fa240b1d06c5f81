"""/api/v1/postbacks: configurations, create / list / read / replace / delete."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Response

from postbacks.configs import PostbackConfig, PostbackConfigIn
from query_api.dependencies import Postbacks, Tester

router = APIRouter(prefix="/api/v1/postbacks", tags=["postbacks"])


@router.post("", status_code=201)
async def create_postback(payload: PostbackConfigIn, service: Postbacks) -> PostbackConfig:
    return await service.create(payload)


@router.get("")
async def list_postbacks(service: Postbacks) -> dict[str, list[PostbackConfig]]:
    return {"items": await service.repository.list()}


@router.get("/{postback_id}")
async def read_postback(postback_id: UUID, service: Postbacks) -> PostbackConfig:
    return await service.get(postback_id)


@router.put("/{postback_id}")
async def replace_postback(
    postback_id: UUID, payload: PostbackConfigIn, service: Postbacks
) -> PostbackConfig:
    return await service.replace(postback_id, payload)


@router.post(
    "/{postback_id}/test",
    description=(
        "Fire this postback once now, through the dispatcher, and answer with the logged "
        "attempt (trigger=test). The optional body is a sample input; fields it leaves out "
        "get sensible test values."
    ),
)
async def fire_test_postback(
    postback_id: UUID,
    service: Postbacks,
    tester: Tester,
    sample: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    config = await service.get(postback_id)
    return await tester.fire(config, sample)


@router.delete("/{postback_id}", status_code=204)
async def delete_postback(postback_id: UUID, service: Postbacks) -> Response:
    await service.delete(postback_id)
    return Response(status_code=204)
