"""Writing files generated from the code, or checking that the committed ones are current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_or_check(
    prog: str, description: str | None, generate: Callable[[], Mapping[Path, str]],
    argv: Sequence[str] | None,
) -> int:  # fmt: skip
    """The `main` of a generator: write each file whose text changed, or with --check only say
    which are not current (exit 1), as the tests do."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is not current")
    check = parser.parse_args(argv).check
    stale = []
    for path, text in generate().items():
        if path.exists() and path.read_text() == text:
            continue
        if check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    for path in stale:
        print(f"{path} is not current: run {prog}", file=sys.stderr)
    return 1 if stale else 0
