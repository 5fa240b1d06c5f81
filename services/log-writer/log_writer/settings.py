"""Log-writer settings (POSTBACKS_LOG_WRITER_*), validated at start."""

from typing import Annotated

from pydantic import Field

from postbacks.settings import CommonSettings


class LogWriterSettings(CommonSettings):
    log_writer_port: Annotated[int, Field(ge=0, le=65535)] = 9102
    log_writer_group_id: str = "postbacks-log-writer"
    log_writer_max_batch: Annotated[int, Field(ge=1, le=100_000)] = 5000
    # How long a batch may wait to fill before it is written anyway: the log's freshness bound.
    log_writer_batch_timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
