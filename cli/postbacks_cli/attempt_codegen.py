"""The files derived from the attempt record's table (postbacks.attempts.AttemptRecord).

`python -m postbacks_cli.attempt_codegen` writes them; `--check` only says whether the
committed ones are current (tests run it). Four derived definitions are files because they
must be: the dispatcher's hot-path dataclass (typed for mypy, and a plain dataclass because
building the pydantic model cost about 12 µs a postback against 2.7 µs), the Logs page's
columns (a static ES module), the column list of the attempt log's DDL and the table of fields
in docs/design.md §6.
"""

from __future__ import annotations

import json
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from postbacks.attempts import FIELDS, AttemptField
from postbacks_cli.generating import REPO, write_or_check

COMMAND = "python -m postbacks_cli.attempt_codegen"
DISPATCHER_FILE = REPO / "services/dispatcher/dispatcher/attempt_fields.py"
COLUMNS_JS_FILE = REPO / "services/query-api/query_api/pages/static/js/columns.js"
DDL_FILE = REPO / "deploy/clickhouse/001_postback_attempts.sql"
DESIGN_FILE = REPO / "docs/design.md"
# The generated part of a file written by hand lies between two such lines.
DDL_BEGIN = "    -- The columns: generated from postbacks.attempts.AttemptRecord (make generated)."
DDL_END = "    -- End of the generated columns."
DESIGN_BEGIN = (
    "<!-- The fields: generated from postbacks.attempts.AttemptRecord (make generated) -->"
)
DESIGN_END = "<!-- End of the generated fields. -->"
# The dispatcher holds attempt_id as the UUID's canonical text (dispatcher/attempt.py says why).
_DISPATCHER_TYPES = {"attempt_id": "str"}


def _python_name(annotation: Any) -> str:
    if isinstance(annotation, types.UnionType):
        return " | ".join(_python_name(arg) for arg in annotation.__args__)
    if annotation is type(None):
        return "None"
    name: str = annotation.__name__
    return name


def dispatcher_module() -> str:
    enums = sorted({f.python_type.__name__ for f in FIELDS if f.choices})
    lines = [
        f'"""Generated from postbacks.attempts.AttemptRecord by `{COMMAND}`.',
        "",
        "Do not edit. The attempt record's fields, in its order, as the dispatcher fills them",
        "(attempt.py).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "from datetime import datetime",
        "from uuid import UUID",
        "",
        f"from postbacks.attempts import {', '.join(enums)}",
        "",
        "",
        "@dataclass(slots=True)",
        "class AttemptFields:",
    ]
    for field in FIELDS:
        python = _DISPATCHER_TYPES.get(field.name) or _python_name(field.python_type)
        lines.append(f"    {field.name}: {python}")
    return "\n".join(lines) + "\n"


def _js_column(field: AttemptField) -> str:
    parts = [f"key: {json.dumps(field.name)}", f"label: {json.dumps(field.column.label)}"]
    if field.python_type is int:
        parts.append("numeric: true")
    values = field.choices or field.column.suggestions
    if values:
        parts.append(f"values: {json.dumps(list(values), ensure_ascii=False)}")
    return "  { " + ", ".join(parts) + " },"


def columns_js() -> str:
    filterable = [f for f in FIELDS if f.column.filterable]
    return (
        "\n".join(
            [
                "// Generated from postbacks.attempts.AttemptRecord (make generated): do not edit.",
                "// The filterable columns of the log page, with the API's names (design §6).",
                "",
                "export const COLUMNS = [",
                *(_js_column(field) for field in filterable),
                "];",
                "",
                "export const BY_KEY = new Map(COLUMNS.map((column) => [column.key, column]));",
                "",
                "export const OPERATORS = [",
                '  { key: "is", label: "is", suffix: "" },',
                '  { key: "is_not", label: "is not", suffix: "__is_not" },',
                '  { key: "contains", label: "contains", suffix: "__contains" },',
                "];",
            ]
        )
        + "\n"
    )


def ddl_columns() -> list[str]:
    """The column lines of postback_attempts, in the record's order."""
    lines = []
    for field in FIELDS:
        comment = field.column.comment.replace("'", "''")
        lines.append(f"    {field.name:<15} {field.column.clickhouse:<40} COMMENT '{comment}',")
    return lines


def _json_type(field: AttemptField) -> str:
    if field.choices:
        return " / ".join(f"`{choice}`" for choice in field.choices)
    names = {"UUID": "UUID", "datetime": "RFC 3339, UTC (`Z`), milliseconds", "int": "integer"}
    return " or ".join(
        names.get(_python_name(part), "string").replace("None", "null")
        if part is not type(None)
        else "null"
        for part in getattr(field.python_type, "__args__", (field.python_type,))
    )


def _bounds(field: AttemptField) -> str:
    said = []
    if field.max_length is not None:
        said.append(f"at most {field.max_length:,} characters")
    if field.ge is not None and field.le is not None:
        said.append(f"{field.ge} to {field.le:,}")
    if not field.required:
        default = {None: "null", "": '""'}.get(field.default, field.default)
        said.append(f"default `{default}`")
    return "; ".join(said)


def design_fields() -> list[str]:
    """The table of fields in docs/design.md §6."""
    lines = [
        "| name | JSON | column | bounds, default | page, filter | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        column = f.column.clickhouse.split(" CODEC", 1)[0].split(" DEFAULT", 1)[0]
        shown = f.column.label + (", filters" if f.column.filterable else "")
        lines.append(
            f"| `{f.name}` | {_json_type(f)} | `{column}` | {_bounds(f)} | {shown} "
            f"| {f.column.comment} |"
        )
    return lines


def between(current: str, begin: str, end: str, generated: list[str], path: Path) -> str:
    """`current` with the lines between `begin` and `end` replaced by `generated`."""
    lines = current.splitlines()
    try:
        first, last = lines.index(begin), lines.index(end)
    except ValueError as exc:
        raise SystemExit(f"{path} lacks the lines {begin!r} and {end!r}") from exc
    return "\n".join([*lines[: first + 1], *generated, *lines[last:]]) + "\n"


def generated() -> dict[Path, str]:
    return {
        DISPATCHER_FILE: dispatcher_module(),
        COLUMNS_JS_FILE: columns_js(),
        DDL_FILE: between(DDL_FILE.read_text(), DDL_BEGIN, DDL_END, ddl_columns(), DDL_FILE),
        DESIGN_FILE: between(
            DESIGN_FILE.read_text(), DESIGN_BEGIN, DESIGN_END, design_fields(), DESIGN_FILE
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    return write_or_check(COMMAND, __doc__, generated, argv)


if __name__ == "__main__":
    raise SystemExit(main())
