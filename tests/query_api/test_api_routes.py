"""The query-api over HTTP (ASGI in process) on real chDB and the real embedded broker."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from postbacks import topics
from tests.kafka_topics import read_topic

VALID = {"name": "Acme", "type": "Conversion", "url": "https://acme.example/pb?t={transaction_id}"}


async def config_records(kafka: str) -> list[tuple[str, Any]]:
    records = await read_topic(kafka, topics.CONFIGS)
    return [(r.key.decode(), r.value and orjson.loads(r.value)) for r in records]


def error_of(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()["error"]
    assert body["code"]
    message: str = body["message"]
    return message


async def test_configuration_lifecycle_is_stored_and_published(
    api: httpx.AsyncClient, kafka: str
) -> None:
    created = await api.post("/api/v1/postbacks", json={**VALID, "publisher_id": 42})
    assert created.status_code == 201, created.text
    config = created.json()
    assert config["statuses"] == ["approved"]
    assert config["version"] == 1
    assert config["enabled"] is True
    assert config["offer_id"] is None
    pid = config["id"]

    assert (await api.get(f"/api/v1/postbacks/{pid}")).json() == config
    assert [c["id"] for c in (await api.get("/api/v1/postbacks")).json()["items"]] == [pid]

    replaced = await api.put(
        f"/api/v1/postbacks/{pid}", json={**VALID, "publisher_id": 43, "enabled": False}
    )
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    assert (after["version"], after["publisher_id"], after["enabled"]) == (2, 43, False)
    assert after["created_at"] == config["created_at"]
    assert after["updated_at"] > config["updated_at"]

    assert (await api.delete(f"/api/v1/postbacks/{pid}")).status_code == 204
    assert "no postback configuration" in error_of(await api.get(f"/api/v1/postbacks/{pid}"), 404)
    assert (await api.get("/api/v1/postbacks")).json()["items"] == []

    mine = [value for key, value in await config_records(kafka) if key == pid]
    assert [v and v["version"] for v in mine] == [1, 2, None]  # None: the tombstone


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"url": "https://a.example/?t={txid}"}, "url", "valid macros are"),
        ({"url": "mailto:x@example.com"}, "url", "http://"),
        ({"name": ""}, "name", "at least 1"),
        ({"type": "Sale"}, "type", "Click"),
        ({"timeout_ms": 50}, "timeout_ms", "100"),
        ({"statuses": ["paid"]}, "statuses", "approved"),
        ({"event_id": "5"}, "event_id", "only allowed when type is Event"),
        ({"colour": "red"}, "colour", "not permitted"),
    ],
)
async def test_invalid_configurations_are_refused_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, hint: str
) -> None:
    message = error_of(await api.post("/api/v1/postbacks", json={**VALID, **change}), 422)
    assert field in message
    assert hint in message


async def test_duplicate_names_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/v1/postbacks", json=VALID)).status_code == 201
    message = error_of(await api.post("/api/v1/postbacks", json=VALID), 422)
    assert message.startswith("name:")
    assert "already exists" in message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("stauts=Failed", "stauts"),
        ("status__like=Fail", "status__like"),
        ("publisher_id=abc", "publisher_id"),
        ("response_code=70000", "response_code"),
        ("limit=5000", "limit"),
        ("from=yesterday", "from"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
async def test_bad_log_queries_get_400_naming_the_parameter(
    api: httpx.AsyncClient, query: str, named: str
) -> None:
    assert named in error_of(await api.get(f"/api/v1/logs?{query}"), 400)


async def test_log_detail_of_unknown_attempt_is_404(api: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert missing in error_of(await api.get(f"/api/v1/logs/{missing}"), 404)
    assert "attempt_id" in error_of(await api.get("/api/v1/logs/not-a-uuid"), 422)
