"""References inside the repository stay true.

- A "design §N" (or §N.M) anywhere names a numbered heading of docs/design.md, and that file
  keeps the top-level numbering the references were written against.
- Nothing refers to a file outside the repository: the machine's /work tree, the brief the
  project grew from, a style guide.
- Every relative Markdown link `[text](path)` or `[text](path#anchor)` leads to a file or
  folder of the repository, and its anchor to a heading there (GitHub's slugs).

The files checked are those git tracks, plus new ones it does not ignore (so a file is checked
before its first commit); binary files and docs/screenshots/ are skipped.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
DESIGN = Path("docs/design.md")
THIS_FILE = Path(__file__).resolve().relative_to(ROOT)  # it spells out what it looks for

# The subjects the code's references were written against: the numbers must keep them.
DESIGN_SUBJECTS = {
    "1": "Data flow",
    "2": "Real components",
    "3": "Input messages",
    "4": "Postback configuration",
    "5": "Delivery semantics",
    "6": "Attempt record",
    "7": "Query API",
    "8": "Running it",
}

# "design §5", "Design §5.2", "design.md §6", and every number of a list: "design §5, §6".
DESIGN_REFERENCE = re.compile(
    r"design(?:\.md)? §\d+(?:\.\d+)*(?:,\s*§\d+(?:\.\d+)*)*", re.IGNORECASE
)
SECTION_NUMBER = re.compile(r"§(\d+(?:\.\d+)*)")
NUMBERED_HEADING = re.compile(r"(\d+(?:\.\d+)*)\.?\s")

# Paths that lead out of the repository, whatever the file that names them.
OUTSIDE = (
    re.compile(r"/work/"),
    re.compile(r"(?<!docs/)\bshared/design\.md"),
    re.compile(r"\bstyle\.md\b"),
)
# `../shared`: outside when it climbs above the repository from the file that names it.
CLIMB_TO_SHARED = re.compile(r"((?:\.\./)+)shared\b")

HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)(?:\s+#+)?\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


# --- the files ---------------------------------------------------------------------------------


@cache
def repo_files() -> frozenset[Path]:
    """Tracked files and new ones git does not ignore, as paths from the repository root."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return frozenset(Path(name) for name in listed.split("\0") if (ROOT / name).is_file())


@cache
def text_files() -> dict[Path, str]:
    """Every repository file that is text (UTF-8, no NUL byte), outside docs/screenshots/."""
    texts = {}
    for path in sorted(repo_files()):
        if path.parts[:2] == ("docs", "screenshots"):
            continue
        data = (ROOT / path).read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[path] = data.decode()
        except UnicodeDecodeError:
            continue
    return texts


def line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


# --- Markdown ----------------------------------------------------------------------------------


def without_code_blocks(markdown: str) -> str:
    """`markdown` with fenced code blocks blanked; lines keep their numbers."""
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        found = FENCE.match(line)
        marker = found.group(1) if found else None
        if fence is None and marker is None:
            lines.append(line)
            continue
        if fence is None:
            fence = marker  # a block opens
        elif marker == fence:
            fence = None  # the block closes
        lines.append("")
    return "\n".join(lines)


def headings(markdown: str) -> list[str]:
    return [
        found.group(1)
        for line in without_code_blocks(markdown).splitlines()
        if (found := HEADING.match(line))
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows as its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a Markdown file's headings; repeats get -1, -2, ... as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in headings((ROOT / path).read_text()):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(f"{base}-{count}" if count else base)
    return frozenset(found)


def links(markdown: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every inline link and image outside code."""
    prose = INLINE_CODE.sub("", without_code_blocks(markdown))
    for found in LINK.finditer(prose):
        yield line_of(prose, found.start()), found.group(1)


def link_problem(source: Path, target: str) -> str | None:
    """Why `target`, linked from `source`, leads nowhere in the repository; None if it leads."""
    if SCHEME.match(target):
        return None  # http:, https:, mailto:: not a file of ours
    path_part, _, anchor = target.partition("#")
    if not path_part:
        linked = source
    else:
        base = ROOT if path_part.startswith("/") else ROOT / source.parent
        resolved = (base / unquote(path_part.lstrip("/"))).resolve()
        if not resolved.is_relative_to(ROOT):
            return "leads out of the repository"
        linked = resolved.relative_to(ROOT)
        if linked not in repo_files() and not any(linked in f.parents for f in repo_files()):
            return "no such file or folder in the repository"
    if anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
        return f"{linked} has no heading with the anchor #{anchor}"
    return None


# --- the references ----------------------------------------------------------------------------


def design_sections() -> set[str]:
    design = (ROOT / DESIGN).read_text()
    return {
        found.group(1) for heading in headings(design) if (found := NUMBERED_HEADING.match(heading))
    }


def design_references() -> Iterator[tuple[Path, int, str]]:
    """(file, line, section number) of every "design §N" in the repository."""
    for path, text in text_files().items():
        if path == THIS_FILE:
            continue
        for reference in DESIGN_REFERENCE.finditer(text):
            for number in SECTION_NUMBER.findall(reference.group()):
                yield path, line_of(text, reference.start()), number


def outside_references(path: Path, text: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every reference in `text` to a file outside the repository."""
    for pattern in OUTSIDE:
        for found in pattern.finditer(text):
            yield line_of(text, found.start()), found.group()
    for found in CLIMB_TO_SHARED.finditer(text):
        if found.group(1).count("../") > len(path.parent.parts):
            yield line_of(text, found.start()), found.group()


# --- the tests ---------------------------------------------------------------------------------


def test_design_keeps_its_numbered_subjects() -> None:
    titles = {
        found.group(1): heading
        for heading in headings((ROOT / DESIGN).read_text())
        if (found := NUMBERED_HEADING.match(heading))
    }
    moved = [
        f"§{number} should be {subject!r}, is {titles.get(number)!r}"
        for number, subject in DESIGN_SUBJECTS.items()
        if subject not in titles.get(number, "")
    ]
    assert not moved, f"{DESIGN}: the sections the code refers to moved:\n" + "\n".join(moved)


def test_design_references_name_a_section() -> None:
    sections = design_sections()
    unknown = [
        f"{path}:{line}: design §{number}"
        for path, line, number in design_references()
        if number not in sections
    ]
    assert not unknown, f"no such section in {DESIGN}:\n" + "\n".join(unknown)


def test_nothing_refers_outside_the_repository() -> None:
    found = [
        f"{path}:{line}: {reference}"
        for path, text in text_files().items()
        if path != THIS_FILE
        for line, reference in outside_references(path, text)
    ]
    assert not found, "references to files outside the repository:\n" + "\n".join(found)


def test_markdown_links_lead_somewhere() -> None:
    broken = [
        f"{path}:{line}: ({target}) {problem}"
        for path, text in text_files().items()
        if path.suffix == ".md"
        for line, target in links(text)
        if (problem := link_problem(path, target))
    ]
    assert not broken, "Markdown links that lead nowhere:\n" + "\n".join(broken)
