"""Settings of bulk re-fires (POSTBACKS_API_REFIRE_*), validated at start.

A class of its own beside QueryApiSettings so the re-fire feature carries its settings with it;
the query-api builds it once at start and hands it to the runner.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RefireSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTBACKS_", extra="ignore")

    api_refire_rate: Annotated[float, Field(gt=0, le=10_000)] = Field(
        default=50.0,
        description=(
            "fire requests a bulk re-fire publishes per second, at most: a publisher that just "
            "recovered gets its backlog at this pace, not all at once"
        ),
    )
    api_refire_max_pairs: Annotated[int, Field(ge=1)] = Field(
        default=100_000,
        description=(
            "most (transaction, postback) pairs one bulk re-fire may select; a wider filter "
            "is refused with a 400 saying to narrow it"
        ),
    )

    @property
    def batch_size(self) -> int:
        """Pairs per step: about two seconds of publishing, so a restart repeats little."""
        return max(10, min(500, int(self.api_refire_rate * 2)))
