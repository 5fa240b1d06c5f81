"""The API's error shape: {"error": {"code": ..., "message": ...}} with a 4xx that says what to fix.

ApiError
├── BadRequest         400: a query the API cannot run (unknown column, bad cursor, ...)
│   └── QueryTooLarge  400: the query would read more rows than one query may
├── Unauthorized       401: no valid bearer token (with WWW-Authenticate: Bearer)
├── Forbidden          403: a valid token without the scope the endpoint needs
├── NotFound           404
├── Invalid            422: a body that does not fit, naming the field
└── Unavailable        503: not now
    ├── QueryTooSlow   503: the query ran past its time (or memory) limit
    └── Busy           503: every log-query slot is taken (with Retry-After)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(field_errors(exc.errors()))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
