"""The README's settings table names every environment variable the code reads, and no other.

What the code reads, derived rather than listed:
- pydantic-settings classes: every class in shared/, services/ and cli/ whose base is named
  `*Settings` is imported and introspected. A field is read as `env_prefix` + its name, upper
  case (the classes are case-insensitive); a field with an alias (`validation_alias`, or the
  choices of an `AliasChoices`) is read under those names instead, without the prefix. (A
  choice that is the field's own name would be read unprefixed from the environment too: the
  classes pass fields by name with `validate_by_name` instead, and such a choice fails here.)
- the CLI: every parameter of every command of the `postbacks` group (cli/postbacks_cli/main.py,
  built by Typer) that has an `envvar`.
- direct reads, `os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)` and the like, found
  by reading the source of shared/, services/ and cli/; each must be in DIRECT_READS, so a new
  one fails here until it is listed (and documented).

The table: the rows of README.md's "## Settings" section; the first cell of a row lists one or
more variables in backticks. A name written `..._SUFFIX` is shorthand: its prefix is the
previous full name in the same cell up to and including its service part (one of
SERVICE_PREFIXES), so `..._MAX_IN_FLIGHT_PER_HOST` after `POSTBACKS_DISPATCHER_MAX_IN_FLIGHT`
is POSTBACKS_DISPATCHER_MAX_IN_FLIGHT_PER_HOST.

Left out: the variables only the test suite and the benchmarks read (TEST_ONLY: tests/ and
bench/ are not scanned). They tune the suite, not a service, and do not belong in the table.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import typer
from pydantic import AliasChoices, AliasPath
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from postbacks_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SOURCES = (ROOT / "shared", ROOT / "services", ROOT / "cli")

# The service parts a `..._SUFFIX` shorthand may stand for, longest first.
SERVICE_PREFIXES = ("POSTBACKS_LOG_WRITER_", "POSTBACKS_DISPATCHER_", "POSTBACKS_API_")

# Variables read directly (os.environ / os.getenv) in shared/, services/ or cli/: name -> why.
# None today: every setting goes through a settings class or a click option.
DIRECT_READS: dict[str, str] = {}

# Read only by the test suite or the benchmarks (tests/, bench/): not settings of the product.
TEST_ONLY = frozenset(
    {
        "POSTBACKS_TEST_PATIENCE",
        "POSTBACKS_HYPOTHESIS_EXAMPLES",
        "POSTBACKS_CRASH_SEED",
        "POSTBACKS_CRASH_CONVERSIONS",
        "POSTBACKS_CRASH_ATTEMPTS",
    }
)

NAME = re.compile(r"[A-Z][A-Z0-9_]*")
SHORTHAND = re.compile(r"\.\.\.(_[A-Z0-9_]+)")
BACKTICKED = re.compile(r"`([^`]*)`")


# --- what the code reads ---------------------------------------------------------------------


def _python_files() -> Iterator[Path]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if ".venv" not in path.parts:
                yield path


def _module_name(path: Path) -> str:
    """The dotted name of a module: its path from the first folder that is no package."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def settings_classes() -> list[type[BaseSettings]]:
    """Every class of shared/, services/, cli/ whose base is named *Settings, imported."""
    found: list[type[BaseSettings]] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                _base_name(base).endswith("Settings") for base in node.bases
            ):
                cls = getattr(importlib.import_module(_module_name(path)), node.name)
                where = f"{path.relative_to(ROOT)}: {node.name}"
                assert isinstance(cls, type), f"{where} is not a class"
                assert issubclass(cls, BaseSettings), (
                    f"{where} is not a pydantic-settings class; teach this test what it reads"
                )
                found.append(cls)
    return found


