"""The ingest benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench ingest`
generates, preloads, inserts directly, runs the real log-writer, and its JSON says every attempt
was stored once. Speeds are for `make bench`, never for tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ATTEMPTS = 3000


def test_ingest_benchmark_stores_every_attempt_once_and_writes_its_figures(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench", "ingest",
            "--ingest-attempts", str(ATTEMPTS),
            "--ingest-batch", "1000",
            "--results-dir", str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads((tmp_path / "ingest.json").read_text())
    assert figures["attempts"] == ATTEMPTS
    assert figures["stored_rows"] == figures["stored_distinct_attempt_ids"] == ATTEMPTS
    assert figures["pipeline"]["rows_per_s"] > 0
    assert figures["ceiling"]["rows_per_s"] > 0
    assert "pipeline / ceiling" in done.stdout
    stages = figures["stages_alone"]
    assert set(stages) == {"parse", "write", "consume"}
    assert all(stage["rows_per_s"] > 0 for stage in stages.values())
    assert "what bounds it" in done.stdout
