"""Runs one benchmark scenario as `make bench` does, at the size a smoke test gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    scenario: str,
    results_dir: Path,
    *arguments: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`python -m bench <scenario> ...`: what it printed, and the figures its JSON holds."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", scenario, *arguments, "--results-dir", str(results_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads((results_dir / f"{scenario}.json").read_text())
