"""The shape of one benchmark scenario, as the dispatcher (bench/__main__.py) sees it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """`add_arguments` adds the scenario's options (as a group of its own); `run` runs it.

    A scenario owns its process: chDB opens one data directory per process, so the dispatcher
    runs each scenario of a multi-scenario run in a child process of its own.
    """

    name: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
