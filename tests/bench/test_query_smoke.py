"""The query benchmark at a tiny size, so it cannot rot unnoticed: `python -m bench query`
generates the synthetic log, times every case through the API and directly, explains them and
writes its figures. Speeds are for `make bench`, never for tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 30_000


def test_query_benchmark_answers_every_case_and_explains_the_scans(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench", "query",
            "--rows", str(ROWS), "--requests", "5", "--warmup", "1", "--budget", "5",
            "--rps-seconds", "1", "--deep-pages", "2",
            "--results-dir", str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads((tmp_path / "query.json").read_text())
    assert figures["data"]["rows"] == ROWS
    assert figures["server_errors"] == {}
    cases = {case["label"]: case for case in figures["cases"]}
    assert len(cases) == 7
    for label, case in cases.items():
        assert case["api"]["samples"] >= 5, label
        assert case["direct"]["samples"] >= 5, label
        assert case["matching_rows"] > 0, label
        assert not case["verdict"].startswith(("ERROR", "SKIPPED")), (label, case["verdict"])
    for case in cases.values():
        floor = case["read_floor_ms"]
        assert (floor is not None and floor > 0) == (case["kind"] == "contains"), case["label"]
    # The EXPLAIN summary names the granules the primary key kept (a regression once left "?").
    publisher = cases["publisher failures"]["diagnosis"]["summary"]
    assert "granules kept: PrimaryKey" in publisher, publisher
    assert "a scan's floor" in done.stdout
