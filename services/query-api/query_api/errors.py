"""The API's error shape: {"error": {"code": ..., "message": ...}} with a 4xx that says what to fix.

ApiError
├── BadRequest         400: a query the API cannot run (unknown column, bad cursor, ...)
│   └── QueryTooLarge  400: the query would read more rows than one query may
├── Unauthorized       401: no valid bearer token (with WWW-Authenticate: Bearer)
├── Forbidden          403: a valid token without the scope the endpoint needs
├── NotFound           404
├── Conflict           409: it exists, but cannot be done as things are (changed since read)
├── UnsupportedMediaType 415: a body of a type the route does not take
├── Invalid            422: a body that does not fit, naming the field
└── Unavailable        503: not now
    ├── QueryTooSlow   503: the query ran past its time (or memory) limit
    └── Busy           503: every log-query slot is taken (with Retry-After)

Every route's `responses=` comes from error_responses, so the OpenAPI document lists each code a
route can answer, with this body's schema (ErrorResponse).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class QueryTooLarge(BadRequest):
    code = "query_too_large"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    """409: it exists, but cannot be done as things are now (e.g. changed since it was read)."""

    status = 409
    code = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Invalid(ApiError):
    status = 422
    code = "invalid"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class QueryTooSlow(Unavailable):
    code = "query_too_slow"


class Busy(Unavailable):
    code = "busy"


class FieldError(BaseModel):
    field: str = Field(
        description="The field, dotted for a nested one (e.g. `url`, `sample.status`)"
    )
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(
        description="What went wrong, for programs: e.g. bad_request, query_too_large, "
        "unauthorized, forbidden, not_found, cannot_refire, conflict, unsupported_media_type, "
        "invalid, busy, query_too_slow"
    )
    message: str = Field(description="What went wrong and what to change, for people")
    details: list[FieldError] = Field(
        default_factory=list, description="422 only: one entry per field that does not fit"
    )


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx the API answers itself."""

    error: ErrorInfo


_ERROR_ANSWERS: dict[int, str] = {
    400: "The request cannot be run as given; the message names the parameter and the fix "
    "(code bad_request, or query_too_large when it would read more rows than one query may)",
    401: "No bearer token, or one the server does not accept (only when the server has tokens)",
    403: "The token lacks the scope this route needs; or, on a server without tokens, a change "
    "sent by another site's page or a request for another host name (DNS rebinding)",
    404: "Nothing has this id (code not_found)",
    409: "It exists but cannot be done as things are now; the message says why",
    422: "The path or body does not fit; `details` names each field (code invalid)",
    503: "Not now: every log-query slot is taken (code busy, with Retry-After) or the query ran "
    "past its time or memory limit (code query_too_slow); retry later or narrow the query",
    504: "The fire request was sent but its attempt was not logged in time",
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "required": True,
            "description": 'Bearer, with error="invalid_token" for a token not accepted',
            "schema": {"type": "string"},
        }
    },
    403: {
        "WWW-Authenticate": {
            "description": 'Bearer error="insufficient_scope" and the scope needed',
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying (code busy)",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_responses(*answers: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for the error codes it answers, each with ErrorResponse.

    An answer is a status code (described generally) or (status, what it means on this route).
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for answer in answers:
        status, description = answer if isinstance(answer, tuple) else (answer, "")
        responses[status] = {
            "model": ErrorResponse,
            "description": description or _ERROR_ANSWERS[status],
        }
        if status in _ERROR_HEADERS:
            responses[status]["headers"] = _ERROR_HEADERS[status]
    return responses


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)


def field_errors(errors: Any) -> Invalid:
    """pydantic's errors as one sentence per field, e.g. 'url: unknown macro {txid}; ...'."""
    details = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        details.append({"field": field, "message": message})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return Invalid(summary or "invalid request body", details=details)


_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def http_error(request: Request, exc: HTTPException) -> ApiError:
    """Starlette's and FastAPI's own refusals (404, 405, a body that cannot be read) as ApiError,
    so that they have the API's error shape too."""
    if isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's 400 "error parsing the body": JSON that is not UTF-8. JSON that does not
        # parse is a 422 (RequestValidationError), and so is this.
        message = "not valid JSON: it is not UTF-8 text"
        return Invalid(f"body: {message}", details=[{"field": "body", "message": message}])
    headers = dict(exc.headers or {})
    message = str(exc.detail)
    if exc.status_code == 405:
        # Starlette names the methods of the first route with this path only, and each route
        # here has one method.
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        message = f"{request.method} is not allowed here; use {headers['Allow']}"
    error = ApiError(message, headers=headers or None)
    error.status = exc.status_code
    error.code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    return error


def _allowed_methods(request: Request, given: str) -> str:
    """The methods the OpenAPI document lists for the request's path, else `given`."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    paths: dict[str, dict[str, Any]] = request.app.openapi()["paths"]
    # A path of its own (/api/v1/logs/count) before a template that also matches it.
    for template in sorted(paths, key=lambda t: t.count("{")):
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path):
            return ", ".join(sorted(m.upper() for m in paths[template] if m in _METHODS))
    return given


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(field_errors(exc.errors()))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(http_error(request, exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
