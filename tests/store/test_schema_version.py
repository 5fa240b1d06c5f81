"""SCHEMA_VERSION moves with the DDL: a change to deploy/clickhouse/*.sql fails here until the
version is bumped, so a release whose services need new DDL cannot ship with the old number
(and its services start on a schema `postbacks migrate` never brought up to date)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postbacks.store.migration import VERSION_TABLE, TooOld, check_server_version, parse_version
from postbacks.store.schema import (
    SCHEMA_DIGEST,
    SCHEMA_DIR,
    SCHEMA_VERSION,
    schema_digest,
    schema_statements,
)


def test_the_ddl_is_the_one_schema_version_numbers() -> None:
    digest = schema_digest()
    assert digest == SCHEMA_DIGEST, (
        "the statements in deploy/clickhouse/*.sql changed: in shared/postbacks/store/schema.py "
        f"set SCHEMA_VERSION = {SCHEMA_VERSION + 1} and SCHEMA_DIGEST = {digest!r}, so the "
        "services of this release refuse a schema that `postbacks migrate` has not updated "
        "(only the digest, if the change cannot matter to a running service, e.g. a COMMENT)"
    )


def test_prose_comments_need_no_new_version(tmp_path: Path) -> None:
    for source in sorted(SCHEMA_DIR.glob("*.sql")):
        (tmp_path / source.name).write_text(source.read_text())
    first = sorted(tmp_path.glob("*.sql"))[0]
    text = first.read_text()
    first.write_text("-- reworded prose\n\n" + text.replace("\n", "\n\n", 1))
    assert schema_digest(tmp_path) == SCHEMA_DIGEST
    first.write_text(text.replace("CODEC(ZSTD(1))", "CODEC(ZSTD(2))", 1))
    assert schema_digest(tmp_path) != SCHEMA_DIGEST


def test_the_version_table_is_part_of_the_schema() -> None:
    assert any(f"postbacks.{VERSION_TABLE}\n" in s for s in schema_statements("postbacks"))


@pytest.mark.parametrize(
    ("version", "old"),
    [
        ("26.9.2.1", False),
        ("26.2.1.1", False),
        ("26.10.1.5-testing", False),
        ("27.1", False),
        ("26.1.3.2", True),
        ("25.8.10.1", True),
    ],
)
def test_a_server_older_than_the_minimum_is_refused(version: str, old: bool) -> None:
    if old:
        with pytest.raises(TooOld, match=rf"ClickHouse {version} is older than the 26\.2"):
            check_server_version(version)
    else:
        check_server_version(version)


def test_versions_parse() -> None:
    assert parse_version("26.9.2.1") == (26, 9, 2, 1)
    assert parse_version(" 24.8.14.10459.altinitystable\n") == (24, 8, 14, 10459)
    with pytest.raises(ValueError, match="not a ClickHouse version"):
        parse_version("unknown")


def test_a_version_that_is_no_version_is_refused_by_name() -> None:
    with pytest.raises(TooOld, match="is CLICKHOUSE_URL a ClickHouse server"):
        check_server_version("<html>502 Bad Gateway</html>")
