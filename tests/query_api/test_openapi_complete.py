"""The OpenAPI document describes the whole API: every parameter of the log routes (derived from
FILTERABLE_COLUMNS, so a new column documents itself) with bounds the parser agrees with, and
every status code each route can answer, each error with the API's error body.

The app is built as the document generator builds it (tokens set, nothing started): reading
its `openapi()` runs no query and sends nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from postbacks.kafka_connection import KafkaConnection
from postbacks_cli.api_docs import NoStore
from query_api.app import build_app
from query_api.auth import TokenTable
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.failure_stats import BUCKET_SECONDS, GROUP_COLUMNS, ROLLUP_FILTERS
from query_api.logs.filters import (
    FILTERABLE_COLUMNS,
    MAX_LIMIT,
    InvalidLogQuery,
    parse_log_query,
)

Operation = dict[str, Any]
ERROR_SCHEMA = "#/components/schemas/ErrorResponse"
TOKENS = '{"t0k": ["logs:read", "postbacks:write"]}'

# The routes that read a log query from the raw query string, and what each adds or leaves out.
LOG_QUERIES = {
    ("get", "/api/v1/logs"): {"limit", "cursor"},
    ("get", "/api/v1/logs/count"): set(),
    ("get", "/api/v1/logs/export.csv"): set(),
    ("get", "/api/v1/logs/histogram"): set(),
    ("post", "/api/v1/refires"): {"dry_run"},
}
PAGING = {"limit", "cursor"}

# Every status code each route answers besides 401 and 403 (which every /api/v1 route answers).
ANSWERS: dict[tuple[str, str], set[int]] = {
    ("get", "/api/v1/logs"): {200, 400, 503},
    ("get", "/api/v1/logs/count"): {200, 400, 503},
    ("get", "/api/v1/logs/export.csv"): {200, 400, 503},
    ("get", "/api/v1/logs/histogram"): {200, 400, 503},
    ("get", "/api/v1/logs/stream"): {200, 400, 503},
    ("get", "/api/v1/logs/{attempt_id}"): {200, 404, 422, 503},
    ("post", "/api/v1/logs/{attempt_id}/refire"): {200, 202, 400, 404, 409, 422, 503, 504},
    ("get", "/api/v1/stats/failure-rate"): {200, 400, 503},
    ("get", "/api/v1/postbacks"): {200},
    ("post", "/api/v1/postbacks"): {201, 422},
    ("get", "/api/v1/postbacks/{postback_id}"): {200, 404, 422},
    ("put", "/api/v1/postbacks/{postback_id}"): {200, 404, 409, 422},
    ("patch", "/api/v1/postbacks/{postback_id}"): {200, 404, 409, 415, 422},
    ("delete", "/api/v1/postbacks/{postback_id}"): {204, 404, 422},
    ("post", "/api/v1/postbacks/{postback_id}/test"): {200, 404, 422, 504},
    ("get", "/api/v1/refires"): {200},
    ("post", "/api/v1/refires"): {200, 202, 400, 503},
    ("get", "/api/v1/refires/{job_id}"): {200, 404, 422},
    ("get", "/api/v1/token"): {200},
}


async def _app(tokens: TokenTable | None) -> AsyncIterator[FastAPI]:
    publisher = DispatcherPublisher(
        KafkaConnection("127.0.0.1:9")
    )  # never started: nothing is sent
    try:
        yield build_app(NoStore(), publisher, tokens=tokens)
    finally:
        await publisher.stop()


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    async for built in _app(TokenTable.parse(TOKENS)):
        yield built


@pytest.fixture
async def open_app() -> AsyncIterator[FastAPI]:
    async for built in _app(None):
        yield built


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], Operation]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/")
    }


def _parameters(operation: Operation) -> dict[str, dict[str, Any]]:
    named = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    by_name = {p["name"]: p for p in named}
    assert len(by_name) == len(named), "a parameter is listed twice"
    return by_name


def _filter_names(columns: Sequence[str]) -> set[str]:
    return {f"{c}{suffix}" for c in columns for suffix in ("", "__is_not", "__contains")}


def test_every_log_route_lists_every_filter_parameter(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for key, extra in LOG_QUERIES.items():
        listed = set(_parameters(operations[key]))
        expected = _filter_names(list(FILTERABLE_COLUMNS)) | {"from", "to"} | extra
        assert listed == expected, key
        if not extra & PAGING:
            assert not listed & PAGING, f"{key} refuses limit and cursor: not to be listed"


def test_the_filter_parameters_repeat_with_the_types_of_their_columns(
    document: dict[str, Any],
) -> None:
    for key in LOG_QUERIES:
        parameters = _parameters(_operations(document)[key])
        for column, type_ in FILTERABLE_COLUMNS.items():
            for name in (column, f"{column}__is_not", f"{column}__contains"):
                parameter = parameters[name]
                assert parameter["required"] is False
                assert (parameter["style"], parameter["explode"]) == ("form", True)
                assert parameter["schema"]["type"] == "array"
            items = parameters[column]["schema"]["items"]
            assert parameters[f"{column}__is_not"]["schema"]["items"] == items
            if type_ == "String":
                assert items == {"type": "string"}  # empty is a value: `event_id=`
            else:
                bits = int(type_.removeprefix("UInt"))
                assert items == {"type": "integer", "minimum": 0, "maximum": 2**bits - 1}
            contains = parameters[f"{column}__contains"]["schema"]["items"]
            assert contains == {"type": "string", "minLength": 1}


def test_the_documented_bounds_are_the_parsers(document: dict[str, Any]) -> None:
    """What the schema allows parses, what lies just past a bound is refused."""
    parameters = _parameters(_operations(document)[("get", "/api/v1/logs")])

    def parses(key: str, value: str) -> bool:
        try:
            parse_log_query([(key, value)])
        except InvalidLogQuery:
            return False
        return True

    for column in FILTERABLE_COLUMNS:
        items = parameters[column]["schema"]["items"]
        if items["type"] == "integer":
            values = (items["minimum"], items["maximum"], items["maximum"] + 1, -1)
            for key in (column, f"{column}__is_not"):
                assert [parses(key, str(v)) for v in values] == [True, True, False, False], key
        assert not parses(f"{column}__contains", "")
        assert parses(f"{column}__contains", "x")

    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, MAX_LIMIT)
    limits = (1, MAX_LIMIT, 0, MAX_LIMIT + 1)
    assert [parses("limit", str(v)) for v in limits] == [True, True, False, False]

    cursor = parameters["cursor"]["schema"]
    assert cursor["type"] == "string"
    assert not re.search(cursor["pattern"], "not a cursor!")  # refused too, by the parser

    for name in ("from", "to"):
        schema = parameters[name]["schema"]
        assert (schema["type"], schema["format"]) == ("string", "date-time")
        pattern = re.compile(schema["pattern"])
        for value in ("2026-11-28T01:02:03Z", "1900-01-01T00:00:00.5Z", "2299-12-31T23:00:00Z"):
            assert (bool(pattern.search(value)), parses(name, value)) == (True, True), value
        for value in ("1899-12-31T23:00:00Z", "2300-01-01T00:00:00Z", "2026-11-28", "now"):
            assert (bool(pattern.search(value)), parses(name, value)) == (False, False), value


def test_the_stats_route_lists_its_parameters(document: dict[str, Any]) -> None:
    parameters = _parameters(_operations(document)[("get", "/api/v1/stats/failure-rate")])
    assert set(parameters) == _filter_names(ROLLUP_FILTERS) | {"group_by", "bucket", "from", "to"}
    assert parameters["group_by"]["schema"]["enum"] == list(GROUP_COLUMNS)
    assert parameters["bucket"]["schema"]["enum"] == list(BUCKET_SECONDS)
    assert parameters["from"]["schema"]["format"] == "date-time"


def test_the_flags_are_documented(document: dict[str, Any]) -> None:
    operations = _operations(document)
    refire = _parameters(operations[("post", "/api/v1/logs/{attempt_id}/refire")])
    assert refire["wait"]["schema"]["type"] == "boolean"
    bulk = _parameters(operations[("post", "/api/v1/refires")])
    assert bulk["dry_run"]["schema"]["type"] == "boolean"


def test_every_route_documents_every_status_it_answers(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert set(operations) == set(ANSWERS), "a route without its list of answers here"
    for key, answers in ANSWERS.items():
        documented = {int(status) for status in operations[key]["responses"]}
        assert documented == answers | {401, 403}, key
    for key, operation in operations.items():
        documented = {int(status) for status in operation["responses"]}
        assert {401, 403} <= documented, key
        takes_input = "requestBody" in operation or any(
            p["in"] == "path" for p in operation.get("parameters", [])
        )
        # FastAPI answers 422 for a path or body that does not fit; nothing else can.
        assert (422 in documented) == takes_input, key


def test_every_error_response_has_the_error_body(document: dict[str, Any]) -> None:
    for key, operation in _operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/json"], (key, status)
            assert content["application/json"]["schema"] == {"$ref": ERROR_SCHEMA}, (key, status)
            assert response["description"], (key, status)
    schemas = document["components"]["schemas"]
    # FastAPI's own 422 body is never sent: errors.py answers with ErrorResponse.
    assert "HTTPValidationError" not in schemas
    info = schemas["ErrorInfo"]
    assert set(info["required"]) == {"code", "message"}
    assert schemas["ErrorResponse"]["required"] == ["error"]


def test_the_export_is_documented_as_csv(document: dict[str, Any]) -> None:
    responses = _operations(document)[("get", "/api/v1/logs/export.csv")]["responses"]
    assert list(responses["200"]["content"]) == ["text/csv"]
    assert "Content-Disposition" in responses["200"]["headers"]


async def test_the_errors_the_framework_answers_have_the_error_body(open_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=open_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        # Starlette lists only the first route's methods; a path has one route per method.
        refused = await client.request("OPTIONS", "/api/v1/postbacks/00000000-0000-0000-0000-0")
        assert refused.status_code == 405
        assert refused.json()["error"]["code"] == "method_not_allowed"
        assert {"GET", "PUT", "DELETE"} <= set(refused.headers["allow"].split(", "))
        both = await client.request("OPTIONS", "/api/v1/refires")
        assert both.headers["allow"] == "GET, POST"
        count = await client.request("OPTIONS", "/api/v1/logs/count")
        assert count.headers["allow"] == "GET"
        unknown = await client.get("/api/v1/nothing-here")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"
        # JSON that is not UTF-8 is refused like JSON that does not parse: 422, not 400.
        garbled = await client.post(
            "/api/v1/postbacks", content=b"\xff{", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 422, garbled.text
        assert garbled.json()["error"]["details"][0]["field"] == "body"
