"""Postback configuration model and its validation at save time (design §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from postbacks.attempts import HttpMethod, PostbackType
from postbacks.inputs import ConversionStatus
from postbacks.macros import MACROS, unknown_macros

DEFAULT_TIMEOUT_MS = 5000


class PostbackConfigIn(BaseModel):
    """What a client sends to create or replace a configuration."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: PostbackType
    url: Annotated[str, Field(min_length=1, max_length=4096)]
    offer_id: Annotated[int | None, Field(ge=0)] = None
    publisher_id: Annotated[int | None, Field(ge=0)] = None
    event_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    statuses: Annotated[list[ConversionStatus], Field(min_length=1)] = Field(
        default_factory=lambda: [ConversionStatus.APPROVED]
    )
    method: HttpMethod = HttpMethod.GET
    timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = DEFAULT_TIMEOUT_MS
    enabled: bool = True

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id_as_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("statuses")
    @classmethod
    def _dedupe_statuses(cls, value: list[ConversionStatus]) -> list[ConversionStatus]:
        return sorted(set(value))

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        unknown = unknown_macros(value)
        if unknown:
            names = ", ".join(f"{{{n}}}" for n in unknown)
            raise ValueError(
                f"unknown macro {names}; valid macros are "
                + ", ".join(f"{{{n}}}" for n in sorted(MACROS))
            )
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("url must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("url must name a host, e.g. https://publisher.example/postback")
        return value

    @model_validator(mode="after")
    def _event_only_for_events(self) -> Self:
        if self.event_id is not None and self.type is not PostbackType.EVENT:
            raise ValueError("event_id is only allowed when type is Event")
        return self


class PostbackConfig(PostbackConfigIn):
    """A stored configuration: the client's fields plus identity and bookkeeping."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    created_at: datetime
    updated_at: datetime
    version: Annotated[int, Field(ge=1)]

    @classmethod
    def stamp(
        cls,
        payload: PostbackConfigIn,
        *,
        id: UUID,
        created_at: datetime,
        now: datetime,
        version: int,
    ) -> PostbackConfig:
        return cls(
            **payload.model_dump(), id=id, created_at=created_at, updated_at=now, version=version
        )
