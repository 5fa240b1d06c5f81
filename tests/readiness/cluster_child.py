"""Run in a child process by test_retention.py: the log-writer's retention on a real cluster's
tables, Distributed over `_local` tables, in a chDB that knows one cluster (`config-file`).

chDB opens one data directory per process and the test process already has one without that
cluster, hence the child. Prints a JSON summary: each table's engine and TTL after retention.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
from pathlib import Path

import orjson
from chdb import session as chdb_session

from log_writer.retention import apply_retention
from postbacks.store import chdb_backend
from postbacks.store.chdb_backend import EmbeddedStore

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse-cluster"
CLUSTER = "postbacks_test"
CONFIG = f"""<clickhouse><remote_servers><{CLUSTER}><shard><replica>
<host>127.0.0.1</host><port>9000</port></replica></shard></{CLUSTER}></remote_servers></clickhouse>
"""


def cluster_form(sql: str, database: str) -> str:
    """The cluster DDL as one chDB can run: the test cluster, no Keeper, names in `database`."""
    sql = sql.replace(" ON CLUSTER '{cluster}'", "").replace("'{cluster}'", f"'{CLUSTER}'")
    sql = re.sub(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?", r"\1(", sql)
    sql = sql.replace(", postbacks, postback_", f", {database}, postback_")
    return re.sub(r"\bpostbacks\.(?=postback_)", f"{database}.", sql).strip().rstrip(";")


def open_cluster_session(data_dir: Path) -> None:
    """Seed the process's shared chDB session with the cluster configuration: the store would
    open a plain one, and chDB allows only one per process."""
    config = data_dir / "cluster.xml"
    config.write_text(CONFIG)
    path = data_dir.resolve()
    chdb_backend._sessions[path] = chdb_session.Session(  # type: ignore[no-untyped-call]
        f"file:{path}?config-file={config}"
    )
    atexit.register(chdb_backend._close_sessions)  # as shared_session would have


async def main(data_dir: Path) -> None:
    store = EmbeddedStore(data_dir, database="cluster_retention")
    await store.execute("CREATE DATABASE cluster_retention")
    for name in ("001a", "001b", "002a", "002b"):
        (path,) = CLUSTER_DIR.glob(f"{name}_*.sql")
        await store.execute(cluster_form(path.read_text(), store.database))
    await apply_retention(store, log_days=7, rollup_days=30)
    rows = await store.select(
        "SELECT name, engine, engine_full FROM system.tables WHERE database = {db:String}",
        {"db": store.database},
    )
    print(orjson.dumps({r["name"]: [r["engine"], r["engine_full"]] for r in rows}).decode())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    open_cluster_session(Path(sys.argv[1]))
    asyncio.run(main(Path(sys.argv[1])))
