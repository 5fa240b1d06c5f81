"""Query-api settings (POSTBACKS_API_*), validated at start."""

from typing import Annotated

from pydantic import Field

from postbacks.settings import CommonSettings


class QueryApiSettings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8080
