"""The query benchmark's figures: one result per query, judged against the targets, as text
and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.query_cases import TARGET_OVERHEAD_PCT, Case
from bench.query_explain import Diagnosis
from bench.report import table
from bench.timing import Latency, Throughput

HEADERS = (
    "query",
    "n",
    "API p50",
    "API p99",
    "direct p50",
    "direct p99",
    "overhead",
    "target",
    "met?",
)


@dataclass(frozen=True)
class Load:
    """The generated table: how long making it took and what it came to."""

    rows: int
    reused: bool
    load_s: float
    optimize_s: float
    parts: int
    bytes_on_disk: int
    bytes_uncompressed: int
    span: str


@dataclass
class CaseResult:
    case: Case
    api: Latency | None
    direct: Latency | None
    skipped_reason: str | None = None
    diagnosis: Diagnosis | None = None
    # contains cases: the engine's time to read the searched column alone (query_explain)
    read_floor_ms: float | None = None

    @classmethod
    def skipped(cls, case: Case, reason: str) -> CaseResult:
        return cls(case, None, None, skipped_reason=reason)

    @property
    def overhead_pct(self) -> float | None:
        """How much slower the API's median is than the direct median, in %."""
        if not (self.api and self.api.samples and self.direct and self.direct.samples):
            return None
        return (self.api.p50_ms - self.direct.p50_ms) / self.direct.p50_ms * 100

    @property
    def verdict(self) -> str:
        if self.skipped_reason is not None:
            return f"SKIPPED ({self.skipped_reason})"
        if self.api is None or not self.api.samples:
            error = self.api.error if self.api else "not run"
            return f"ERROR ({(error or '?')[:60]})"
        missed = []
        if self.api.p99_ms > self.case.target_p99_ms:
            missed.append("p99")
        overhead = self.overhead_pct
        if overhead is not None and overhead > TARGET_OVERHEAD_PCT:
            missed.append("overhead")
        verdict = f"NOT MET ({', '.join(missed)})" if missed else "MET"
        return verdict if overhead is not None else f"{verdict}, no direct"

    def row(self) -> list[str]:
        overhead = self.overhead_pct
        if overhead is not None and self.api and self.direct:
            delta = self.api.p50_ms - self.direct.p50_ms
            overhead_cell = f"{overhead:+.0f}% ({delta:+.1f} ms)"
        else:
            overhead_cell = "-"
        return [
            self.case.label,
            str(self.api.samples) if self.api else "-",
            _ms(self.api.p50_ms if self.api else None),
            _ms(self.api.p99_ms if self.api else None),
            _ms(self.direct.p50_ms if self.direct else None),
            _ms(self.direct.p99_ms if self.direct else None),
            overhead_cell,
            f"p99 ≤ {self.case.target_p99_ms:.0f} ms, +≤{TARGET_OVERHEAD_PCT:.0f}%",
            self.verdict,
        ]

    def as_json(self) -> dict[str, Any]:
        diagnosis = asdict(self.diagnosis) if self.diagnosis else None
        return {
            "label": self.case.label,
            "path": self.case.path,
            "query": self.case.query_string,
            "kind": self.case.kind,
            "matching_rows": self.case.matching_rows,
            "api": asdict(self.api) if self.api else None,
            "direct": asdict(self.direct) if self.direct else None,
            "overhead_pct": self.overhead_pct,
            "target_p99_ms": self.case.target_p99_ms,
            "target_overhead_pct": TARGET_OVERHEAD_PCT,
            "verdict": self.verdict,
            "skipped_reason": self.skipped_reason,
            "diagnosis": diagnosis,
            "read_floor_ms": self.read_floor_ms,
        }


def load_line(load: Load) -> str:
    if load.reused:
        return f"rows: {load.rows:,} (reused from an earlier run's --data-dir; not regenerated)"
    return (
        f"rows: {load.rows:,} generated in {load.load_s:.1f} s "
        f"({load.rows / load.load_s:,.0f} rows/s, one INSERT ... SELECT FROM numbers_mt); "
        f"then OPTIMIZE TABLE ... FINAL in {load.optimize_s:.1f} s"
    )


def render(
    load: Load,
    results: list[CaseResult],
    throughput: Throughput,
    throughput_case: Case,
    server_errors: dict[str, int],
    notes: list[str],
) -> str:
    lines = [
        table(HEADERS, [r.row() for r in results]),
        "n: timed requests per side (API and direct alternately); overhead: API p50 over direct "
        "p50",
        "",
        "queries:",
    ]
    for r in results:
        read = ""
        if r.diagnosis:
            d = r.diagnosis
            read = f"; one run read {d.rows_read:,} rows, {_size(d.bytes_read)}"
        lines.append(
            f"  {r.case.label}: {r.case.path}?{r.case.query_string} "
            f"({r.case.matching_rows:,} rows match{read})"
        )
    t = throughput
    errors = "; ".join(f"{n} x {why[:90]}" for why, n in t.rejected.items()) or "none"
    lines += [
        "",
        f"requests/s at concurrency {t.concurrency} ({throughput_case.label}, {t.seconds:.1f} s): "
        f"{t.per_second:,.1f} (ok {t.ok:,}; errors: {errors}); "
        f"latency p50 {_ms(t.latency.p50_ms)}, p99 {_ms(t.latency.p99_ms)}",
        "server exceptions during the run: "
        + ("; ".join(f"{n} x {text}" for text, n in server_errors.items()) or "none"),
        load_line(load),
        f"table after OPTIMIZE: {load.parts} active part(s), {_size(load.bytes_on_disk)} on disk, "
        f"{_size(load.bytes_uncompressed)} uncompressed",
        "",
        "where the time goes, the two slowest by direct p50 (EXPLAIN indexes = 1):",
    ]
    timed = [r for r in results if r.direct and r.direct.samples and r.diagnosis]
    timed.sort(key=lambda r: r.direct.p50_ms if r.direct else 0.0, reverse=True)
    for r in timed[:2]:
        assert r.diagnosis is not None
        lines.append(f"  {r.case.label}: {r.diagnosis.summary}")
    for r in results:
        if r.read_floor_ms is not None:
            column = r.case.params[0][0].removesuffix("__contains")
            lines.append(
                f"  {r.case.label}: reading {column} alone over the same window, without "
                f"searching it, takes {_ms(r.read_floor_ms)} (best of 3): a scan's floor"
            )
    lines += ["", "notes:", *(f"  - {note}" for note in notes)]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1f} ms"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
