"""The bounds of the live view: how often it reads the log, how far back, how much it holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamLimits:
    """The live view's settings (POSTBACKS_API_*, see settings.py); the defaults are theirs."""

    # Live clients per process; past it a new stream gets 503 (too_many_streams).
    max_clients: int = 200
    # Seconds between two reads of the log, each one query for every client.
    interval_seconds: float = 1.0
    # A comment line after this many seconds without an event, so that proxies and clients
    # that close idle connections (often at 30 to 60 s) keep the stream open.
    heartbeat_seconds: float = 15.0
    # How far back each read looks: rows reach ClickHouse after their attempted_at (the
    # request's start), by up to the request's timeout (30 s at most, design §4.1) plus the
    # log-writer's batch (0.5 s); a row stored later than this after its attempted_at is not
    # shown live (it is in the log).
    lookback_seconds: float = 45.0
    # Rows one read returns, newest first; past it the clients get a `gap` event.
    rows_per_poll: int = 1000
    # Rows a resumed stream (Last-Event-ID) is sent first, newest first, and how far back it
    # reaches; past either the client gets a `gap` event.
    resume_rows: int = 1000
    resume_window_hours: float = 24
    # Rows waiting for one slow client; past it its newer rows are skipped, with a `gap` event.
    max_pending_rows: int = 2000
    # Characters the one read may have, its SQL (each condition twice) and its bound values
    # together: ClickHouse parses at most 256 KiB of SQL (max_query_size), and a server takes
    # the values in the URL (at most 1 MiB, percent-encoded).
    max_poll_text: int = 200_000
    # A confined token's stream ends after this long and the client resumes (Last-Event-ID)
    # under the confinement as it is then: a configuration moved away from its publishers
    # stops showing within this time, not when the page is closed.
    confined_stream_seconds: float = 300.0
