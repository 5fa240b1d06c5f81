"""SQL text shared by every backend, in a module that imports no engine.

Pinned settings make every backend and ClickHouse version answer alike (chDB's defaults differ
from a server's): numbers as JSON numbers, times as RFC 3339 UTC ("2026-11-28T01:02:03.456Z"),
and rows accepted with RFC 3339 times as pydantic writes them ("...T01:02:03.456789Z").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

JSON_SETTINGS = (
    "output_format_json_quote_64bit_integers=0, output_format_json_quote_decimals=0, "
    "date_time_output_format='iso'"
)
# Rows may carry fields the table does not have (a newer producer) and leave out ones that
# have a DEFAULT: the log-writer passes valid records through as they came (log_writer/validation).
# Every field is parsed, none skipped unread, so a record that names a field twice is always
# refused ("Duplicate field found"; tests/log_writer/test_exactly_once.py), never stored with the
# first value where the log-writer's check read the last.
INSERT_SETTINGS = (
    "date_time_input_format='best_effort', input_format_skip_unknown_fields=1, "
    "input_format_defaults_for_omitted_fields=1, input_format_json_ignore_unnecessary_fields=0"
)

_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_]*", re.ASCII)


def select_settings(extra: Mapping[str, str | int | float] | None = None) -> str:
    """The SETTINGS clause of a SELECT: the pinned JSON_SETTINGS, then the caller's `extra`.

    Names must be plain setting names; string values are quoted, numbers written as they are.
    """
    clause = [JSON_SETTINGS]
    for name, value in (extra or {}).items():
        if not _SETTING_NAME.fullmatch(name):
            raise ValueError(f"not a ClickHouse setting name: {name!r}")
        if isinstance(value, str):
            text = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        else:
            text = str(int(value) if isinstance(value, bool) else value)
        clause.append(f"{name}={text}")
    return ", ".join(clause)
