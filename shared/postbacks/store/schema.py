"""Apply the DDL in deploy/clickhouse/ (one statement per file, in name order) idempotently.

The files are written for the database `postbacks`, so an operator can feed them to
clickhouse-client as they are. A store using another database (each test has its own) gets the
same statements with that one qualifier renamed.

A table that already exists keeps its data and gains the columns its file has added since
(missing_columns.py); nothing else of an existing table is changed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from postbacks.store.missing_columns import add_missing_columns
from postbacks.store.protocol import Store

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "deploy" / "clickhouse"
# Only `postbacks.postback_...`: every table is named postback_*, and prose in comments is not.
_QUALIFIER = re.compile(r"\bpostbacks\.(?=postback_)")

log = logging.getLogger(__name__)


def schema_statements(database: str, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    files = sorted(schema_dir.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no .sql files in {schema_dir}")
    statements: list[str] = []
    for path in files:
        text = _QUALIFIER.sub(f"{database}.", path.read_text())
        # One statement per file: splitting SQL on ';' would break on strings and comments.
        statements.append(text.strip().removesuffix(";"))
    return statements


async def apply_schema(store: Store) -> None:
    await store.execute(f"CREATE DATABASE IF NOT EXISTS {store.database}")
    statements = schema_statements(store.database)
    for table, column in await add_missing_columns(store, statements):
        log.warning("added column %s to the existing table %s (from its DDL)", column, table)
    for statement in statements:
        await store.execute(statement)
