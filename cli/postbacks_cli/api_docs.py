"""The API documents, generated from the code: AsyncAPI for the topics, OpenAPI for the HTTP API.

`python -m postbacks_cli.api_docs` writes docs/asyncapi.yaml and docs/openapi.json;
`--check` only says whether the committed files are current (tests run it).

The AsyncAPI document comes from FastStream: a broker that is never started declares, for each
service, the topics it reads and writes with the pydantic model of their messages, so the
schemas in the document are the ones the services validate with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, ConfigDict, Field

from postbacks import topics
from postbacks.attempts import AttemptRecord
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, ConversionInput, EventInput
from postbacks.store.protocol import Params, QuerySettings, Row
from postbacks_cli.generating import REPO, write_or_check

DOCS = REPO / "docs"
ASYNCAPI_FILE = DOCS / "asyncapi.yaml"
OPENAPI_FILE = DOCS / "openapi.json"
VERSION = "0.1.0"


class DeadLetter(BaseModel):
    """A message refused to `postbacks.dlq`: where it came from, why, and its original bytes.

    Mirrors the JSON built by postbacks.dead_letters.dead_letter (tests check they agree).
    """

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(description="topic the refused message was read from")
    partition: int
    offset: int
    reason: str = Field(description="why it was refused, in plain words")
    service: str = Field(description="the service that refused it: dispatcher or log-writer")
    dead_lettered_at: str = Field(description="RFC 3339, milliseconds, UTC")
    key_base64: str | None = Field(
        description="the original key (its first 64 KiB), base64; null if none"
    )
    value_base64: str | None = Field(
        description="the original value (its first 64 KiB), base64; null if none"
    )
    value_text: str | None = Field(
        description="the original value (its first 64 KiB) as text, when it is UTF-8"
    )
    value_bytes: int | None = Field(description="the original value's size; null if none")
    value_truncated: bool = Field(
        description="true when the value was longer than the 64 KiB kept here"
    )


_INPUTS = (
    (topics.CLICKS, ClickInput, "Clicks from the tracking platform; fire Click postbacks."),
    (topics.CONVERSIONS, ConversionInput, "Conversions; fire Conversion postbacks by status."),
    (topics.EVENTS, EventInput, "Events (conversions with an event_id); fire Event postbacks."),
)
_INPUT_KEY = "Key: transaction_id (keeps one click's or conversion's messages in order)."
_DLQ_NOTE = "Input that is not valid JSON or does not fit its schema; consuming goes on."


def documentation_broker() -> KafkaBroker:
    """Every topic with its message model, per service. Never started: it only describes."""
    broker = KafkaBroker("kafka:9092", description="Apache Kafka (KRaft) in production")

    for topic, model, what in _INPUTS:
        _subscribe(broker, "dispatcher", topic, model, f"{what} {_INPUT_KEY}")
    _subscribe(
        broker,
        "dispatcher",
        topics.REFIRES,
        FireRequest,
        "Explicit requests to fire one postback now: test fires and re-fires from the query-api.",
    )
    _subscribe(
        broker,
        "dispatcher",
        topics.CONFIGS,
        PostbackConfig,
        "Postback configurations, compacted, key = postback id; a null value (tombstone) is a "
        "delete. Read from the beginning at start, then followed.",
    )
    _subscribe(
        broker,
        "log-writer",
        topics.ATTEMPTS,
        AttemptRecord,
        "Attempt records, stored in ClickHouse postback_attempts; offsets are committed after "
        "the insert.",
    )
    _publish(
        broker,
        "dispatcher",
        topics.ATTEMPTS,
        AttemptRecord,
        "One record per postback attempt (design §6); key = attempt_id.",
    )
    for service in ("dispatcher", "log-writer"):
        _publish(broker, service, topics.DLQ, DeadLetter, _DLQ_NOTE)
    _publish(
        broker,
        "query-api",
        topics.CONFIGS,
        PostbackConfig,
        "Every configuration change, key = postback id (null value on delete); the whole set "
        "again at start so an empty broker is refilled.",
    )
    _publish(broker, "query-api", topics.REFIRES, FireRequest, "Test fires and re-fires.")
    return broker


def _subscribe(
    broker: KafkaBroker, service: str, topic: str, model: type[BaseModel], description: str
) -> None:
    async def handler(message: Any) -> None:  # pragma: no cover - never consumed
        raise NotImplementedError

    handler.__annotations__["message"] = model  # the message schema comes from this annotation
    broker.subscriber(topic, title=f"{service} reads {topic}", description=description)(handler)


def _publish(
    broker: KafkaBroker, service: str, topic: str, model: type[BaseModel], description: str
) -> None:
    broker.publisher(
        topic, title=f"{service} writes {topic}", description=description, schema=model
    )


def asyncapi_yaml() -> str:
    spec = AsyncAPI(
        documentation_broker(),
        title="Postbacks topics",
        version=VERSION,
        description="The Kafka topics of Postbacks: who reads and writes each, and the JSON "
        "of its messages. Generated by `python -m postbacks_cli.api_docs`.",
        schema_version="3.0.0",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    # FastStream lists channels in no fixed order; sorted, the file changes only with the code.
    for section in (document, document["components"]):
        for name in ("channels", "operations", "messages", "schemas"):
            if name in section:
                section[name] = dict(sorted(section[name].items()))
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


class NoStore:
    """The store the OpenAPI document needs: none. Building the app runs no query."""

    database = "postbacks"

    def table(self, name: str) -> str:
        return f"{self.database}.{name}"

    async def execute(self, sql: str, params: Params | None = None) -> None:
        raise RuntimeError("documentation only")

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        raise RuntimeError("documentation only")

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        raise RuntimeError("documentation only")

    async def ping(self) -> None:
        raise RuntimeError("documentation only")

    async def close(self) -> None:
        return None


async def _openapi() -> dict[str, Any]:
    from postbacks.kafka_connection import KafkaConnection
    from query_api.app import build_app
    from query_api.auth import TokenTable
    from query_api.dispatcher_publisher import DispatcherPublisher

    # Documented as production serves it: with tokens (the value is never part of the document).
    tokens = TokenTable.parse('{"documentation": ["logs:read", "postbacks:write"]}')
    publisher = DispatcherPublisher(KafkaConnection("kafka:9092"))  # never started: nothing sent
    try:
        return build_app(NoStore(), publisher, tokens=tokens).openapi()
    finally:
        await publisher.stop()


def openapi_json() -> str:
    # The producer inside DispatcherPublisher wants a running loop; it is never started.
    return json.dumps(asyncio.run(_openapi()), indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    return {ASYNCAPI_FILE: asyncapi_yaml(), OPENAPI_FILE: openapi_json()}


def main(argv: Sequence[str] | None = None) -> int:
    return write_or_check("python -m postbacks_cli.api_docs", __doc__, generated, argv)


if __name__ == "__main__":
    raise SystemExit(main())
