"""Waiting in tests: poll for a condition up to a generous ceiling, never sleep a fixed time.

A busy machine (CI, a full test run beside this one, a fresh clone compiling its bytecode)
makes everything slower, so a test that sleeps "long enough" fails there while the code is
right. These helpers return as soon as the condition holds and fail, naming what they waited
for and the last value seen, only once a ceiling far above the usual time has passed.
`POSTBACKS_TEST_PATIENCE` multiplies every ceiling (e.g. 3 on a very slow machine).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

PATIENCE = float(os.environ.get("POSTBACKS_TEST_PATIENCE", "1"))
CEILING_S = 60.0  # the default ceiling: most conditions hold within a second or two


def ceiling(seconds: float) -> float:
    """`seconds` stretched by POSTBACKS_TEST_PATIENCE: for deadlines written by hand."""
    return seconds * PATIENCE


@overload
async def until(
    condition: Callable[[], Awaitable[T | None]],
    what: str = ...,
    timeout_s: float = ...,
    every_s: float = ...,
) -> T: ...


@overload
async def until(
    condition: Callable[[], T | None],
    what: str = ...,
    timeout_s: float = ...,
    every_s: float = ...,
) -> T: ...


async def until(
    condition: Callable[[], Any],
    what: str = "the condition",
    timeout_s: float = CEILING_S,
    every_s: float = 0.1,
) -> Any:
    """Call `condition` (sync or async) until it returns something truthy, and return that."""
    deadline = time.monotonic() + ceiling(timeout_s)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {ceiling(timeout_s):g} s; last {value!r}")
        await asyncio.sleep(every_s)


def until_sync(
    condition: Callable[[], T],
    what: str = "the condition",
    timeout_s: float = CEILING_S,
    every_s: float = 0.1,
) -> T:
    """`until` for code without an event loop (threads, subprocess tests)."""
    deadline = time.monotonic() + ceiling(timeout_s)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {ceiling(timeout_s):g} s; last {value!r}")
        time.sleep(every_s)


async def while_progressing(
    measure: Callable[[], Awaitable[int]],
    target: int,
    what: str,
    stall_s: float = 60.0,
    every_s: float = 0.3,
    explain: Callable[[], str] = str,
) -> int:
    """Poll `measure` until it reaches `target`. Slow is fine as long as it moves: this fails
    only when the value has not grown for `stall_s`. Returns the last value."""
    value = await measure()
    moved_at, last = time.monotonic(), value
    while value < target:
        if value > last:
            moved_at, last = time.monotonic(), value
        if time.monotonic() - moved_at > ceiling(stall_s):
            raise AssertionError(
                f"{what}: stuck at {value} of {target} for {ceiling(stall_s):g} s\n{explain()}"
            )
        await asyncio.sleep(every_s)
        value = await measure()
    return value
