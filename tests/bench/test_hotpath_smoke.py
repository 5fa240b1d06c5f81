"""The hot-path benchmark at a tiny size, so it cannot rot unnoticed: every step of a postback
runs through the dispatcher's real code (nothing waits for I/O) and gets a time. Speeds are for
`make bench`, never for tests."""

from __future__ import annotations

from pathlib import Path

from tests.bench.running import run_bench


def test_the_hot_path_benchmark_times_every_step_beside_the_bare_stack(tmp_path: Path) -> None:
    done, figures = run_bench(
        "hotpath", tmp_path,
        "--hotpath-number", "200", "--hotpath-repeat", "1", "--hotpath-batch", "50",
        timeout_s=120,
    )  # fmt: skip
    steps = figures["microseconds"]
    assert len(steps) == 6
    assert all(us > 0 for us in steps.values()), steps
    assert abs(figures["ours_total_us"] - sum(steps.values())) < 1e-9
    assert figures["bare_us"] > 0
    assert figures["ratio"] == figures["ours_total_us"] / figures["bare_us"]
    assert "x the bare stack's Python per postback" in done.stdout
