"""Bytes per stored attempt, measured: the input figure of the capacity plan's storage rows.

    PYTHONPATH=. .venv/bin/python docs/capacity/measure_row_bytes.py --rows 1000000

Generates `--rows` attempts with the query benchmark's generator (bench/query_data.py: URLs of
150-300 characters, 5-20 % failures, Zipf-like publishers) into the schema of deploy/clickhouse
in a temporary chDB directory, merges the parts (OPTIMIZE FINAL, as a table some hours old is),
and reads system.parts and system.columns: bytes on disk per attempt row, per rollup row, and
the heaviest columns. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.query_data import Shape, insert_sql
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema


async def measure(rows: int, data_dir: Path) -> dict[str, Any]:
    store = EmbeddedStore(data_dir, database="capacity")
    await apply_schema(store)
    started = time.monotonic()
    await store.execute(
        insert_sql(store.table("postback_attempts"), Shape(rows, int(time.time() * 1000)))
    )
    load_s = time.monotonic() - started
    tables: dict[str, Any] = {}
    for table in ("postback_attempts", "postback_attempts_by_minute"):
        await store.execute(f"OPTIMIZE TABLE {store.table(table)} FINAL")
        (parts,) = await store.select(
            "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS disk, "
            "sum(data_uncompressed_bytes) AS raw FROM system.parts "
            "WHERE database = {db:String} AND table = {t:String} AND active",
            {"db": store.database, "t": table},
        )
        tables[table] = {
            "rows": int(parts["rows"]),
            "bytes_on_disk": int(parts["disk"]),
            "bytes_per_row": round(int(parts["disk"]) / max(int(parts["rows"]), 1), 1),
            "compression_ratio": round(int(parts["raw"]) / max(int(parts["disk"]), 1), 2),
        }
    columns = await store.select(
        "SELECT name, data_compressed_bytes AS bytes FROM system.columns "
        "WHERE database = {db:String} AND table = 'postback_attempts' "
        "ORDER BY data_compressed_bytes DESC LIMIT 6",
        {"db": store.database},
    )
    attempts = tables["postback_attempts"]["rows"]
    return {
        "generated_rows": rows,
        "load_seconds": round(load_s, 1),
        "tables": tables,
        "heaviest_columns_bytes_per_row": {
            c["name"]: round(int(c["bytes"]) / attempts, 1) for c in columns
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="postbacks-capacity-") as data_dir:
        print(json.dumps(asyncio.run(measure(rows, Path(data_dir))), indent=2))


if __name__ == "__main__":
    main()
