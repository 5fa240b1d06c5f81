"""The live-stream benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench
live-stream` serves the query-api, inserts attempts all along, and measures no client, 1 and N
clients. CPU figures are for `make bench`, never for tests; the one read per interval is the
design's, and holds at any size."""

from __future__ import annotations

from pathlib import Path

from tests.bench.running import run_bench


def test_live_stream_benchmark_reads_the_log_once_an_interval_for_any_number_of_clients(
    tmp_path: Path,
) -> None:
    done, figures = run_bench(
        "live-stream", tmp_path,
        "--live-seconds", "1", "--live-clients", "5", "--live-rate", "1000",
        timeout_s=120,
    )  # fmt: skip
    runs = figures["runs"]
    assert [r["clients"] for r in runs] == [0, 1, 5]
    assert runs[0]["reads"] == 0
    for run in runs[1:]:
        assert 1 <= run["reads"] <= run["reads_allowed"], run
        assert run["events_per_s"] > 0, run
    assert figures["server_errors"] == {}
    assert "attempts sent/s" in done.stdout
