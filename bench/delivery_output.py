"""The delivery benchmark's figures: the runs side by side, the targets of issue 4 judged, as
text and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.delivery_receivers import Ceiling
from bench.delivery_run import RunResult
from bench.report import table

TARGET_RATE = 10_000.0
TARGET_VS_NAIVE = 20.0
TARGET_VS_CEILING = 0.25
TARGET_HANGERS = 0.90
TARGET_RSS_MB = 300.0

RUN_HEADERS = (
    "run",
    "attempts",
    "2xx",
    "1st attempt after",
    "steady /s",
    "total-wall /s",
    "peak RSS",
    "CPU s",
    "ended",
)
TARGET_HEADERS = ("target", "measured", "beside", "ratio", "goal", "met?")


@dataclass(frozen=True)
class Runs:
    ours: RunResult
    naive: RunResult
    ceiling: Ceiling
    hangers: RunResult | None  # None when --hanging-share is 0
    bare: RunResult | None = None  # None when --bare-conversions is 0
    bare_stack: str = "confluent, llhttp"  # the bare stack's clients (--bare-kafka, --bare-http)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: float | None
    beside: float | None
    ratio: float | None
    goal: str
    met: str
    unit: str = "/s"

    def row(self) -> list[str]:
        ratio = "-" if self.ratio is None else _ratio(self.ratio, self.goal)
        return [
            self.target,
            _num(self.measured, self.unit),
            _num(self.beside, self.unit),
            ratio,
            self.goal,
            self.met,
        ]


def verdicts(runs: Runs) -> list[Verdict]:
    ours, naive, ceiling, hangers = runs.ours, runs.naive, runs.ceiling, runs.hangers
    found: list[Verdict] = []
    for view, rate, naive_rate in (
        ("steady", ours.steady_rate, naive.steady_rate),
        ("total-wall", ours.wall_rate, naive.wall_rate),
    ):
        ok = _shortfall("(a)", ours)
        found += [
            _judge(f"(a) postbacks/s, {view}", rate, None, None, TARGET_RATE, "≥ 10,000/s", ok),
            _judge(
                f"(a)/(b) vs naive, {view}",
                rate,
                naive_rate,
                _div(rate, naive_rate),
                TARGET_VS_NAIVE,
                "≥ 20x",
                ok or _shortfall("(b)", naive),
            ),
            _judge(
                f"(a)/(c) vs wrk ceiling, {view}",
                rate,
                ceiling.requests_per_second,
                _div(rate, ceiling.requests_per_second),
                TARGET_VS_CEILING,
                "≥ 25%",
                ok,
            ),
        ]
    if hangers is not None:
        for view, healthy, alone in (
            ("steady", hangers.healthy_steady_rate, ours.steady_rate),
            ("total-wall", hangers.healthy_wall_rate, ours.wall_rate),
        ):
            found.append(
                _judge(
                    f"(d)/(a) healthy publishers with hangers, {view}",
                    healthy,
                    alone,
                    _div(healthy, alone),
                    TARGET_HANGERS,
                    "≥ 90%",
                    _shortfall("(d)", hangers, healthy_only=True),
                )
            )
        rss = hangers.peak_rss_mb
        met = "NOT MEASURED" if rss is None else "MET" if rss <= TARGET_RSS_MB else "NOT MET"
        found.append(Verdict("(d) peak RSS with hangers", rss, None, None, "≤ 300 MB", met, " MB"))
    return found


def _judge(
    target: str,
    measured: float | None,
    beside: float | None,
    ratio: float | None,
    goal: float,
    goal_text: str,
    shortfall: str | None,
) -> Verdict:
    value = measured if beside is None else ratio
    if value is None:
        met = "NOT MEASURED"
    else:
        met = "MET" if value >= goal else "NOT MET"
        if shortfall:
            met += f" ({shortfall})"
    return Verdict(target, measured, beside, ratio, goal_text, met)


def _shortfall(name: str, run: RunResult, healthy_only: bool = False) -> str | None:
    """Why a run's rate cannot be taken at face value: it stopped before every expected attempt
    arrived, or some healthy attempts were not a 2xx (a run that is fast because it failed is
    not a fast run). None when neither."""
    if not (run.healthy >= run.expected_healthy if healthy_only else run.finished):
        return f"{name} stopped early: {run.stopped_by}"
    failed = run.expected_healthy - run.healthy_success
    if failed > 0:
        return f"{name}: {failed:,} of {run.expected_healthy:,} not 2xx"
    return None


def run_row(name: str, run: RunResult, healthy_only: bool = False) -> list[str]:
    steady = run.steady(healthy_only)
    wall = run.healthy_wall_rate if healthy_only else run.wall_rate
    arrived = (
        f"{run.healthy:,}/{run.expected_healthy:,}"
        if healthy_only
        else (f"{run.attempts:,}/{run.expected:,}")
    )
    return [
        name,
        arrived,
        f"{run.healthy_success:,}",
        _num(run.time_to_first_s, " s", 1),
        _num(steady, "/s"),
        _num(wall, "/s"),
        _num(run.peak_rss_mb, " MB"),
        _num(run.cpu_s, " s", 1),
        "done" if run.finished else run.stopped_by,
    ]


def render(runs: Runs, notes: list[str]) -> str:
    rows = [run_row("(a) ours", runs.ours), run_row("(b) naive baseline", runs.naive)]
    c = runs.ceiling
    rows.append(
        [
            "(c) wrk on nginx (ceiling)",
            f"{c.requests:,}",
            f"{c.requests - c.non_2xx_or_errors:,}",
            "-",
            _num(c.requests_per_second, "/s"),
            "-",
            "-",
            "-",
            f"{c.seconds:.1f} s",
        ]
    )
    if runs.hangers is not None:
        rows.append(run_row("(d) ours with hangers: healthy", runs.hangers, healthy_only=True))
    if runs.bare is not None:
        rows.append(run_row(f"(e) bare stack (floor, {runs.bare_stack})", runs.bare))
    lines = [
        table(RUN_HEADERS, rows),
        "steady = attempts from the first to the last attempt record (delivery alone); "
        "total-wall = from starting the process to the last attempt record (start-up, loading "
        "configurations and the consumer-group join included); '1st attempt after' = that "
        "start-up time; CPU s = the dispatcher process's user + system CPU, start-up included",
        _per_cpu_line(runs),
        *_floor_lines(runs),
        "",
        table(TARGET_HEADERS, [v.row() for v in verdicts(runs)]),
    ]
    lines += ["", "notes:", *(f"  - {note}" for note in notes)]
    named = {"ours": runs.ours, "naive": runs.naive, "hangers": runs.hangers, "bare": runs.bare}
    for name, run in named.items():
        if run is not None and run.errors:
            errors = "; ".join(f"{n:,} x {text[:100]}" for text, n in run.errors.items())
            lines.append(f"  - errors logged by {name}: {errors}")
    return "\n".join(lines)


def _per_cpu_line(runs: Runs) -> str:
    """Attempts per CPU second: less at the mercy of other load on a shared machine."""
    ours, naive = (_div(float(r.attempts), r.cpu_s) for r in (runs.ours, runs.naive))
    ratio = _div(ours, naive)
    return (
        f"attempts per CPU second of the dispatcher process: (a) {_num(ours, '')}, "
        f"(b) {_num(naive, '')}" + (f", ratio {ratio:.1f}x" if ratio is not None else "")
    )


def _floor_lines(runs: Runs) -> list[str]:
    """How (a) compares with the bare stack (e), and whether a goal is above the floor."""
    bare = runs.bare
    if bare is None or not bare.steady_rate:
        return []
    share = _div(runs.ours.steady_rate, bare.steady_rate) or 0.0
    return [
        f"(a) is {share:.0%} of the bare stack's {bare.steady_rate:,.0f}/s (steady, "
        f"{runs.bare_stack}); goals above (e) are beyond one process of these libraries on "
        "this machine, whatever the dispatcher does"
    ]


def as_json(runs: Runs) -> dict[str, Any]:
    return {
        "runs": {
            "ours": asdict(runs.ours),
            "naive": asdict(runs.naive),
            "hangers": asdict(runs.hangers) if runs.hangers is not None else None,
            "bare": asdict(runs.bare) if runs.bare is not None else None,
        },
        "bare_stack": runs.bare_stack,
        "ceiling": asdict(runs.ceiling),
        "targets": [asdict(v) for v in verdicts(runs)],
    }


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _ratio(value: float, goal: str) -> str:
    return f"{value * 100:.1f}%" if "%" in goal else f"{value:.1f}x"


def _num(value: float | None, unit: str, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"
