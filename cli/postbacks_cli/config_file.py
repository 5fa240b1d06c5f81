"""A declarative configuration file for `postbacks apply`: YAML in, validated configurations out.

Every entry is validated with the API's own model, and every problem is reported at once with
its file line, entry and field, so the file can be fixed in one pass before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from postbacks.configs import PostbackConfigIn

FIELDS = tuple(PostbackConfigIn.model_fields)


class InvalidFile(Exception):
    """The file cannot be read or some entry is invalid; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Entry:
    index: int
    config: PostbackConfigIn

    @property
    def label(self) -> str:
        return f"postbacks[{self.index}] (name {self.config.name!r})"


def read_file(path: Path) -> list[Entry]:
    """The file's configurations, each valid and with a name of its own, or InvalidFile."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile([f"{path}: cannot read the file: {exc}"]) from None
    return parse(text, str(path))


def parse(text: str, source: str) -> list[Entry]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise InvalidFile([_yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()
    items = _postbacks_list(document, source)
    lines = _entry_lines(node)
    problems: list[str] = []
    entries: list[Entry] = []
    first_of_name: dict[str, int] = {}
    for index, raw in enumerate(items):
        where = f"{source}:{lines[index]}: postbacks[{index}]"
        if not isinstance(raw, dict):
            problems.append(
                f"{where}: must be a mapping of fields (name:, url:, ...), not {_kind(raw)}"
            )
            continue
        name = raw.get("name")
        if isinstance(name, str):
            where += f" (name {name!r})"
            if name in first_of_name:
                first = first_of_name[name]
                problems.append(
                    f"{where}.name: the same name as postbacks[{first}]; names are unique"
                )
                continue
            first_of_name[name] = index
        try:
            entries.append(Entry(index, PostbackConfigIn.model_validate(raw)))
        except ValidationError as exc:
            problems += [where + _field_problem(e) for e in exc.errors(include_url=False)]
    if problems:
        raise InvalidFile(problems)
    return entries


def _postbacks_list(document: object, source: str) -> list[Any]:
    shape = "one top-level key, `postbacks:`, with a list (see deploy/postbacks.example.yaml)"
    if not isinstance(document, dict):
        raise InvalidFile([f"{source}: the file must have {shape}, not {_kind(document)}"])
    unknown = sorted(str(key) for key in document if key != "postbacks")
    if unknown or "postbacks" not in document:
        found = f"; unknown top-level key {', '.join(map(repr, unknown))}" if unknown else ""
        raise InvalidFile([f"{source}: the file must have {shape}{found}"])
    items = document["postbacks"]
    if not isinstance(items, list):
        wanted = "a list of configurations, each starting `- name:` (write [] for none)"
        raise InvalidFile([f"{source}: postbacks: must be {wanted}, not {_kind(items)}"])
    return items


def _entry_lines(root: yaml.Node | None) -> list[int]:
    # Called once _postbacks_list accepted the document, so the shape below is known. The last
    # `postbacks:` wins, as it does when YAML builds the mapping.
    assert isinstance(root, yaml.MappingNode)
    sequence = [value for key, value in root.value if key.value == "postbacks"][-1]
    return [item.start_mark.line + 1 for item in sequence.value]


def _yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{source}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {exc.problem}"
    return f"{source}: not valid YAML: {exc}"


def _field_problem(error: ErrorDetails) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown field; the fields are {', '.join(FIELDS)}"
    return f"{path}: {message}"


def _kind(value: object) -> str:
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}
    return "nothing" if value is None else kinds.get(type(value), f"a {type(value).__name__}")
