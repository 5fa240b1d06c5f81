"""Test tiers: which tests start real parts, marked automatically, and a guard for the rest.

Markers (registered in pyproject.toml):
  broker      starts or uses the embedded Kafka broker (Tansu, a subprocess)
  chdb        starts or uses the embedded ClickHouse engine (chDB)
  processes   starts other processes: the services, a browser, a benchmark, a child Python
  real_parts  any of the three; `make check` runs the tests without it (`-m "not real_parts"`)

How a test is classified (pytest_collection_modifyitems, every run):
  1. markers written on the test or its module are kept;
  2. a whole directory whose tests all run real parts (REAL_PARTS_DIRECTORIES);
  3. what the test and each fixture it uses (directly or through other fixtures) reach in the
     code of this test suite: every function, class and module of `tests.*` they name, followed
     name by name, down to the entry points of `_heavy()` (EmbeddedBroker, EmbeddedStore,
     chDB's session, subprocess, Playwright). So a test that takes `kafka_topics`, or calls a helper
     that opens an EmbeddedStore, is marked without anyone writing a marker.

The guard (every run, `make test` included): while a test without `real_parts` sets up or runs,
starting a subprocess (Tansu included) or querying chDB fails that test, naming the marker it
needs (recorded and reported, not raised, so code that catches exceptions cannot hide it); a
test the reading above misclassified cannot pass unnoticed in either tier. Only the
test's own code is watched (a context variable, which asyncio tasks and `asyncio.to_thread`
inherit), not the background tasks of fixtures that earlier tests started.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import subprocess
import types
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

BROKER, CHDB, PROCESSES, REAL_PARTS = "broker", "chdb", "processes", "real_parts"
KINDS = (BROKER, CHDB, PROCESSES)
TESTS = Path(__file__).resolve().parent
# Directories whose every test runs the real parts (processes killed, whole pipelines).
REAL_PARTS_DIRECTORIES = {
    TESTS / "crash": (BROKER, CHDB, PROCESSES),
    TESTS / "e2e": (BROKER, CHDB),
    TESTS / "bench": (PROCESSES,),
}


@functools.cache
def _heavy() -> dict[int, tuple[str, ...]]:
    """The entry points that start real parts, by id(): what the code reading looks for."""
    import chdb
    import chdb.session
    from playwright.async_api import async_playwright

    from postbacks.embedded_broker import EmbeddedBroker
    from postbacks.store.chdb_backend import EmbeddedStore, shared_session

    entries: dict[Any, tuple[str, ...]] = {
        EmbeddedBroker: (BROKER, PROCESSES),
        EmbeddedStore: (CHDB,),
        shared_session: (CHDB,),
        chdb: (CHDB,),
        chdb.session: (CHDB,),
        chdb.session.Session: (CHDB,),
        subprocess: (PROCESSES,),
        subprocess.Popen: (PROCESSES,),
        subprocess.run: (PROCESSES,),
        asyncio.create_subprocess_exec: (PROCESSES,),
        asyncio.create_subprocess_shell: (PROCESSES,),
        async_playwright: (PROCESSES,),
    }
    return {id(obj): kinds for obj, kinds in entries.items()}


def _ours(obj: object) -> bool:
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
    return isinstance(module, str) and (module == "tests" or module.startswith("tests."))


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _function(obj: object) -> types.FunctionType | None:
    if not callable(obj):
        return None
    function: Callable[..., Any] = getattr(obj, "__func__", obj)  # methods
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)  # @given
    try:
        function = inspect.unwrap(inner or function)
    except ValueError:  # a cycle of __wrapped__
        return None
    return function if isinstance(function, types.FunctionType) else None


class CodeReader:
    """What a function reaches, followed through the code of `tests.*` (memoised)."""

    def __init__(self) -> None:
        self._seen: dict[int, frozenset[str]] = {}

    def kinds(self, obj: object) -> frozenset[str]:
        key = id(obj)
        if key in self._seen:
            return self._seen[key]
        self._seen[key] = frozenset()  # cycles end here
        found: set[str] = set(_heavy().get(key, ()))
        if not found:
            for reached in self._reached(obj):
                found |= self.kinds(reached)
        self._seen[key] = frozenset(found)
        return self._seen[key]

    def _reached(self, obj: object) -> Iterable[object]:
        if isinstance(obj, type):
            if not _ours(obj):
                return []
            # A subclass of an entry point (a wrapped EmbeddedStore) is one.
            bases = [b for b in obj.__mro__[1:] if id(b) in _heavy()]
            members = [m for m in vars(obj).values() if _function(m) or isinstance(m, property)]
            getters = [m.fget for m in members if isinstance(m, property)]
            return [*bases, *(m for m in members if not isinstance(m, property)), *getters]
        if isinstance(obj, types.ModuleType):
            return []  # a module is followed through the names the code takes from it
        function = _function(obj)
        if function is None or not (_ours(function) or _ours(obj)):
            return []
        names = {n for code in _codes(function.__code__) for n in code.co_names}
        scopes = [function.__globals__]
        # `module.name`: names taken from a module of ours, or an entry-point module itself.
        scopes += [
            vars(m)
            for m in function.__globals__.values()
            if isinstance(m, types.ModuleType) and _ours(m)
        ]
        reached: list[object] = []
        for name in names:
            for scope in scopes:
                if name in scope:
                    reached.append(scope[name])
        if function.__closure__:
            reached += [cell.cell_contents for cell in function.__closure__ if _filled(cell)]
        return reached


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def classify(item: pytest.Item, reader: CodeReader) -> set[str]:
    kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
    for directory, implied in REAL_PARTS_DIRECTORIES.items():
        if directory in item.path.parents:
            kinds.update(implied)
    kinds |= reader.kinds(getattr(item, "obj", None))
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        for definition in info.name2fixturedefs.get(name, ()) if info else ():
            kinds |= reader.kinds(definition.func)
    return kinds


def pytest_configure(config: pytest.Config) -> None:
    _install_guard()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reader = CodeReader()
    for item in items:
        kinds = classify(item, reader)
        for kind in sorted(kinds - {m.name for m in item.iter_markers()}):
            item.add_marker(kind)
        if kinds and not item.get_closest_marker(REAL_PARTS):
            item.add_marker(REAL_PARTS)


def pytest_report_collectionfinish(items: list[pytest.Item]) -> str:
    real = sum(1 for item in items if item.get_closest_marker(REAL_PARTS))
    return f"tiers: {len(items) - real} without real parts, {real} with (marker {REAL_PARTS})"


# --- the guard ---------------------------------------------------------------------------------

_FAST_TEST: contextvars.ContextVar[pytest.Item | None] = contextvars.ContextVar(
    "fast_test", default=None
)
_VIOLATIONS = pytest.StashKey[list[str]]()


def _check(kind: str, what: str) -> None:
    item = _FAST_TEST.get()
    if item is None:
        return
    message = (
        f"{item.nodeid} has no `{REAL_PARTS}` marker but {what}: the tiers (tests/tiers.py) did "
        f"not see it coming. Take the fixture that provides it, or mark the test "
        f"@pytest.mark.{kind}."
    )
    # Recorded, not raised: raised in a shared fixture's set-up, the error would be cached and
    # fail every later test of that fixture. The test fails at its report instead.
    item.stash.setdefault(_VIOLATIONS, []).append(message)


def _guarded(function: Callable[..., Any], kind: str, what: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check(kind, what)
        return function(*args, **kwargs)

    guarded.__tiers_guard__ = True  # type: ignore[attr-defined]
    return guarded


def _install_guard() -> None:
    import chdb.session

    from postbacks.embedded_broker import EmbeddedBroker

    targets: list[tuple[Any, str, str, str]] = [
        (EmbeddedBroker, "start", BROKER, "started the embedded broker (Tansu)"),
        (subprocess.Popen, "__init__", PROCESSES, "started a subprocess"),
        (chdb.session.Session, "__init__", CHDB, "opened a chDB session"),
        (chdb.session.Session, "query", CHDB, "queried chDB"),
        (chdb.session.Session, "send_query", CHDB, "queried chDB"),
        (chdb, "query", CHDB, "queried chDB"),
        (chdb, "connect", CHDB, "connected to chDB"),
    ]
    for owner, name, kind, what in targets:
        original = getattr(owner, name, None)
        if original is None or getattr(original, "__tiers_guard__", False):
            continue
        setattr(owner, name, _guarded(original, kind, what))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _watched(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _watched(item):
        return (yield)


@contextlib.contextmanager
def _watched(item: pytest.Item) -> Iterator[None]:
    # Teardown is not watched: the fixtures of earlier tests (a module's pipeline) end there.
    token = _FAST_TEST.set(None if item.get_closest_marker(REAL_PARTS) else item)
    try:
        yield
    finally:
        _FAST_TEST.reset(token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    violations = item.stash.get(_VIOLATIONS, [])
    if violations and call.when in ("setup", "call") and not report.failed:
        report.outcome = "failed"
        report.longrepr = "\n".join(dict.fromkeys(violations))
    return report
