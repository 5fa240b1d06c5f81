"""Dispatcher settings (POSTBACKS_DISPATCHER_*), validated at start."""

from typing import Annotated

from pydantic import Field

from postbacks.settings import CommonSettings


class DispatcherSettings(CommonSettings):
    dispatcher_port: Annotated[int, Field(ge=0, le=65535)] = 9101
    dispatcher_group_id: str = "postbacks-dispatcher"
    dispatcher_max_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    dispatcher_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 256
