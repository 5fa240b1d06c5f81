"""Scenario `delivery`: postbacks per second through the real dispatcher process, end to end.

Each dispatcher run gets a fresh embedded broker (Tansu) holding the same kind of input: the
configurations on `postbacks.configs` (published as the query-api publishes them), then the
conversions on `conversions`, one matching postback each (bench/delivery_input.py). Then the
dispatcher starts as a child process (`postbacks dispatcher`, as in production) and the clock
runs until every attempt is on `postbacks.attempts` (bench/delivery_run.py).

Runs, printed side by side (bench/delivery_output.py):
  (a) our dispatcher, --conversions over --publishers, all answered by nginx on 127.0.0.1;
  (b) the naive dispatcher (bench/naive_dispatcher.py) on the same kind of input, fewer of it;
  (c) nginx's ceiling: wrk with keep-alive against the same nginx;
  (d) our dispatcher with --hanging-share of the publishers pointing at receivers that accept
      and never answer: the healthy publishers' rate, and the dispatcher's peak RSS;
  (e) the bare stack (bench/bare_dispatcher.py): the same libraries with nothing else.

Each of (a), (b), (d) and (e) runs --repeat times (3 unless told) and the run with the median
steady rate is reported, every run's rate in the notes: on these shared machines one run moves
by ±15 %, enough to put a single figure on either side of a goal.

The targets are reported, not enforced: the run exits 0 whatever they say.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import os
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop

from bench import delivery_output
from bench.bare_dispatcher import HTTP_CLIENTS, KAFKA_CLIENTS
from bench.delivery_input import FIRST_PUBLISHER_ID, Publishers, load
from bench.delivery_output import Runs
from bench.delivery_receivers import hanging_receivers, nginx, tool_versions, wrk_ceiling
from bench.delivery_run import RunPlan, RunResult, child_env, measure
from bench.report import machine_info, write_json
from bench.scenario import Scenario
from postbacks.embedded_broker import EmbeddedBroker, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("delivery scenario")
    group.add_argument(
        "--conversions",
        type=_positive,
        default=100_000,
        help="conversions for our dispatcher's runs (a) and (d)",
    )
    group.add_argument(
        "--naive-conversions",
        type=_positive,
        default=5_000,
        help="conversions for the naive baseline (b); rates are compared",
    )
    group.add_argument(
        "--bare-conversions",
        type=int,
        default=50_000,
        help="conversions for the bare stack's floor (e); 0 skips (e)",
    )
    group.add_argument(
        "--bare-kafka",
        choices=sorted(KAFKA_CLIENTS),
        default="confluent",
        help="the Kafka client of the bare stack (e): ours (librdkafka's), or aiokafka",
    )
    group.add_argument(
        "--bare-http",
        choices=sorted(HTTP_CLIENTS),
        default="llhttp",
        help="the HTTP client of the bare stack (e): ours (llhttp on the loop), or pyreqwest",
    )
    group.add_argument(
        "--publishers", type=_positive, default=100, help="publishers, one postback each"
    )
    group.add_argument(
        "--hanging-share",
        type=float,
        default=0.05,
        help="share of publishers that never answer in run (d); 0 skips (d)",
    )
    group.add_argument(
        "--receiver-ports",
        type=int,
        default=0,
        help="nginx listen ports the healthy publishers are spread over; 0 = one per "
        "publisher, as publishers are separate hosts in production",
    )
    group.add_argument(
        "--postback-timeout-ms",
        type=int,
        default=None,
        help="timeout_ms of every configuration; unset keeps the configuration's default",
    )
    group.add_argument(
        "--naive-mode",
        choices=("loop", "gather"),
        default="loop",
        help="the naive dispatcher awaits each request (loop) or gathers a batch",
    )
    group.add_argument(
        "--run-timeout",
        type=float,
        default=600.0,
        help="seconds a run may take before it is stopped and reported partial",
    )
    group.add_argument(
        "--repeat",
        type=_positive,
        default=3,
        help="runs of each of (a), (b), (d) and (e); the one with the median steady rate is "
        "reported (every run's rate is in the notes)",
    )
    group.add_argument("--ceiling-seconds", type=float, default=10.0, help="length of the wrk run")
    group.add_argument("--wrk-threads", type=_positive, default=1, help="wrk -t")
    group.add_argument("--wrk-connections", type=_positive, default=64, help="wrk -c")


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not 0 <= args.hanging_share < 1:
        raise SystemExit("--hanging-share must be at least 0 and below 1")
    if args.receiver_ports < 0:
        raise SystemExit("--receiver-ports must be 0 (one per publisher) or more")
    figures = uvloop.run(_run(args))
    path = write_json("delivery", figures, args.results_dir)
    print(f"\nfigures written to {path}")


SCENARIO = Scenario(
    name="delivery",
    summary="postbacks/s of the dispatcher process end to end, beside a naive one and wrk",
    add_arguments=add_arguments,
    run=run,
)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.now(UTC)
    repeated = f"the median of {args.repeat} runs" if args.repeat > 1 else "one run"
    notes = [
        f"each of (a), (b), (d) and (e) is {repeated} on a {os.cpu_count()}-core machine shared "
        "by the broker, nginx, the dispatcher, this reader (and whatever else runs there): noisy",
        f"naive baseline on {args.naive_conversions:,} conversions, ours on "
        f"{args.conversions:,}: the rates are compared, not the times",
        f"naive mode: {args.naive_mode} (one awaited httpx request at a time)"
        if args.naive_mode == "loop"
        else "naive mode: gather (asyncio.gather over each batch of up to 500)",
    ]
    hanging = math.ceil(args.publishers * args.hanging_share) if args.hanging_share else 0
    with nginx(args.receiver_ports or args.publishers) as ports:
        # First, while nothing else runs: the receiver's own limit on this machine.
        print(
            f"delivery: nginx on {len(ports)} ports of 127.0.0.1; "
            f"(c) wrk for {args.ceiling_seconds:g} s ...",
            flush=True,
        )
        ceiling = await asyncio.to_thread(
            wrk_ceiling,
            _sample_url(ports[0]),
            args.ceiling_seconds,
            args.wrk_threads,
            args.wrk_connections,
        )
        print(f"  {ceiling.requests_per_second:,.0f} requests/s", flush=True)
        ours = await _median_run(
            notes,
            "(a) ours",
            _ours_argv(),
            args.conversions,
            Publishers.spread(args.publishers, ports, []),
            args,
        )
        naive = await _median_run(
            notes,
            "(b) naive",
            _naive_argv(args.naive_mode),
            args.naive_conversions,
            Publishers.spread(args.publishers, ports, []),
            args,
        )
        bare = None
        if args.bare_conversions > 0:
            bare = await _median_run(
                notes,
                "(e) bare stack (floor)",
                _bare_argv(args.bare_kafka, args.bare_http),
                args.bare_conversions,
                Publishers.spread(args.publishers, ports, []),
                args,
            )
            notes.append(
                f"(e): bench/bare_dispatcher.py --kafka {args.bare_kafka} --http "
                f"{args.bare_http}, the same libraries "
                "with nothing else (no validation, guard, fairness, commits or metrics): what "
                "one process of this stack does on this machine at all"
            )
        hangers = None
        if hanging:
            async with hanging_receivers(hanging) as hang_ports:
                publishers = Publishers.spread(args.publishers, ports, hang_ports)
                hangers = await _median_run(
                    notes, "(d) ours with hangers", _ours_argv(), args.conversions, publishers, args
                )
            notes.append(
                f"(d): {hanging} of {args.publishers} publishers (ids {FIRST_PUBLISHER_ID}.."
                f"{FIRST_PUBLISHER_ID + hanging - 1}) call receivers that accept and never "
                "answer, one port each; the run stops once every healthy publisher's attempt is "
                f"in; hanging ones logged by then: {hangers.attempts - hangers.healthy:,}"
            )
    runs = Runs(ours, naive, ceiling, hangers, bare, f"{args.bare_kafka}, {args.bare_http}")
    notes.append(f"(c): {ceiling.command} (keep-alive, {ceiling.non_2xx_or_errors} errors)")
    print()
    print(delivery_output.render(runs, notes))
    return {
        "scenario": "delivery",
        "started_at": started.isoformat(),
        "machine": machine_info(),
        "versions": {
            **tool_versions(),
            **_versions("confluent-kafka", "httptools", "uvloop", "orjson"),
        },
        "settings": {k: str(v) for k, v in vars(args).items() if k != "scenarios"},
        **delivery_output.as_json(runs),
        "notes": notes,
    }


async def _median_run(
    notes: list[str],
    label: str,
    argv: list[str],
    conversions: int,
    publishers: Publishers,
    args: argparse.Namespace,
) -> RunResult:
    """`args.repeat` runs, each on a fresh broker; the one with the median steady rate, with
    the highest peak RSS of them all (the memory goal is judged on the worst). A run that did
    not finish is reported instead, so a failure is never outvoted."""
    results = []
    for i in range(args.repeat):
        run_label = f"{label} [{i + 1}/{args.repeat}]" if args.repeat > 1 else label
        results.append(await _dispatcher_run(run_label, argv, conversions, publishers, args))
    if len(results) == 1:
        return results[0]
    hanging = bool(publishers.hanging)
    unfinished = [r for r in results if not r.finished]
    chosen = unfinished[0] if unfinished else _median(results, hanging)
    rates = ", ".join(f"{_rate(r, hanging):,.0f}" for r in results)
    notes.append(
        f"{label}: steady {rates}/s in run order; reported: "
        + ("a run that did not finish" if unfinished else "the median")
    )
    peaks = [r.peak_rss_mb for r in results if r.peak_rss_mb is not None]
    return dataclasses.replace(chosen, peak_rss_mb=max(peaks, default=None))


def _rate(result: RunResult, hanging: bool) -> float:
    return result.steady(hanging) or 0.0


def _median(results: list[RunResult], hanging: bool) -> RunResult:
    """The middle run by steady rate (of an even count, the slower of the two middle ones)."""
    ordered = sorted(results, key=lambda r: _rate(r, hanging))
    return ordered[(len(ordered) - 1) // 2]


async def _dispatcher_run(
    label: str, argv: list[str], conversions: int, publishers: Publishers, args: argparse.Namespace
) -> RunResult:
    with EmbeddedBroker() as broker:
        start = time.perf_counter()
        print(f"{label}: preloading {conversions:,} conversions ...", flush=True)
        await load(broker.bootstrap, publishers, conversions, args.postback_timeout_ms)
        print(
            f"  preloaded in {time.perf_counter() - start:.1f} s; starting the dispatcher",
            flush=True,
        )
        bootstrap_argv = [a.replace("{bootstrap}", broker.bootstrap) for a in argv]
        plan = RunPlan(
            label=label,
            argv=bootstrap_argv,
            env=child_env(broker.bootstrap, free_port()),
            cwd=REPO_ROOT,
            expected=conversions,
            expected_healthy=publishers.expected_healthy(conversions),
            stop_when_healthy_done=bool(publishers.hanging),
            timeout_s=args.run_timeout,
        )
        result = await measure(plan, broker.bootstrap, publishers.hanging)
    print(
        f"  {result.stopped_by}: {result.attempts:,} attempts, steady "
        f"{_rate(result, bool(publishers.hanging)):,.0f}/s, first after "
        f"{result.time_to_first_s or 0:.1f} s",
        flush=True,
    )
    return result


def _ours_argv() -> list[str]:
    return [str(Path(sys.executable).with_name("postbacks")), "dispatcher"]


def _naive_argv(mode: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.naive_dispatcher",
        "--bootstrap",
        "{bootstrap}",
        "--mode",
        mode,
    ]


def _bare_argv(kafka: str, http: str) -> list[str]:
    return [
        sys.executable, "-m", "bench.bare_dispatcher", "--bootstrap", "{bootstrap}",
        "--kafka", kafka, "--http", http,
    ]  # fmt: skip


def _sample_url(port: int) -> str:
    """A request of the same size as the postbacks' (bench/delivery_input.py URL_TEMPLATE)."""
    return (
        f"http://127.0.0.1:{port}/pb/0?click=bench-000000001&payout=2.25&pub={FIRST_PUBLISHER_ID}"
        "&offer=8&s1=camp1&aid=0b6f2a4c-5d1e-4c49-9a8e-2f7d3c1b9e60"
    )


def _versions(*distributions: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value
