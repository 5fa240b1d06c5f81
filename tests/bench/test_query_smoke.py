"""The query benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench query`
generates the synthetic log, times every case through the API and directly, explains them and
writes its figures. Speeds are for `make bench`, never for tests.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.running import run_bench

ROWS = 30_000


def test_query_benchmark_answers_every_case_and_explains_the_scans(tmp_path: Path) -> None:
    done, figures = run_bench(
        "query", tmp_path,
        "--rows", str(ROWS), "--requests", "5", "--warmup", "1", "--budget", "5",
        "--rps-seconds", "1", "--deep-pages", "2",
        timeout_s=180,
    )  # fmt: skip
    assert figures["data"]["rows"] == ROWS
    assert figures["server_errors"] == {}
    cases = {case["label"]: case for case in figures["cases"]}
    assert len(cases) == 7
    for label, case in cases.items():
        assert case["api"]["samples"] >= 5, label
        assert case["direct"]["samples"] >= 5, label
        assert case["matching_rows"] > 0, label
        assert not case["verdict"].startswith(("ERROR", "SKIPPED")), (label, case["verdict"])
    for case in cases.values():
        floor = case["read_floor_ms"]
        assert (floor is not None and floor > 0) == (case["kind"] == "contains"), case["label"]
    # The EXPLAIN summary names the granules the primary key kept (a regression once left "?").
    publisher = cases["publisher failures"]["diagnosis"]["summary"]
    assert "granules kept: PrimaryKey" in publisher, publisher
    assert "a scan's floor" in done.stdout
