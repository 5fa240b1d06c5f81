"""The live view: GET /api/v1/logs/stream sends the attempts matching its filters as they are
logged, as server-sent events (design §7.7).

routes.py (the route) -> hub.py (LiveLog: the clients and the one poller per process)
-> statements.py (the one read for every filter set) and watcher.py (one client's queue and
event ids) -> wire.py (the text/event-stream format); limits.py holds the bounds.
"""
