"""The ingest benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench ingest`
generates, preloads, inserts directly, runs the real log-writer, and its JSON says every attempt
was stored once. Speeds are for `make bench`, never for tests.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.running import run_bench

ATTEMPTS = 3000


def test_ingest_benchmark_stores_every_attempt_once_and_writes_its_figures(tmp_path: Path) -> None:
    done, figures = run_bench(
        "ingest", tmp_path,
        "--ingest-attempts", str(ATTEMPTS),
        "--ingest-batch", "1000",
        timeout_s=120,
    )  # fmt: skip
    assert figures["attempts"] == ATTEMPTS
    assert figures["stored_rows"] == figures["stored_distinct_attempt_ids"] == ATTEMPTS
    assert figures["pipeline"]["rows_per_s"] > 0
    assert figures["ceiling"]["rows_per_s"] > 0
    assert "pipeline / ceiling" in done.stdout
    stages = figures["stages_alone"]
    assert set(stages) == {"parse", "write", "consume"}
    assert all(stage["rows_per_s"] > 0 for stage in stages.values())
    assert "what bounds it" in done.stdout
