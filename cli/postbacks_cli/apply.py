"""`postbacks apply -f postbacks.yaml`: make the server's configurations match a file, by name.

The whole file is validated before the API is called (config_file), so a file with one mistake
changes nothing. Each entry is compared with the server's configuration of the same name after
both went through `PostbackConfigIn` (defaults filled in, statuses sorted), so spelling out a
default or reordering statuses is not a change. Writes go one at a time and stop at the first
refusal: there is no transaction across configurations, so the error says how many were made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from postbacks.configs import PostbackConfigIn
from postbacks_cli.config_file import FIELDS, Entry, read_file

API = "/api/v1/postbacks"
Echo = Callable[[str], None]


class ApiFailed(Exception):
    """The query-api refused a request or could not be reached; `problems` says which and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"


_MARKS = {Action.CREATE: "+", Action.UPDATE: "~", Action.UNCHANGED: "=", Action.DELETE: "-"}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    entry: Entry | None = None  # None for a delete: it is not in the file
    server_id: str | None = None  # None for a create
    differences: tuple[str, ...] = ()

    def describe(self) -> str:
        head = f"{_MARKS[self.action]} {self.action} {self.name!r}"
        return "\n".join([head, *(f"    {d}" for d in self.differences)])


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    left_alone: list[str]  # on the server, not in the file, kept because --prune was not given

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.action is not Action.UNCHANGED]

    def count(self, action: Action) -> int:
        return sum(c.action is action for c in self.changes)

    def summary(self) -> str:
        text = (
            f"plan: {self.count(Action.CREATE)} to create, {self.count(Action.UPDATE)} to "
            f"update, {self.count(Action.DELETE)} to delete, {self.count(Action.UNCHANGED)} "
            "unchanged"
        )
        if self.left_alone:
            text += (
                f"; {len(self.left_alone)} on the server but not in the file left alone "
                "(--prune deletes them)"
            )
        return text


def plan(entries: Sequence[Entry], server: Sequence[dict[str, Any]], *, prune: bool) -> Plan:
    """What to do, by name: the file's entries in order, then deletes (only with prune)."""
    by_name = {item["name"]: item for item in server}
    changes: list[Change] = []
    for entry in entries:
        current = by_name.get(entry.config.name)
        if current is None:
            changes.append(Change(Action.CREATE, entry.config.name, entry))
            continue
        differences = _differences(entry.config, current)
        action = Action.UPDATE if differences else Action.UNCHANGED
        changes.append(Change(action, entry.config.name, entry, str(current["id"]), differences))
    wanted = {entry.config.name for entry in entries}
    extra = [item for item in server if item["name"] not in wanted]
    if not prune:
        return Plan(changes, [item["name"] for item in extra])
    deletes = [Change(Action.DELETE, item["name"], server_id=str(item["id"])) for item in extra]
    return Plan(changes + deletes, [])


async def apply(
    client: httpx.AsyncClient,
    path: Path,
    *,
    dry_run: bool = False,
    prune: bool = False,
    echo: Echo = print,
) -> Plan:
    """Validate the file, print the plan and, unless dry_run, carry it out through `client`.

    Raises config_file.InvalidFile before any request, or ApiFailed at the first refusal.
    """
    entries = read_file(path)
    listed = await _send(client, "GET", API, "listing the current configurations")
    the_plan = plan(entries, listed.json()["items"], prune=prune)
    for change in the_plan.changes:
        echo(change.describe())
    echo(the_plan.summary())
    if dry_run:
        echo("dry run: nothing was changed")
        return the_plan
    writes = the_plan.writes
    for done, change in enumerate(writes):
        try:
            await _write(client, change)
        except ApiFailed as exc:
            made = f"{done} of {len(writes)} changes were made before this one; the rest were not"
            raise ApiFailed([*exc.problems, made]) from None
    counts = [f"{the_plan.count(action)} {past}" for action, past in _DONE.items()]
    echo("applied: " + ", ".join(counts))
    return the_plan


async def apply_to(
    api: str,
    path: Path,
    *,
    dry_run: bool = False,
    prune: bool = False,
    echo: Echo = print,
    token: str | None = None,
) -> Plan:
    """apply() through a client of its own to the query-api at `api`, sending `token` if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=headers) as client:
        return await apply(client, path, dry_run=dry_run, prune=prune, echo=echo)


async def _write(client: httpx.AsyncClient, change: Change) -> None:
    if change.entry is None:
        subject = f"delete {change.name!r} (id {change.server_id})"
        await _send(client, "DELETE", f"{API}/{change.server_id}", subject)
        return
    body = change.entry.config.model_dump(mode="json")
    subject = f"{change.entry.label}: {change.action}"
    if change.action is Action.CREATE:
        await _send(client, "POST", API, subject, body)
    else:
        await _send(client, "PUT", f"{API}/{change.server_id}", subject, body)


async def _send(
    client: httpx.AsyncClient, method: str, url: str, subject: str, body: Any = None
) -> httpx.Response:
    try:
        answer = await client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        where = f"the query-api at {client.base_url}"
        raise ApiFailed([f"{subject}: cannot reach {where}: {reason}; is it running?"]) from None
    if answer.is_error:
        refused = f"refused by the query-api ({answer.status_code})"
        problems = [f"{subject}: {refused}: {_api_message(answer)}"]
        if answer.status_code in (401, 403):
            problems.append(
                "give a token with the postbacks:write scope: --token or POSTBACKS_API_TOKEN"
            )
        raise ApiFailed(problems)
    return answer


def _api_message(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:500] or answer.reason_phrase


def _differences(wanted: PostbackConfigIn, current: dict[str, Any]) -> tuple[str, ...]:
    before = {name: value for name, value in current.items() if name in FIELDS}
    # A configuration saved under older rules may not validate now: it is then compared as
    # stored, and any difference makes an update that replaces it with the file's valid one.
    with contextlib.suppress(ValidationError):
        before = PostbackConfigIn.model_validate(before).model_dump(mode="json")
    after = wanted.model_dump(mode="json")
    return tuple(
        f"{name}: {before.get(name)!r} -> {after[name]!r}"
        for name in FIELDS
        if before.get(name) != after[name]
    )
