"""/api/v1/token: what the token a request carries may do, for the pages and for clients.

The pages ask it once a token is entered: a confined token fixes their publisher filter and
explains why. Without tokens (an open `postbacks dev`) every scope and no confinement.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from query_api.auth import LOGS_READ, POSTBACKS_WRITE, Access, Grant, Scope

# Any configured token may ask what it is.
TOKEN = Access(reading=(LOGS_READ, POSTBACKS_WRITE))

router = APIRouter(prefix="/api/v1", tags=["token"])


class TokenGrant(BaseModel):
    scopes: list[Scope] = Field(description="What the token may do")
    publisher_ids: list[int] | None = Field(
        description="The publishers it sees and manages; null: every publisher"
    )
    offer_ids: list[int] | None = Field(
        description="The offers it sees and manages; null: every offer"
    )


@router.get(
    "/token",
    description=(
        "The scopes of the token sent, and the publishers and offers it is confined to (null: "
        "not confined). Every log read, count, export, stats query, re-fire and configuration "
        "under a confined token is confined to them."
    ),
)
async def read_token(request: Request) -> TokenGrant:
    # The grant auth.required left, not the Confined dependency: that one also reads the
    # token's configurations, which this answer does not show.
    grant: Grant = request.state.grant
    return TokenGrant(scopes=sorted(grant.scopes), **grant.confinement.described())
