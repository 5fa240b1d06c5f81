"""python -m bench [SCENARIO ...] [options]: run benchmark scenarios, all when none is named.

One scenario runs in this process. Several run one after another, each in a child process of
its own (chDB opens one data directory per process), with the same options: every scenario's
options are on the one parser, and each scenario reads only its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench import compression, delivery, hotpath, http_clients, ingest, live_stream, query
from bench.report import RESULTS_DIR
from bench.scenario import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        query.SCENARIO,
        delivery.SCENARIO,
        hotpath.SCENARIO,
        http_clients.SCENARIO,
        ingest.SCENARIO,
        compression.SCENARIO,
        live_stream.SCENARIO,
    )
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Benchmarks of the postbacks services; figures go to bench/results/.",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()),
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"one of: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where <scenario>.json is written (default: bench/results)",
    )
    # Set by the parent of a multi-scenario run: run just this one, here.
    parser.add_argument("--only", choices=list(SCENARIOS), help=argparse.SUPPRESS)
    for scenario in SCENARIOS.values():
        scenario.add_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from: {', '.join(SCENARIOS)}")
    names = [args.only] if args.only else args.scenarios or list(SCENARIOS)
    if len(names) == 1:
        SCENARIOS[names[0]].run(args)
        return 0
    failed = []
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        child = subprocess.run([sys.executable, "-m", "bench", *argv, "--only", name], check=False)
        if child.returncode != 0:
            failed.append(f"{name} (exit {child.returncode})")
    if failed:
        print(f"bench: scenarios that crashed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
