"""Log-writer settings (POSTBACKS_LOG_WRITER_*, POSTBACKS_*_RETENTION_DAYS), validated at start."""

from typing import Annotated

from pydantic import Field, model_validator

from postbacks.settings import CommonSettings


class LogWriterSettings(CommonSettings):
    log_writer_port: Annotated[int, Field(ge=0, le=65535)] = 9102
    log_writer_group_id: str = "postbacks-log-writer"
    # Rows per INSERT at most. Big batches are what make ClickHouse fast (one part per insert);
    # under light load a batch is cut by the timeout below instead.
    log_writer_max_batch: Annotated[int, Field(ge=1, le=1_000_000)] = 50_000
    # How long a batch may wait to fill before it is written anyway: the log's freshness bound.
    log_writer_batch_timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    # Bytes one fetch may bring per partition; a backlog is read in large slices.
    log_writer_partition_fetch_bytes: Annotated[int, Field(ge=1024, le=256 * 2**20)] = 16 * 2**20
    # How soon the group gives the partitions of a member that died (kill -9) to another one.
    log_writer_session_timeout_ms: Annotated[int, Field(ge=1000, le=300_000)] = 10_000
    # Backoff between attempts to store a batch while ClickHouse refuses or is unreachable.
    log_writer_retry_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    log_writer_retry_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    # Retention, applied to the tables at start (ALTER TABLE ... MODIFY TTL when it differs).
    log_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 90
    rollup_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 400

    @model_validator(mode="after")
    def _backoff_grows(self) -> "LogWriterSettings":
        if self.log_writer_retry_max_s < self.log_writer_retry_initial_s:
            raise ValueError(
                "log_writer_retry_max_s must be at least log_writer_retry_initial_s "
                f"({self.log_writer_retry_max_s} < {self.log_writer_retry_initial_s})"
            )
        return self
