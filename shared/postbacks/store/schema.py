"""Apply the DDL in deploy/clickhouse/ (one statement per file, in name order) idempotently.

The files are written for the database `postbacks`, so an operator can feed them to
clickhouse-client as they are. A store using another database (each test has its own) gets the
same statements with that one qualifier renamed.

A table that already exists keeps its data and gains the columns its file has added since
(missing_columns.py); nothing else of an existing table is changed.

SCHEMA_VERSION numbers this DDL: `postbacks migrate` records it (migration.py), and a service
refuses a schema older than it. SCHEMA_DIGEST pins the DDL it numbers, so a change to the files
fails tests/store/test_schema_version.py until the version is bumped with it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from postbacks.store.missing_columns import add_missing_columns
from postbacks.store.protocol import Store

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "deploy" / "clickhouse"
# Only `postbacks.postback_...`: every table is named postback_*, and prose in comments is not.
_QUALIFIER = re.compile(r"\bpostbacks\.(?=postback_)")

# Bump SCHEMA_VERSION with every change to the statements of deploy/clickhouse/*.sql, and set
# SCHEMA_DIGEST to schema_digest() of the changed files (the test's failure says both).
SCHEMA_VERSION = 1
SCHEMA_DIGEST = "7afd3dd0a034a861885d28e7b47b0bd231f1df3e2e4997acda3542fe3b6f0eac"

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


def schema_digest(schema_dir: Path = SCHEMA_DIR) -> str:
    """SHA-256 of the statements, file by file: whole-line `--` comments and blank lines left
    out, so rewording the prose above a statement needs no new version."""
    digest = hashlib.sha256()
    for path in sorted(schema_dir.glob("*.sql")):
        lines = [line.rstrip() for line in path.read_text().splitlines()]
        kept = [line for line in lines if line.strip() and not line.lstrip().startswith("--")]
        digest.update((f"{path.name}\n" + "\n".join(kept) + "\n\n").encode())
    return digest.hexdigest()


async def apply_schema(store: Store) -> list[tuple[str, str]]:
    """Create what is missing and add missing columns; the (table, column) pairs added."""
    await store.execute(f"CREATE DATABASE IF NOT EXISTS {store.database}")
    statements = schema_statements(store.database)
    added = await add_missing_columns(store, statements)
    for table, column in added:
        log.warning("added column %s to the existing table %s (from its DDL)", column, table)
    for statement in statements:
        await store.execute(statement)
    return added
