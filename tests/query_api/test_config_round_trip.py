"""A configuration read, changed and written back (PUT), or changed one field at a time (PATCH,
a JSON merge patch), on the real app over chDB and the embedded broker (ASGI in process)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from postbacks import topics
from postbacks.configs import (
    MERGE_PATCH,
    PostbackConfig,
    PostbackConfigIn,
    PostbackConfigPatch,
    PostbackConfigPut,
)
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.kafka_topics import read_topic

API = "/api/v1/postbacks"
CONFIG: dict[str, Any] = {
    "name": "Acme",
    "type": "Conversion",
    "url": "https://acme.example/pb?t={transaction_id}",
    "offer_id": 7,
    "publisher_id": 42,
    "method": "POST",
    "body": '{"tx": "{transaction_id}"}',
    "headers": {"X-Source": "postbacks", "X-Offer": "{offer_id}"},
    "timeout_ms": 5000,
    "retry_max_attempts": 3,
}
MISSING = "00000000-0000-4000-8000-000000000000"
AS_MERGE_PATCH = {"Content-Type": MERGE_PATCH}


async def created(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    answer = await api.post(API, json={**CONFIG, **changes})
    assert answer.status_code == 201, answer.text
    config: dict[str, Any] = answer.json()
    return config


async def read(api: httpx.AsyncClient, config_id: str) -> dict[str, Any]:
    answer = await api.get(f"{API}/{config_id}")
    assert answer.status_code == 200, answer.text
    config: dict[str, Any] = answer.json()
    return config


async def patch(
    api: httpx.AsyncClient, config_id: str, body: Any, media_type: str = MERGE_PATCH
) -> httpx.Response:
    return await api.patch(
        f"{API}/{config_id}", content=orjson.dumps(body), headers={"Content-Type": media_type}
    )


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"]
    assert error["message"]
    return error


def fields_named(error: dict[str, Any]) -> list[str]:
    return [detail["field"] for detail in error.get("details", [])]


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    assert before.keys() == after.keys()
    return {name for name in before if before[name] != after[name]}


def assert_written_once_more(before: dict[str, Any], after: dict[str, Any]) -> None:
    """`after` is the write that followed `before`: same identity, next version, later time."""
    assert (after["id"], after["created_at"]) == (before["id"], before["created_at"])
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]


async def published(kafka: str, config_id: str) -> list[dict[str, Any]]:
    records = await read_topic(kafka, topics.CONFIGS)
    return [orjson.loads(r.value) for r in records if r.key.decode() == config_id and r.value]


# --- PUT: what GET returned, sent back ----------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"enabled": False}, {"url": "https://other.example/postback?tx={transaction_id}"}],
    ids=["enabled", "url"],
)
async def test_get_change_put_round_trips(api: httpx.AsyncClient, change: dict[str, Any]) -> None:
    before = await read(api, (await created(api))["id"])

    answer = await api.put(f"{API}/{before['id']}", json={**before, **change})

    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after == await read(api, before["id"])
    assert changed_fields(before, after) == {*change, "version", "updated_at"}
    assert {name: after[name] for name in change} == change
    assert_written_once_more(before, after)


async def test_put_without_read_only_fields_still_works(api: httpx.AsyncClient) -> None:
    # What `postbacks apply` and the pages send: PostbackConfigIn's fields only.
    before = await created(api)
    answer = await api.put(f"{API}/{before['id']}", json={**CONFIG, "enabled": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"] is False
    assert answer.json()["version"] == 2


def _another(name: str, config: dict[str, Any]) -> Any:
    if name == "id":
        return str(uuid.uuid4())
    if name == "version":
        return config["version"] + 5  # a version never stored
    moment = datetime.fromisoformat(config[name]) + timedelta(days=1)
    return moment.isoformat()


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "version"])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_changed_read_only_field_is_refused_naming_it(
    api: httpx.AsyncClient, method: str, field: str
) -> None:
    config = await read(api, (await created(api))["id"])
    sent = {**config, "enabled": False, field: _another(field, config)}
    if method == "PUT":
        answer = await api.put(f"{API}/{config['id']}", json=sent)
    else:
        answer = await patch(api, config["id"], sent)

    error = error_of(answer, 422)
    assert error["code"] == "invalid"
    assert error["message"].startswith(f"{field}: read-only")
    assert fields_named(error) == [field]
    assert await read(api, config["id"]) == config  # nothing was written


async def test_every_field_get_returns_is_one_put_and_patch_take() -> None:
    assert set(PostbackConfigPut.model_fields) == set(PostbackConfig.model_fields)
    assert set(PostbackConfigPatch.model_fields) == set(PostbackConfig.model_fields)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_unknown_fields_are_still_refused(api: httpx.AsyncClient, method: str) -> None:
    config = await read(api, (await created(api))["id"])
    sent = {**config, "colour": "red"}
    if method == "PUT":
        answer = await api.put(f"{API}/{config['id']}", json=sent)
    else:
        answer = await patch(api, config["id"], {"colour": "red"})
    error = error_of(answer, 422)
    assert fields_named(error) == ["colour"]
    assert "not permitted" in error["message"]


# --- A write based on an earlier read: 409 ------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_write_from_an_earlier_version_is_a_conflict(
    api: httpx.AsyncClient, method: str
) -> None:
    first_read = await read(api, (await created(api))["id"])
    config_id = first_read["id"]
    # Someone else changes it in between.
    other = await patch(api, config_id, {"publisher_id": 99, "version": first_read["version"]})
    assert other.status_code == 200, other.text
    current = other.json()

    stale = {**first_read, "enabled": False}
    if method == "PUT":
        answer = await api.put(f"{API}/{config_id}", json=stale)
    else:
        answer = await patch(api, config_id, {"enabled": False, "version": first_read["version"]})

    error = error_of(answer, 409)
    assert error["code"] == "conflict"
    assert error["message"].startswith("version: the configuration changed since you read it")
    assert f"now at version {current['version']}" in error["message"]
    assert fields_named(error) == ["version"]
    assert await read(api, config_id) == current  # the other change was not overwritten


async def test_without_a_version_an_earlier_updated_at_is_a_conflict(
    api: httpx.AsyncClient,
) -> None:
    first_read = await read(api, (await created(api))["id"])
    current = (await patch(api, first_read["id"], {"publisher_id": 99})).json()
    answer = await patch(
        api, first_read["id"], {"enabled": False, "updated_at": first_read["updated_at"]}
    )
    assert fields_named(error_of(answer, 409)) == ["updated_at"]
    assert await read(api, first_read["id"]) == current


async def test_a_current_version_makes_the_write(api: httpx.AsyncClient) -> None:
    config = await read(api, (await created(api))["id"])
    answer = await patch(api, config["id"], {"enabled": False, "version": config["version"]})
    assert answer.status_code == 200, answer.text
    assert_written_once_more(config, answer.json())


# --- PATCH: a JSON merge patch ------------------------------------------------------------------


async def test_patch_changes_only_the_fields_it_names(api: httpx.AsyncClient, kafka: str) -> None:
    before = await read(api, (await created(api))["id"])

    answer = await patch(api, before["id"], {"enabled": False})

    assert answer.status_code == 200, answer.text
    after = await read(api, before["id"])
    assert answer.json() == after
    assert changed_fields(before, after) == {"enabled", "version", "updated_at"}
    assert (before["enabled"], after["enabled"]) == (True, False)
    assert_written_once_more(before, after)
    # Republished to the dispatchers as a PUT is: the record is the configuration returned.
    assert await published(kafka, before["id"]) == [before, after]


@pytest.mark.parametrize(
    "media_type", [MERGE_PATCH, "application/json", "application/json; charset=utf-8"]
)
async def test_patch_takes_merge_patch_and_json(api: httpx.AsyncClient, media_type: str) -> None:
    config = await created(api)
    answer = await patch(api, config["id"], {"offer_id": 8}, media_type)
    assert answer.status_code == 200, answer.text
    assert answer.json()["offer_id"] == 8


@pytest.mark.parametrize(
    "media_type", ["application/json-patch+json", "text/plain", "application/x-www-form-urlencoded"]
)
async def test_patch_refuses_other_media_types(api: httpx.AsyncClient, media_type: str) -> None:
    config = await created(api)
    answer = await patch(api, config["id"], {"offer_id": 8}, media_type)
    error = error_of(answer, 415)
    assert MERGE_PATCH in error["message"]
    assert await read(api, config["id"]) == config


async def test_patch_null_resets_an_optional_field_to_its_default(api: httpx.AsyncClient) -> None:
    before = await created(api)
    defaults = PostbackConfigIn(name="n", type="Conversion", url="https://d.example/")

    answer = await patch(api, before["id"], {"offer_id": None, "timeout_ms": None, "body": None})

    # body: null alone would leave a POST without a body, which is valid.
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert changed_fields(before, after) == {
        "offer_id", "timeout_ms", "body", "version", "updated_at"
    }  # fmt: skip
    assert after["offer_id"] is None
    assert after["timeout_ms"] == defaults.timeout_ms
    assert after["body"] is None


async def test_patch_merges_headers_name_by_name(api: httpx.AsyncClient) -> None:
    before = await created(api)
    answer = await patch(
        api, before["id"], {"headers": {"X-Offer": None, "X-New": "{publisher_id}"}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"] == {"X-Source": "postbacks", "X-New": "{publisher_id}"}
    assert changed_fields(before, answer.json()) == {"headers", "version", "updated_at"}

    cleared = await patch(api, before["id"], {"headers": None})
    assert cleared.json()["headers"] == {}


async def test_patch_matches_header_names_ignoring_case(api: httpx.AsyncClient) -> None:
    before = await created(api)
    answer = await patch(api, before["id"], {"headers": {"x-offer": None, "x-source": "pb"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"] == {"X-Source": "pb"}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("version", [0, -1])
async def test_a_version_never_issued_is_invalid_not_a_conflict(
    api: httpx.AsyncClient, method: str, version: int
) -> None:
    config = await read(api, (await created(api))["id"])
    sent = {**config, "enabled": False, "version": version}
    if method == "PUT":
        answer = await api.put(f"{API}/{config['id']}", json=sent)
    else:
        answer = await patch(api, config["id"], sent)
    assert fields_named(error_of(answer, 422)) == ["version"]
    assert await read(api, config["id"]) == config


async def test_patch_with_nothing_changes_no_field(api: httpx.AsyncClient) -> None:
    before = await created(api)
    answer = await patch(api, before["id"], {})
    assert answer.status_code == 200, answer.text
    assert changed_fields(before, answer.json()) == {"version", "updated_at"}


async def test_patch_null_on_a_required_field_is_refused_naming_it(
    api: httpx.AsyncClient,
) -> None:
    config = await created(api)
    error = error_of(await patch(api, config["id"], {"name": None}), 422)
    assert fields_named(error) == ["name"]
    assert await read(api, config["id"]) == config


async def test_patch_read_only_fields_sent_unchanged_or_null_are_ignored(
    api: httpx.AsyncClient,
) -> None:
    before = await read(api, (await created(api))["id"])
    answer = await patch(api, before["id"], {**before, "enabled": False})
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert changed_fields(before, after) == {"enabled", "version", "updated_at"}
    nulls = dict.fromkeys(("id", "created_at", "updated_at", "version"))
    answer = await patch(api, before["id"], {**nulls, "enabled": True})
    assert answer.status_code == 200, answer.text
    assert_written_once_more(after, answer.json())


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"url": "https://a.example/?t={txid}"}, "url", "valid macros are"),
        ({"url": "mailto:x@example.com"}, "url", "http://"),
        ({"url": "https://a.example:99999/"}, "url", ""),
        ({"name": ""}, "name", "at least 1"),
        ({"type": "Sale"}, "type", "Click"),
        ({"timeout_ms": 50}, "timeout_ms", "100"),
        ({"retry_max_attempts": 11}, "retry_max_attempts", "10"),
        ({"statuses": ["paid"]}, "statuses", "approved"),
        ({"headers": {"Host": "x"}}, "headers", "set by Postbacks"),
        ({"event_id": "5"}, "body", "only allowed when type is Event"),
        ({"method": "GET"}, "body", "a GET postback cannot have a body"),
    ],
)
async def test_patch_is_checked_exactly_as_put(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, hint: str
) -> None:
    config = await read(api, (await created(api))["id"])

    by_patch = error_of(await patch(api, config["id"], change), 422)
    by_put = error_of(await api.put(f"{API}/{config['id']}", json={**config, **change}), 422)

    assert by_patch == by_put
    assert any(named.split(".")[0] == field for named in fields_named(by_patch))
    assert hint in by_patch["message"]
    assert await read(api, config["id"]) == config


async def test_patch_refuses_a_name_in_use(api: httpx.AsyncClient) -> None:
    await created(api, name="Taken")
    config = await created(api)
    error = error_of(await patch(api, config["id"], {"name": "Taken"}), 422)
    assert fields_named(error) == ["name"]
    assert "already exists" in error["message"]


async def test_patch_of_a_missing_configuration_is_404(api: httpx.AsyncClient) -> None:
    error = error_of(await patch(api, MISSING, {"enabled": False}), 404)
    assert error["code"] == "not_found"
    assert MISSING in error["message"]


# --- Scope, and the published document ----------------------------------------------------------

READER, WRITER = "reader-5a0c7d13e9b24f68", "writer-c1f0e8a27b6d4395"


@pytest.fixture
async def guarded(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = TokenTable({READER: ["logs:read"], WRITER: ["postbacks:write"]})
    transport = httpx.ASGITransport(app=build_app(embedded_store, publisher, tokens=tokens))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_patch_needs_the_postbacks_write_scope(guarded: httpx.AsyncClient) -> None:
    writer = {"Authorization": f"Bearer {WRITER}"}
    answer = await guarded.post(API, json=CONFIG, headers=writer)
    config_id = answer.json()["id"]
    url, body = f"{API}/{config_id}", orjson.dumps({"enabled": False})

    without = await guarded.patch(url, content=body, headers=AS_MERGE_PATCH)
    assert error_of(without, 401)["code"] == "unauthorized"
    reader = {**AS_MERGE_PATCH, "Authorization": f"Bearer {READER}"}
    refused = error_of(await guarded.patch(url, content=body, headers=reader), 403)
    assert "postbacks:write" in refused["message"]
    allowed = await guarded.patch(url, content=body, headers={**AS_MERGE_PATCH, **writer})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["enabled"] is False


async def test_the_openapi_document_describes_patch(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    operation = document["paths"][f"{API}/{{postback_id}}"]["patch"]
    content = operation["requestBody"]["content"]
    assert set(content) == {MERGE_PATCH, "application/json"}
    patch_schema = content[MERGE_PATCH]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = document["components"]["schemas"][patch_schema]["properties"]
    assert set(properties) == set(PostbackConfig.model_fields)
    assert {"200", "404", "409", "415", "422"} <= set(operation["responses"])
    put = document["paths"][f"{API}/{{postback_id}}"]["put"]
    assert {"404", "409", "422"} <= set(put["responses"])


@pytest.mark.parametrize("field", ["offer_id", "publisher_id"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_an_id_past_uint64_is_invalid_not_a_server_error(
    api: httpx.AsyncClient, method: str, field: str
) -> None:
    # Found by the schemathesis fuzz test: orjson cannot store an integer past 64 bits.
    too_large = 2**64
    if method == "POST":
        answer = await api.post(API, json={**CONFIG, "name": "too large", field: too_large})
    else:
        config = await read(api, (await created(api))["id"])
        sent = {**config, field: too_large}
        if method == "PUT":
            answer = await api.put(f"{API}/{config['id']}", json=sent)
        else:  # written by the stdlib: orjson writes no integer past 64 bits either
            body = json.dumps({field: too_large})
            answer = await api.patch(f"{API}/{config['id']}", content=body, headers=AS_MERGE_PATCH)
    assert fields_named(error_of(answer, 422)) == [field]
