"""Postback configuration model and its validation at save time (design §4).

Every check here runs when a configuration is saved, and names the field and the fix: what is
refused here can never go wrong later at a publisher.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self, get_args, get_origin
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from postbacks.attempts import UINT64_MAX, HttpMethod, PostbackType
from postbacks.inputs import ConversionStatus
from postbacks.macros import JSON_PLACEHOLDER, MACROS, describe_unknown, unknown_macros
from postbacks.templates import render_json
from postbacks.url_checks import URL_TEMPLATE_LIMIT, check_url_template

DEFAULT_TIMEOUT_MS = 10_000  # connect, headers and body together (issue 4)
DEFAULT_CONNECT_TIMEOUT_MS = 3000
# Retry policy and delay (issue 9 item 5): off by default, as in the reference product.
MAX_ATTEMPTS = 10
DEFAULT_RETRY_INITIAL_DELAY_MS = 1000
DEFAULT_RETRY_MAX_DELAY_MS = 60_000
MAX_RETRY_DELAY_MS = 600_000
# A postback that waits (its delay, or between retries) keeps its input's offset uncommitted and
# counts toward the dispatcher's bound of admitted postbacks, so waits are bounded: a long one
# would hold back the commits of everything after it on the partition, and be redone after a
# restart. Longer schedules belong to a re-fire.
MAX_DELAY_MS = 300_000
MAX_BODY = 65_536
MAX_HEADERS = 50

# RFC 9110 token characters: anything else (CR, LF, ':', spaces) cannot be in a header name.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
# Set by the HTTP client or by Postbacks itself; a configuration that set them would break the
# request or hide the attempt id from the publisher.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "x-postback-attempt-id"}
)


class BodyFormat(StrEnum):
    JSON = "json"
    FORM = "form"


CONTENT_TYPES = {
    BodyFormat.JSON: "application/json; charset=utf-8",
    BodyFormat.FORM: "application/x-www-form-urlencoded",
}


_JSON_SAMPLES: tuple[dict[str, str], ...] = (
    {},  # every macro missing: bare ones render null
    dict.fromkeys(MACROS, "text"),  # strings, numeric macros included
    dict.fromkeys(MACROS, "-1.5e3"),  # numbers with a sign, a fraction and an exponent
)


def _int_as_text(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_macros(template: str) -> None:
    unknown = unknown_macros(template)
    if unknown:
        raise ValueError(describe_unknown(unknown))


class PostbackConfigIn(BaseModel):
    """What a client sends to create or replace a configuration."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: PostbackType
    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=URL_TEMPLATE_LIMIT,
            # For the OpenAPI document only (check_url_template checks, and says what is wrong):
            # http(s)://, then no space or control character.
            json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f]+$"},
        ),
    ]
    # UInt64 columns, as the inputs' ids: a larger number could never match an input.
    offer_id: Annotated[int | None, Field(ge=0, le=UINT64_MAX)] = None
    publisher_id: Annotated[int | None, Field(ge=0, le=UINT64_MAX)] = None
    event_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    statuses: Annotated[list[ConversionStatus], Field(min_length=1)] = Field(
        default_factory=lambda: [ConversionStatus.APPROVED]
    )
    method: HttpMethod = HttpMethod.GET
    body: Annotated[str | None, Field(max_length=MAX_BODY)] = None
    content_type: BodyFormat = BodyFormat.JSON
    headers: Annotated[dict[str, str], Field(max_length=MAX_HEADERS)] = Field(default_factory=dict)
    timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = DEFAULT_TIMEOUT_MS
    # The TCP (and TLS) connection alone, within the total: the dispatcher uses
    # min(connect_timeout_ms, timeout_ms), so a short timeout_ms alone stays valid.
    connect_timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = DEFAULT_CONNECT_TIMEOUT_MS
    enabled: bool = True
    # Retries (dispatcher/retry_policy.py): 1 = no retry. Only postbacks an input fires are
    # retried or delayed; a test fire or a re-fire is one explicit attempt.
    retry_max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = 1
    retry_initial_delay_ms: Annotated[int, Field(ge=100, le=MAX_RETRY_DELAY_MS)] = (
        DEFAULT_RETRY_INITIAL_DELAY_MS
    )
    retry_max_delay_ms: Annotated[int, Field(ge=100, le=MAX_RETRY_DELAY_MS)] = (
        DEFAULT_RETRY_MAX_DELAY_MS
    )
    delay_ms: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0  # before the first attempt

    @field_validator("name")
    @classmethod
    def _name_is_trimmed(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("must not start or end with spaces")
        return value

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id_as_text(cls, value: object) -> object:
        return _int_as_text(value)

    @field_validator("statuses")
    @classmethod
    def _dedupe_statuses(cls, value: list[ConversionStatus]) -> list[ConversionStatus]:
        return sorted(set(value))

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        check_url_template(value)
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name, template in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(
                    f"header name {name!r} is not a valid HTTP header name "
                    "(letters, digits and !#$%&'*+.^_`|~- only; no spaces, ':' or line breaks)"
                )
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by Postbacks itself and cannot be set")
            if name.lower() in seen:
                raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
            seen.add(name.lower())
            if any(c in template for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: value must not contain CR, LF or NUL")
            if template != template.strip(" \t"):
                raise ValueError(
                    f"header {name!r}: value must not start or end with spaces or tabs"
                )
            try:
                _check_macros(template)
            except ValueError as exc:
                raise ValueError(f"header {name!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.retry_max_delay_ms < self.retry_initial_delay_ms:
            raise ValueError(
                f"retry_max_delay_ms ({self.retry_max_delay_ms}) must be at least "
                f"retry_initial_delay_ms ({self.retry_initial_delay_ms}): it caps each wait"
            )
        if self.event_id is not None and self.type is not PostbackType.EVENT:
            raise ValueError("event_id is only allowed when type is Event")
        if self.type is PostbackType.CLICK and self.statuses != [ConversionStatus.APPROVED]:
            raise ValueError("statuses only apply to Conversion and Event postbacks, not Click")
        if self.body is not None:
            if self.method is HttpMethod.GET:
                raise ValueError(
                    "body: a GET postback cannot have a body; use method POST, or put the "
                    "values in the url"
                )
            self._check_body(self.body)
        return self

    def _check_body(self, body: str) -> None:
        if self.content_type is BodyFormat.FORM:
            try:
                _check_macros(body)
            except ValueError as exc:
                raise ValueError(f"body: {exc}") from None
            return
        unknown = unknown_macros(body, JSON_PLACEHOLDER)
        if unknown:
            raise ValueError(f"body: {describe_unknown(unknown)}")
        # A bare macro renders as one JSON token, null, a string or (numeric macros) a number;
        # in-string ones as escaped text. A template that parses with every bare macro as each
        # kind of token has each one where any value fits, so it parses for every value.
        try:
            for sample in _JSON_SAMPLES:
                json.loads(render_json(body, sample))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"body: not valid JSON once rendered ({exc.msg} at character {exc.pos}); put "
                'macros inside strings ("tx": "{transaction_id}") or bare for numbers '
                '("payout": {payout})'
            ) from None


class PostbackConfig(PostbackConfigIn):
    """A stored configuration: the client's fields plus identity and bookkeeping."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    created_at: datetime
    updated_at: datetime
    version: Annotated[int, Field(ge=1)]

    @classmethod
    def stamp(
        cls,
        payload: PostbackConfigIn,
        *,
        id: UUID,
        created_at: datetime,
        now: datetime,
        version: int,
    ) -> PostbackConfig:
        # Only the client's fields: `payload` may be a PostbackConfigPut carrying read-only ones.
        fields = payload.model_dump(include=set(EDITABLE_FIELDS))
        return cls(**fields, id=id, created_at=created_at, updated_at=now, version=version)

    def editable(self) -> dict[str, Any]:
        """The client's fields as JSON values: what a merge patch applies to."""
        return self.model_dump(mode="json", include=set(EDITABLE_FIELDS))


# What a client sets, and what only the server does (PostbackConfig adds them).
EDITABLE_FIELDS: tuple[str, ...] = tuple(PostbackConfigIn.model_fields)
READ_ONLY_FIELDS: tuple[str, ...] = tuple(
    name for name in PostbackConfig.model_fields if name not in PostbackConfigIn.model_fields
)

_READ_BACK = "read-only: may be sent back as GET returned it, and is then ignored"


class ReadBack(BaseModel):
    """The read-only fields of a configuration, as a client may send them back with PUT or
    PATCH (a GET, changed, then sent back). Each one sent must be what the server holds: the
    service refuses a changed one (422), and an earlier version (409: changed since read)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID | None = Field(default=None, description=f"{_READ_BACK}; must match the path")
    created_at: AwareDatetime | None = Field(default=None, description=_READ_BACK)
    updated_at: AwareDatetime | None = Field(default=None, description=_READ_BACK)
    version: int | None = Field(
        default=None,
        ge=1,
        le=UINT64_MAX,
        description=(
            f"{_READ_BACK}; a version older than the stored one means the configuration "
            "changed since it was read, and the write is refused with 409"
        ),
    )

    def read_back(self) -> ReadBack:
        """Only the read-only fields, whatever else this model holds."""
        return ReadBack.model_validate(self.model_dump(include=set(READ_ONLY_FIELDS)))


class PostbackConfigPut(ReadBack, PostbackConfigIn):
    """What PUT takes: every field a client sets (PostbackConfigIn), and optionally the
    read-only ones as GET returned them, so a configuration read, changed and sent back is
    accepted. Unknown fields are refused, as by PostbackConfigIn."""

    model_config = ConfigDict(extra="forbid")


MERGE_PATCH = "application/merge-patch+json"


class _MergePatch(ReadBack):
    # The field is declared by create_model below; an event id may be sent as a number.
    @field_validator("event_id", mode="before", check_fields=False)
    @classmethod
    def _event_id_as_text(cls, value: object) -> object:
        return _int_as_text(value)

    def changes(self) -> dict[str, Any]:
        """The patch as JSON, read-only fields left out: the fields it names, null included."""
        return self.model_dump(mode="json", exclude_unset=True, exclude=set(READ_ONLY_FIELDS))


def _patch_field(info: FieldInfo) -> Any:
    """A field as a merge patch names it: optional, null allowed (it removes the field), with
    its bounds and documentation. In a map (`headers`) null is allowed for a value (it removes
    that key), and the map's size is checked on the merged configuration, not on the patch."""
    annotation: Any = info.annotation
    bounds = info.metadata
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        annotation, bounds = dict[key, value | None], []  # type: ignore[valid-type]
    field = Field(
        default=None, description=info.description, json_schema_extra=info.json_schema_extra
    )
    return (Annotated[annotation | None, *bounds] if bounds else annotation | None, field)


# What PATCH takes: a JSON merge patch (RFC 7396) of a configuration, derived from
# PostbackConfigIn. Only the fields it names change; `null` removes a field, i.e. resets it to
# its default (a required field cannot be removed); an object (`headers`) is merged key by key.
# Each field keeps its type and bounds (so the OpenAPI document states them); the other checks
# run on the merged configuration, through PostbackConfigIn, as for the same PUT.
PostbackConfigPatch: type[_MergePatch] = create_model(
    "PostbackConfigPatch",
    __base__=_MergePatch,
    __doc__="A JSON merge patch (RFC 7396) of a configuration: only the fields it names change.",
    **{name: _patch_field(info) for name, info in PostbackConfigIn.model_fields.items()},
)


def patched(config: PostbackConfig, patch: _MergePatch) -> dict[str, Any]:
    """`config`'s editable fields with `patch` applied (RFC 7396). Header names are matched
    ignoring case, as everywhere else: `{"headers": {"x-source": null}}` removes `X-Source`."""
    changes = patch.changes()
    headers = changes.get("headers")
    if isinstance(headers, dict):
        stored = {name.lower(): name for name in config.headers}
        changes["headers"] = {stored.get(name.lower(), name): v for name, v in headers.items()}
    result: dict[str, Any] = merge_patch(config.editable(), changes)
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2, MergePatch(Target, Patch), on JSON values (dict, list, str, ...).

    Neither argument is changed; the result may share unchanged parts with them.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
