"""`python -m tests.crash.stored_attempts <chdb dir>`: the stored attempt log as JSON on stdout.

Plain SELECTs, no FINAL: what the API, Grafana and analysts see.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from chdb import session as chdb_session


def main(directory: str) -> None:
    db = chdb_session.Session(str(Path(directory)))  # type: ignore[no-untyped-call]

    def rows(sql: str) -> list[dict[str, object]]:
        data = db.query(sql, "JSONEachRow").bytes()  # type: ignore[no-untyped-call]
        return [orjson.loads(line) for line in data.splitlines() if line]

    log = rows(
        "SELECT toString(attempt_id) AS id, transaction_id AS tx, "
        "startsWith(error, 'not sent:') AS unsent "
        "FROM postbacks.postback_attempts SETTINGS output_format_json_quote_64bit_integers=0"
    )
    [rollup] = rows(
        "SELECT sum(attempts) AS n FROM postbacks.postback_attempts_by_minute "
        "SETTINGS output_format_json_quote_64bit_integers=0"
    )
    sys.stdout.buffer.write(
        orjson.dumps(
            {
                "ids": [r["id"] for r in log],
                "transactions": [r["tx"] for r in log],
                "unsent": [r["tx"] for r in log if r["unsent"]],
                "rollup_attempts": rollup["n"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
