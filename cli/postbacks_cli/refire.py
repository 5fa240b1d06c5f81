"""`postbacks refire`: re-fire the failures a log filter selects, through the query-api.

    postbacks refire --status Failed --publisher-id 42 --since 2h

Asks the API for a dry run first and prints how many (transaction, postback) pairs would be
fired, asks for confirmation (unless --yes), starts the job, and follows it with a progress bar
until every attempt it asked for is in the log. Any log filter can be given: the named options
cover the common ones, `--filter COLUMN[__is_not|__contains]=VALUE` (repeatable) every other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REFIRES = "/api/v1/refires"
POLL_S = 0.5
_DURATION = re.compile(r"(\d+)\s*([smhd])", re.ASCII)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class RefireFailed(Exception):
    """The API refused, could not be reached, or the job failed; the message says which."""


@dataclass(frozen=True)
class JobOutcome:
    job: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.job["state"] == "done")


def parse_moment(option: str, text: str, now: datetime) -> str:
    """RFC 3339 for `--since`/`--until`: a duration back from now (2h, 30m, 7d, 1h30m) or a time."""
    compact = text.replace(" ", "")
    if compact and _DURATION.sub("", compact) == "":
        span = timedelta()
        for amount, unit in _DURATION.findall(compact):
            span += timedelta(**{_UNITS[unit]: int(amount)})
        return _rfc3339(now - span)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RefireFailed(
            f"{option} {text!r} is neither a duration (e.g. 2h, 30m, 7d) nor a time "
            "(e.g. 2026-11-28T01:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the log is in UTC, and so are its pages
    return _rfc3339(moment)


def selection(
    named: dict[str, list[str]], filters: list[str], since: str | None, until: str | None
) -> list[tuple[str, str]]:
    """The API's query pairs: named options (column -> values), --filter KEY=VALUE, the window."""
    pairs = [(column, value) for column, values in named.items() for value in values]
    for text in filters:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise RefireFailed(
                f"--filter {text!r} must be COLUMN=VALUE, COLUMN__is_not=VALUE or "
                "COLUMN__contains=VALUE, e.g. --filter url__contains=acme"
            )
        pairs.append((key.strip(), value))
    now = datetime.now(UTC)
    if since is not None:
        pairs.append(("from", parse_moment("--since", since, now)))
    if until is not None:
        pairs.append(("to", parse_moment("--until", until, now)))
    return pairs


def run_refire(
    client: httpx.Client,
    query: list[tuple[str, str]],
    *,
    confirm: Callable[[str], bool],
    console: Console,
    timeout_s: float = 3600,
) -> JobOutcome | None:
    """Dry run, confirmation, the job and its progress. None when nothing was started."""
    count = int(_call(client, "POST", REFIRES, [*query, ("dry_run", "true")])["count"])
    shown = " ".join(f"{k}={v}" for k, v in query) or "(no filter: the last 24 hours)"
    if count == 0:
        console.print(f"Nothing to re-fire for {shown}: no failures, or all succeeded since.")
        return None
    noun = "pair" if count == 1 else "pairs"
    console.print(
        f"{count} (transaction, postback) {noun} match {shown}; each is fired once, with its "
        "configuration as it is now."
    )
    if not confirm(f"Re-fire {count} {noun}?"):
        console.print("Nothing was fired.")
        return None
    started = _call(client, "POST", REFIRES, query)
    job = follow(client, str(started["job_id"]), console=console, timeout_s=timeout_s)
    console.print(
        f"Re-fire {job['state']}: {job['fired']} fired, {job['succeeded']} succeeded, "
        f"{job['failed']} failed, {job['skipped']} skipped (job {job['job_id']})"
    )
    if job.get("error"):
        console.print(f"[red]{job['error']}[/red]")
    return JobOutcome(job)


def follow(
    client: httpx.Client, job_id: str, *, console: Console, timeout_s: float
) -> dict[str, Any]:
    """Polls the job until it is done and every attempt it asked for is logged, or it failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[results]}"),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + timeout_s
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("re-firing", total=None, results="")
        while True:
            job = _call(client, "GET", f"{REFIRES}/{job_id}", [])
            settled = job["state"] == "failed" or (job["state"] == "done" and job["pending"] == 0)
            total = max(int(job["selected"]), 1)
            handled = total if settled else min(int(job["fired"]) + int(job["skipped"]), total)
            progress.update(
                task,
                total=total,
                completed=handled,
                description=f"re-fire {job['state']}",
                results=f"{job['succeeded']} ok, {job['failed']} failed, {job['pending']} pending",
            )
            if settled:
                return job
            if time.monotonic() > deadline:
                raise RefireFailed(
                    f"job {job_id} is still {job['state']} after {timeout_s:.0f} s; it goes on "
                    f"in the server: follow it with GET {REFIRES}/{job_id}"
                )
            time.sleep(POLL_S)


def _call(
    client: httpx.Client, method: str, path: str, params: list[tuple[str, str]]
) -> dict[str, Any]:
    try:
        answer = client.request(method, path, params=tuple(params))
    except httpx.HTTPError as exc:
        raise RefireFailed(f"the query-api at {client.base_url} did not answer: {exc}") from None
    if answer.is_success:
        body: dict[str, Any] = answer.json()
        return body
    try:
        message = answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = answer.text[:300]
    raise RefireFailed(f"{method} {path}: {answer.status_code}: {message}")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
