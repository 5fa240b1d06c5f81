"""Settings shared by every service (design §9). Each service extends `CommonSettings`.

Precedence: a command-line flag over the environment variable over the default. Settings are
validated when a service starts, so a wrong value fails at once naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTBACKS_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset = the embedded broker"
    )
    kafka_port: Annotated[int, Field(ge=0, le=65535)] = 9092
    data_dir: Path = Path(".postbacks")
    clickhouse_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "POSTBACKS_CLICKHOUSE_URL"),
        description="ClickHouse server URL; unset = the embedded engine (chDB) in data_dir",
    )
    ops_host: str = Field(
        default="127.0.0.1",
        description="address of /metrics, /healthz, /readyz (0.0.0.0 in containers)",
    )
    embedded: bool = Field(
        default=False,
        description="let a production command run on the embedded defaults (trials only)",
    )
    clickhouse_database: str = Field(default="postbacks", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"
