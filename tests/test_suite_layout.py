"""The layout of this test suite: test modules share code only through support modules.

A test module imported by another runs its module-level code twice under two names, drags its
fixtures and tests along, and breaks when it is moved or renamed for its own reasons; a
conftest imported as a module registers its fixtures twice. What tests share lives in support
modules (any name not starting with test_) or in a conftest's fixtures. Attempt records are
built by the one factory in tests/attempts.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPOSITORY = TESTS.parent


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _imported(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Dotted names of the modules (or module members) an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importing module's package
        package = path.relative_to(REPOSITORY).with_suffix("").parts[: -node.level]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    # `from tests.x import test_y` imports a module too: each member is checked as one.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _is_test_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts)


def test_no_module_of_the_suite_imports_a_test_module_or_a_conftest() -> None:
    found = [
        f"{path.relative_to(REPOSITORY)}:{node.lineno} imports {name}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(path, node)
        if _is_test_module(name)
    ]
    assert not found, (
        "move what is shared into a support module (a name without test_) or a fixture:\n"
        + "\n".join(found)
    )


def test_attempt_records_are_built_by_the_one_factory() -> None:
    factory = TESTS / "attempts.py"
    found = [
        f"{path.relative_to(REPOSITORY)}:{node.lineno}"
        for path, tree in _modules()
        if path != factory
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "AttemptRecord"
    ]
    assert not found, (
        "build attempt records with tests.attempts.attempt_record(n, **fields):\n"
        + "\n".join(found)
    )


def test_the_checks_see_what_they_look_for() -> None:
    tree = ast.parse("from tests.a import test_b\nfrom .test_c import x\nimport tests.d.conftest")
    here = TESTS / "pkg" / "mod.py"
    names = [
        n for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import)
        for n in _imported(here, node)
    ]  # fmt: skip
    assert [n for n in names if _is_test_module(n)] == [
        "tests.a.test_b",
        "tests.pkg.test_c",
        "tests.pkg.test_c.x",
        "tests.d.conftest",
    ]
    assert not _is_test_module("tests.attempts")
    assert not _is_test_module("tests.dispatcher.stack")
