"""Dispatcher settings (POSTBACKS_DISPATCHER_*, POSTBACKS_ALLOWED_NETWORKS), validated at start."""

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from dispatcher.guard import IPNetwork, parse_networks
from dispatcher.work import EngineLimits
from postbacks.settings import CommonSettings


class DispatcherSettings(CommonSettings):
    # Flags pass fields by name; the environment is read only through the aliases.
    model_config = SettingsConfigDict(validate_by_name=True)

    dispatcher_port: Annotated[int, Field(ge=0, le=65535)] = 9101
    dispatcher_group_id: str = "postbacks-dispatcher"
    dispatcher_max_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    dispatcher_max_in_flight: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1024,
        description="postback requests in flight at once, all hosts together",
        # POSTBACKS_DISPATCHER_CONCURRENCY was its name before the pipelined engine.
        validation_alias=AliasChoices(
            "POSTBACKS_DISPATCHER_MAX_IN_FLIGHT",
            "POSTBACKS_DISPATCHER_CONCURRENCY",
        ),
    )
    dispatcher_max_in_flight_per_host: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=64, description="requests in flight to one publisher host (host:port)"
    )
    dispatcher_max_waiting_per_host: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        default=1000,
        description="postbacks waiting for a host's slot; past it they fail unsent at once",
    )
    dispatcher_max_line_wait_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=5.0,
        description="a host whose full line would take longer to drain has new postbacks "
        "failed unsent; a faster one makes the consumer wait",
    )
    dispatcher_max_pending: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=20_000,
        description="postbacks admitted but not yet logged; consumption pauses at this bound",
    )
    dispatcher_commit_interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=0.5,
        description="how often finished inputs' offsets are committed (also on every "
        "rebalance and at shutdown); a crash re-fires at most this much of them",
    )
    dispatcher_shutdown_grace_s: Annotated[float, Field(ge=0, le=600)] = Field(
        default=8.0, description="on SIGTERM, how long in-flight postbacks may still finish"
    )
    allowed_networks: str = Field(
        default="none",
        description="CIDRs the destination guard lets through (comma-separated), or none",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def allowed(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.allowed_networks)

    @property
    def limits(self) -> EngineLimits:
        return EngineLimits(
            max_in_flight=self.dispatcher_max_in_flight,
            per_host=self.dispatcher_max_in_flight_per_host,
            waiting_per_host=self.dispatcher_max_waiting_per_host,
            max_line_wait_s=self.dispatcher_max_line_wait_s,
            max_pending=self.dispatcher_max_pending,
            max_batch=self.dispatcher_max_batch,
            commit_interval_s=self.dispatcher_commit_interval_s,
        )
