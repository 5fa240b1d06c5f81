"""The text/event-stream format (HTML standard, "server-sent events"): the few lines it takes.

Written here rather than with sse-starlette: that library detects a server's shutdown by
patching uvicorn's signal handling process-wide, which never sees ours (the signals belong to
postbacks_cli.lifecycle; serve_asgi stops uvicorn itself), so the live view ends its streams
itself (LiveLog.close) and needs only the format, and heartbeats come from each stream's own
wait for rows, not from a ping task per client.
"""

from __future__ import annotations

from typing import Any

import orjson

HEARTBEAT = b": heartbeat\n\n"


def event(data: bytes, *, name: str = "", event_id: str = "") -> bytes:
    """One event; `data` is one line (orjson never writes a raw line break)."""
    head = (f"event: {name}\n" if name else "") + (f"id: {event_id}\n" if event_id else "")
    return head.encode() + b"data: " + data + b"\n\n"


def notice(name: str, **fields: Any) -> bytes:
    """An event that is not an attempt (`gap`, `warning`), its fields as a JSON object."""
    return event(orjson.dumps(fields), name=name)


def opening(retry_ms: int, event_id: str) -> bytes:
    """What a stream starts with: the client's wait before reconnecting, and its position (an id
    without data dispatches no event but is the Last-Event-ID of a reconnect)."""
    return f"retry: {retry_ms}\nid: {event_id}\n\n".encode()