def _field_env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> set[str]:
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    if alias is None:
        return {f"{cls.model_config.get('env_prefix', '')}{name}"}
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    names = set()
    for choice in choices:
        first = choice.path[0] if isinstance(choice, AliasPath) else choice
        if isinstance(first, str):
            names.add(first)
    return names


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads, as the table writes them."""
    names = {
        env
        for name, field in cls.model_fields.items()
        for env in _field_env_names(cls, name, field)
    }
    return names if cls.model_config.get("case_sensitive") else {n.upper() for n in names}


def cli_envvars() -> set[str]:
    """Every `envvar` of every parameter of every command of the `postbacks` group."""
    names: set[str] = set()
    # Typer builds the group on the click it carries inside (typer._click), not on `click`:
    # a group is told by its `commands`.
    stack = [typer.main.get_command(app)]
    while stack:
        command = stack.pop()
        assert "auto_envvar_prefix" not in command.context_settings, (
            f"{command.name}: auto_envvar_prefix gives options variables of their own; "
            "teach this test to derive them"
        )
        for param in command.params:
            envvar = param.envvar
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
        stack.extend(getattr(command, "commands", {}).values())
    return names


def _is_environ(node: ast.expr) -> bool:
    return _base_name(node) == "environ"


def environ_reads(source: str) -> Iterator[tuple[int, str]]:
    """(line, variable) of each direct read; a name computed at run time is `<computed>`."""
    for node in ast.walk(ast.parse(source)):
        key: ast.expr | None = None
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_environ(node.value)
        ):
            key = node.slice
        elif isinstance(node, ast.Call) and (
            _base_name(node.func) == "getenv"
            or (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in {"get", "setdefault", "pop"}
                and _is_environ(node.func.value)
            )
        ):
            key = node.args[0] if node.args else None
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield node.lineno, key.value
        else:
            yield node.lineno, "<computed>"


def direct_reads() -> dict[str, list[str]]:
    """variable -> where (file:line) it is read directly."""
    found: dict[str, list[str]] = {}
    for path in _python_files():
        for line, name in environ_reads(path.read_text()):
            found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def code_variables() -> dict[str, str]:
    """variable -> what reads it."""
    read: dict[str, str] = {}
    for cls in settings_classes():
        for name in env_names(cls):
            read.setdefault(name, f"{cls.__module__}.{cls.__qualname__}")
    for name in cli_envvars():
        read.setdefault(name, "a `postbacks` option")
    for name, why in DIRECT_READS.items():
        read.setdefault(name, f"a direct read ({why})")
    return read


# --- what the table says ---------------------------------------------------------------------


def cell_variables(cell: str) -> list[str]:
    """The variables the first cell of a row names, `..._SUFFIX` shorthands expanded."""
    names: list[str] = []
    full: str | None = None
    for token in BACKTICKED.findall(cell):
        if NAME.fullmatch(token):
            full = token
            names.append(token)
        elif shorthand := SHORTHAND.fullmatch(token):
            prefix = next((p for p in SERVICE_PREFIXES if full and full.startswith(p)), None)
            assert prefix, f"`{token}` in {cell!r} follows no full name with a service part"
            names.append(prefix + shorthand.group(1).lstrip("_"))
        else:
            raise AssertionError(f"`{token}` in {cell!r} is no variable name")
    return names


def table_variables(readme: str) -> dict[str, int]:
    """variable -> README line of its row, from the table of the "## Settings" section."""
    lines = readme.splitlines()
    start = lines.index("## Settings")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rows = [(i, line) for i, line in enumerate(lines[start:end], start) if line.startswith("|")]
    assert len(rows) > 2, "the Settings section has no table"
    found: dict[str, int] = {}
    for i, row in rows[2:]:  # after the header and the |---| line
        names = cell_variables(row.split("|")[1])
        assert names, f"README.md:{i + 1}: the first cell names no variable"
        for name in names:
            assert name not in found, f"README.md:{i + 1}: {name} is already on line {found[name]}"
            found[name] = i + 1
    return found


# --- the tests -------------------------------------------------------------------------------


def test_every_direct_read_of_the_environment_is_listed() -> None:
    found = direct_reads()
    unlisted = [
        f"{name} at {', '.join(where)}" for name, where in found.items() if name not in DIRECT_READS
    ]
    gone = sorted(set(DIRECT_READS) - set(found))
    assert not unlisted, (
        "read the setting through a settings class, or add it to DIRECT_READS (and to the "
        "README's table):\n" + "\n".join(unlisted)
    )
    assert not gone, f"DIRECT_READS lists variables nothing reads any more: {gone}"


def test_the_table_names_every_variable_the_code_reads() -> None:
    read = code_variables()
    table = table_variables(README.read_text())
    missing = [f"{name} (read by {read[name]})" for name in sorted(set(read) - set(table))]
    unread = [
        f"{name} (README.md:{table[name]})"
        + (": test-only, it does not belong here" if name in TEST_ONLY else "")
        for name in sorted(set(table) - set(read))
    ]
    disagreements = missing + unread
    assert not disagreements, (
        "the README's settings table and the code disagree.\n"
        f"Missing from the table: {missing or 'none'}\n"
        f"In the table, read by no code: {unread or 'none'}"
    )


def test_the_checks_see_what_they_look_for() -> None:
    assert cell_variables(
        "`POSTBACKS_DISPATCHER_MAX_IN_FLIGHT`, `..._MAX_IN_FLIGHT_PER_HOST`, "
        "`POSTBACKS_LOG_WRITER_MAX_BATCH`, `..._BATCH_TIMEOUT_MS`"
    ) == [
        "POSTBACKS_DISPATCHER_MAX_IN_FLIGHT",
        "POSTBACKS_DISPATCHER_MAX_IN_FLIGHT_PER_HOST",
        "POSTBACKS_LOG_WRITER_MAX_BATCH",
        "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS",
    ]
    source = (
        "import os\nfrom os import environ, getenv\n"
        "a = os.environ['A']\nb = os.environ.get('B', '1')\nc = os.getenv('C')\n"
        "d = getenv('D')\ne = environ[name]\nos.environ['F'] = '1'\nenv = {**os.environ}\n"
    )
    assert sorted(name for _, name in environ_reads(source)) == ["<computed>", "A", "B", "C", "D"]
    dispatcher = next(c for c in settings_classes() if c.__name__ == "DispatcherSettings")
    assert {
        "POSTBACKS_DISPATCHER_MAX_IN_FLIGHT",
        "POSTBACKS_DISPATCHER_CONCURRENCY",
        "POSTBACKS_DISPATCHER_PORT",
        "CLICKHOUSE_URL",
        "POSTBACKS_CLICKHOUSE_URL",
    } <= env_names(dispatcher)
    assert "DISPATCHER_MAX_IN_FLIGHT" not in env_names(dispatcher)
    assert "POSTBACKS_API_TOKEN" in cli_envvars()
