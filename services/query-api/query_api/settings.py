"""Query-api settings (POSTBACKS_API_*), validated at start."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from postbacks.settings import CommonSettings
from query_api.auth import TokenTable
from query_api.guardrails import QueryLimits
from query_api.live.limits import StreamLimits


class QueryApiSettings(CommonSettings):
    # A refused POSTBACKS_API_TOKENS must not come back in the error: it holds the tokens.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    api_tokens: SecretStr | None = Field(
        default=None,
        description=(
            'JSON object token -> scopes, e.g. {"<token>": ["logs:read", "postbacks:write"]}; '
            "unset: open in `postbacks dev` (with a warning), refused by `postbacks query-api`"
        ),
    )
    # The guardrails (query_api/guardrails.py); QueryLimits() has the same defaults.
    api_default_window_hours: Annotated[int, Field(ge=1)] = 24
    api_max_span_days: Annotated[int, Field(ge=1)] = 31
    api_max_query_seconds: Annotated[int, Field(ge=1)] = 10
    api_max_rows_to_read: Annotated[int, Field(ge=1)] = 100_000_000
    api_max_concurrent_queries: Annotated[int, Field(ge=1)] = 8
    api_query_wait_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    # The live view (query_api/live/limits.py); StreamLimits() has the same defaults.
    api_max_stream_clients: Annotated[int, Field(ge=1)] = 200
    api_stream_interval_seconds: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    api_stream_heartbeat_seconds: Annotated[float, Field(ge=1, le=300)] = 15.0
    api_stream_lookback_seconds: Annotated[float, Field(ge=1, le=3600)] = 45.0

    @field_validator("api_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            TokenTable.parse(value.get_secret_value())
        return value

    @field_validator("api_max_span_days")
    @classmethod
    def _span_holds_the_default_window(cls, days: int, info: ValidationInfo) -> int:
        hours = info.data.get("api_default_window_hours")
        # Strictly longer: the span of a request without 'from' is the window plus the moments
        # between filling in 'from' and checking the span.
        if hours is not None and hours >= days * 24:
            raise ValueError(
                f"must be longer than the default window of {hours} hours "
                "(POSTBACKS_API_DEFAULT_WINDOW_HOURS), or a request without 'from' would be "
                "refused"
            )
        return days

    @property
    def token_table(self) -> TokenTable | None:
        """The tokens, or None when POSTBACKS_API_TOKENS is unset."""
        if self.api_tokens is None:
            return None
        return TokenTable.parse(self.api_tokens.get_secret_value())

    @property
    def query_limits(self) -> QueryLimits:
        return QueryLimits(
            default_window=timedelta(hours=self.api_default_window_hours),
            max_span=timedelta(days=self.api_max_span_days),
            max_query_seconds=self.api_max_query_seconds,
            max_rows_to_read=self.api_max_rows_to_read,
            max_concurrent_queries=self.api_max_concurrent_queries,
            queue_wait_seconds=self.api_query_wait_seconds,
        )

    @property
    def stream_limits(self) -> StreamLimits:
        return StreamLimits(
            max_clients=self.api_max_stream_clients,
            interval_seconds=self.api_stream_interval_seconds,
            heartbeat_seconds=self.api_stream_heartbeat_seconds,
            lookback_seconds=self.api_stream_lookback_seconds,
        )
