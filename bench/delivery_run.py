"""One measured run: a dispatcher (ours or the naive one) as a child process on a broker that
already holds the input, timed from its start until its attempts are on `postbacks.attempts`.

Three clocks, all wall time in ms since the epoch on this machine:
- spawned: just before the child process is started;
- first: the earliest `attempted_at` of the attempt records, when the first request started;
- last: the latest attempt record's timestamp (set by the child's producer when it sent it).
total-wall rate = attempts / (last - spawned): everything, process start-up, loading the
configurations and joining the consumer group included. steady-state rate = attempts /
(last - first): delivery alone, from the first request to the last attempt on the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.delivery_count import AttemptCounter, Tally
from postbacks.embedded_broker import die_with_parent

_STOP_GRACE_S = 15.0


@dataclass(frozen=True)
class RunPlan:
    label: str
    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path  # the repository root, so `python -m bench.naive_dispatcher` imports
    expected: int  # attempt records the input makes (one per conversion)
    expected_healthy: int  # of which for publishers that answer
    # Stop once every healthy publisher's attempt is in: a hanging publisher's attempts end in
    # timeouts that can take far longer, and are not what the hangers run measures.
    stop_when_healthy_done: bool
    timeout_s: float


@dataclass
class RunResult:
    label: str
    command: str
    expected: int
    expected_healthy: int
    attempts: int
    healthy: int
    healthy_success: int
    finished: bool
    time_to_first_s: float | None
    wall_s: float | None
    steady_s: float | None
    wall_rate: float | None
    steady_rate: float | None
    healthy_wall_rate: float | None
    healthy_steady_rate: float | None
    peak_rss_mb: float | None
    # CPU seconds (user + system) the child used by the end of the run, start-up included:
    # on a shared machine, attempts per CPU second moves less than attempts per second.
    cpu_s: float | None
    # How long after the last record's timestamp this reader had it: the finish line's lag.
    reader_lag_s: float | None
    stopped_by: str
    errors: dict[str, int] = field(default_factory=dict)

    def steady(self, healthy_only: bool) -> float | None:
        """The steady rate a run is judged by: of the healthy publishers' attempts alone in a
        run with hanging ones, of all attempts otherwise."""
        return self.healthy_steady_rate if healthy_only else self.steady_rate


async def measure(plan: RunPlan, bootstrap: str, hanging: frozenset[int]) -> RunResult:
    counter = AttemptCounter(bootstrap, hanging)
    await counter.start()  # before the clock starts: the reader's set-up is not the child's
    with tempfile.NamedTemporaryFile(prefix="postbacks-bench-child-", suffix=".log") as log:
        spawned = time.time()
        child = await asyncio.create_subprocess_exec(
            *plan.argv,
            env=plan.env,
            cwd=plan.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            stopped_by = await _wait(plan, counter, child, Path(log.name))
            peak_rss, cpu = peak_rss_mb(child.pid), cpu_seconds(child.pid)
        finally:
            await _stop(child)
            await counter.stop()
    return _result(plan, counter.tally, spawned, peak_rss, cpu, stopped_by)


async def _wait(
    plan: RunPlan, counter: AttemptCounter, child: asyncio.subprocess.Process, log: Path
) -> str:
    deadline = time.monotonic() + plan.timeout_s
    tally = counter.tally
    while True:
        await counter.poll()
        if tally.total >= plan.expected:
            return "all attempts arrived"
        if plan.stop_when_healthy_done and tally.healthy >= plan.expected_healthy:
            return "all healthy publishers' attempts arrived"
        if child.returncode is not None:
            tail = _tail(log)
            raise RuntimeError(f"{plan.label} exited with {child.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            return f"timeout after {plan.timeout_s:g} s"


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the resident set's high-water mark) of a live process, in MB (10^6 bytes)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process (fields 14 and 15 of /proc/<pid>/stat), in seconds."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        # The command name (field 2) may hold spaces: count fields after its closing ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), _STOP_GRACE_S)
    except TimeoutError:
        child.kill()
        await child.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _result(
    plan: RunPlan,
    tally: Tally,
    spawned: float,
    peak_rss: float | None,
    cpu: float | None,
    stopped_by: str,
) -> RunResult:
    spawned_ms = spawned * 1000
    first, last, last_healthy = tally.first_ms, tally.last_ms, tally.last_healthy_ms
    wall = (last - spawned_ms) / 1000 if last is not None else None
    steady = (last - first) / 1000 if first is not None and last is not None else None
    healthy_wall = (last_healthy - spawned_ms) / 1000 if last_healthy is not None else None
    healthy_steady = (
        (last_healthy - first) / 1000 if last_healthy is not None and first is not None else None
    )
    return RunResult(
        label=plan.label,
        command=" ".join(plan.argv),
        expected=plan.expected,
        expected_healthy=plan.expected_healthy,
        attempts=tally.total,
        healthy=tally.healthy,
        healthy_success=tally.healthy_success,
        finished=stopped_by.startswith("all"),
        time_to_first_s=(first - spawned_ms) / 1000 if first is not None else None,
        wall_s=wall,
        steady_s=steady,
        wall_rate=_rate(tally.total, wall),
        steady_rate=_rate(tally.total, steady),
        healthy_wall_rate=_rate(tally.healthy, healthy_wall),
        healthy_steady_rate=_rate(tally.healthy, healthy_steady),
        peak_rss_mb=peak_rss,
        cpu_s=cpu,
        reader_lag_s=(
            tally.seen_last_at - last / 1000
            if tally.seen_last_at is not None and last is not None
            else None
        ),
        stopped_by=stopped_by,
        errors=dict(tally.errors),
    )


def _rate(count: int, seconds: float | None) -> float | None:
    if seconds is None or seconds <= 0 or count <= 0:
        return None
    return count / seconds


def child_env(bootstrap: str, ops_port: int) -> dict[str, str]:
    """The environment a dispatcher child gets: this one plus where Kafka is, a free ops port
    (several benchmarks or services may run on the machine), and loopback allowed through the
    destination guard (every receiver here is on 127.0.0.1)."""
    return {
        **os.environ,
        "POSTBACKS_KAFKA_BOOTSTRAP": bootstrap,
        "POSTBACKS_DISPATCHER_PORT": str(ops_port),
        "POSTBACKS_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
