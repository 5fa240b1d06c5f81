"""docs/asyncapi.yaml and docs/openapi.json are generated from the code and kept current."""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from postbacks.dead_letters import dead_letter
from postbacks.topics import TOPICS
from postbacks_cli.api_docs import ASYNCAPI_FILE, OPENAPI_FILE, DeadLetter, main


def test_the_committed_documents_are_current() -> None:
    # Regenerates both in memory and compares: run `python -m postbacks_cli.api_docs` on failure.
    assert main(["--check"]) == 0


def test_the_asyncapi_document_covers_every_topic_with_a_schema() -> None:
    document = yaml.safe_load(ASYNCAPI_FILE.read_text())
    assert document["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {t.name for t in TOPICS}
    schemas = document["components"]["schemas"]
    for name in ("ClickInput", "ConversionInput", "EventInput", "AttemptRecord", "DeadLetter"):
        assert schemas[name]["properties"], name
    assert "attempt_id" in schemas["AttemptRecord"]["required"]


@dataclass
class _Record:
    topic: str = "conversions"
    partition: int = 3
    offset: int = 17
    key: bytes | None = b"tx-1"
    value: bytes | None = b"{not json"


def test_the_documented_dead_letter_is_what_the_services_send() -> None:
    letter = DeadLetter.model_validate_json(dead_letter(_Record(), reason="bad", service="x"))
    assert letter.model_fields_set == set(DeadLetter.model_fields)
    assert letter.value_text == "{not json"


def test_the_openapi_document_describes_the_api_and_its_tokens() -> None:
    document = json.loads(OPENAPI_FILE.read_text())
    assert {"/api/v1/logs", "/api/v1/postbacks", "/api/v1/logs/{attempt_id}"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    # The token the generator configured is a name only it knows; it must not be published.
    assert "documentation" not in OPENAPI_FILE.read_text()
