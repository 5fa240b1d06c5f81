"""/api/v1/postbacks: configurations, create / list / read / replace / delete."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response

from postbacks.configs import PostbackConfig, PostbackConfigIn
from query_api.fire_testing import FireTester
from query_api.postback_service import PostbackService

router = APIRouter(prefix="/api/v1/postbacks", tags=["postbacks"])


def _service(request: Request) -> PostbackService:
    service: PostbackService = request.app.state.postbacks
    return service


@router.post("", status_code=201)
async def create_postback(payload: PostbackConfigIn, request: Request) -> PostbackConfig:
    return await _service(request).create(payload)


@router.get("")
async def list_postbacks(request: Request) -> dict[str, list[PostbackConfig]]:
    return {"items": await _service(request).repository.list()}


@router.get("/{postback_id}")
async def read_postback(postback_id: UUID, request: Request) -> PostbackConfig:
    return await _service(request).get(postback_id)


@router.put("/{postback_id}")
async def replace_postback(
    postback_id: UUID, payload: PostbackConfigIn, request: Request
) -> PostbackConfig:
    return await _service(request).replace(postback_id, payload)


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
    request: Request,
    sample: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    config = await _service(request).get(postback_id)
    tester: FireTester = request.app.state.fire_tester
    return await tester.fire(config, sample)


@router.delete("/{postback_id}", status_code=204)
async def delete_postback(postback_id: UUID, request: Request) -> Response:
    await _service(request).delete(postback_id)
    return Response(status_code=204)
