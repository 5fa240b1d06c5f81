"""The attempt record's table (postbacks.attempts.FIELDS) and what is derived from it agree.

The DDL's column list, the dispatcher's dataclass and the Logs page's columns are generated
(`make generated`); the rest is derived when imported. These tests hold the generated files
current, the table consistent with itself, and the table as the engine created it equal to the
record, so adding a field is one edit and `make generated`.
"""

from __future__ import annotations

import dataclasses
import re

from postbacks.attempts import FIELDS, TEXT_LIMITS, AttemptRecord
from postbacks.store.protocol import Store
from postbacks_cli import attempt_codegen

CODECS = re.compile(r"\b(Delta|DoubleDelta|Gorilla|T64|ZSTD|LZ4HC|LZ4)\b")
UINT_MAX = {"UInt8": 2**8 - 1, "UInt16": 2**16 - 1, "UInt32": 2**32 - 1, "UInt64": 2**64 - 1}


def test_the_generated_files_are_current() -> None:
    # On failure: run `make generated` (python -m postbacks_cli.attempt_codegen).
    assert attempt_codegen.main(["--check"]) == 0


def test_each_integer_field_is_bounded_as_its_column() -> None:
    for field in FIELDS:
        if field.python_type is int:
            base = field.filter_type
            assert (field.ge, field.le) in {(0, UINT_MAX[base]), (1, UINT_MAX[base])}, field.name


def test_each_text_field_is_bounded_and_the_limits_name_only_fields() -> None:
    texts = {f.name for f in FIELDS if f.python_type is str}
    assert texts == set(TEXT_LIMITS)
    for field in FIELDS:
        if field.python_type is str:
            assert field.max_length == TEXT_LIMITS[field.name]


def test_what_the_page_filters_it_labels() -> None:
    for field in FIELDS:
        if field.column.filterable:
            assert field.column.label, field.name


def test_the_dispatcher_fills_the_fields_of_the_record_in_its_order() -> None:
    from dispatcher.attempt import Attempt

    assert [f.name for f in dataclasses.fields(Attempt)] == list(AttemptRecord.model_fields)


async def test_the_engine_creates_the_table_the_record_declares(store: Store) -> None:
    columns = await store.select(
        "SELECT name, type, default_expression, compression_codec, comment FROM system.columns"
        " WHERE database = {db:String} AND table = 'postback_attempts' ORDER BY position",
        {"db": store.database},
    )
    assert [c["name"] for c in columns] == [f.name for f in FIELDS]
    for column, field in zip(columns, FIELDS, strict=True):
        declared = field.column.clickhouse
        assert declared.startswith(column["type"]), (field.name, column["type"])
        assert column["comment"] == field.column.comment
        default = re.search(r"DEFAULT (.+?)(?: CODEC|$)", declared)
        assert column["default_expression"] == (default.group(1) if default else "")
        # The engine writes each codec's parameters (Delta becomes Delta(8)): compare the names.
        assert CODECS.findall(column["compression_codec"]) == CODECS.findall(declared)
