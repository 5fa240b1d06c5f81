"""The delivery benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench delivery`
runs every part (nginx, wrk, the real dispatcher process, the naive one, hanging receivers) and
its JSON says that every attempt arrived. It checks that the benchmark works, not how fast
anything is: speeds are for `make bench`, never for tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.delivery_receivers import missing_tools
from tests.bench.running import run_bench

CONVERSIONS = 300
NAIVE_CONVERSIONS = 60
BARE_CONVERSIONS = 100
PUBLISHERS = 20  # 5% hanging: one publisher, every 20th conversion


@pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"the delivery benchmark needs {' and '.join(missing_tools())} "
    "(apt-get install -y nginx wrk; `make bench` installs them)",
)
def test_delivery_benchmark_delivers_every_attempt_and_writes_its_figures(tmp_path: Path) -> None:
    done, figures = _bench(
        tmp_path,
        "--conversions", str(CONVERSIONS),
        "--naive-conversions", str(NAIVE_CONVERSIONS),
        "--bare-conversions", str(BARE_CONVERSIONS),
        "--publishers", str(PUBLISHERS),
        "--repeat", "2",
    )  # fmt: skip
    runs = figures["runs"]

    ours, naive, hangers, bare = runs["ours"], runs["naive"], runs["hangers"], runs["bare"]
    assert (ours["attempts"], ours["finished"]) == (CONVERSIONS, True)
    assert (naive["attempts"], naive["finished"]) == (NAIVE_CONVERSIONS, True)
    assert (bare["attempts"], bare["finished"]) == (BARE_CONVERSIONS, True)
    assert bare["healthy_success"] == BARE_CONVERSIONS
    healthy = CONVERSIONS - CONVERSIONS // PUBLISHERS
    assert (hangers["expected_healthy"], hangers["healthy"]) == (healthy, healthy)
    for run in (ours, naive, hangers, bare):
        assert run["time_to_first_s"] > 0
        assert run["steady_rate"] > 0
        assert run["wall_rate"] > 0
        assert run["peak_rss_mb"] > 10
        assert run["cpu_s"] > 0
    # nginx answers every postback of a healthy publisher with 200
    assert ours["healthy_success"] == CONVERSIONS
    assert naive["healthy_success"] == NAIVE_CONVERSIONS
    assert figures["ceiling"]["requests_per_second"] > 0
    assert figures["ceiling"]["non_2xx_or_errors"] == 0
    targets = {t["target"]: t for t in figures["targets"]}
    assert len(targets) == 9
    assert all(t["met"].split(" (")[0] in ("MET", "NOT MET") for t in targets.values())
    assert "(a)/(b) vs naive, steady" in done.stdout
    assert "of the bare stack's" in done.stdout
    # Two runs of each: both started, both rates noted, the slower middle one reported.
    assert done.stdout.count("(a) ours [2/2]: preloading") == 1
    repeated = [n for n in figures["notes"] if n.startswith("(a) ours: steady ")]
    assert len(repeated) == 1
    assert repeated[0].endswith("in run order; reported: the median")
    rates = repeated[0].removeprefix("(a) ours: steady ").split("/s")[0].split(", ")
    slower = min(rates, key=lambda rate: float(rate.replace(",", "")))
    assert f"{ours['steady_rate']:,.0f}" == slower


@pytest.mark.skipif(bool(missing_tools()), reason="needs nginx and wrk, as above")
def test_the_bare_stack_runs_on_aiokafka_and_pyreqwest_too(tmp_path: Path) -> None:
    done, figures = _bench(
        tmp_path,
        "--conversions", "40",
        "--naive-conversions", "10",
        "--bare-conversions", str(BARE_CONVERSIONS),
        "--bare-kafka", "aiokafka",
        "--bare-http", "pyreqwest",
        "--hanging-share", "0",
        "--publishers", "4",
        "--repeat", "1",
    )  # fmt: skip
    bare = figures["runs"]["bare"]
    assert (bare["attempts"], bare["finished"]) == (BARE_CONVERSIONS, True)
    assert bare["healthy_success"] == BARE_CONVERSIONS
    assert "--kafka aiokafka --http pyreqwest" in bare["command"]
    assert figures["bare_stack"] == "aiokafka, pyreqwest"
    assert "(steady, aiokafka, pyreqwest)" in done.stdout


def _bench(tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    return run_bench(
        "delivery", tmp_path, *arguments,
        "--receiver-ports", "2",
        "--ceiling-seconds", "1",
        "--wrk-connections", "4",
        "--run-timeout", "60",
        # The hanging publisher's requests are still in flight when the run stops; the
        # dispatcher's graceful-shutdown wait for them is not what this test checks.
        env={"POSTBACKS_DISPATCHER_SHUTDOWN_GRACE_S": "1"},
        timeout_s=150,
    )  # fmt: skip
