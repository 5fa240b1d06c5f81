"""The containment rule: one bad item from outside never stops a loop, a partition or a service.

Every item a service takes from outside (an input record, a configuration record, a re-fire or
test request, a publisher's answer, an attempt record) either succeeds at each step or becomes a
recorded outcome: a Failed attempt whose `error` says what was wrong, or a dead letter with its
reason. Its offset is committed and the service keeps consuming.

Counted here (`postbacks_contained_errors_total{service, stage}`) and logged once with the item
(topic, partition and offset, or an id): what the one place per service and stage that contains
errors caught. A ValueError is a value refused by a check (a configuration the dispatcher
cannot use, say) and is logged as a warning; any other exception is one no rule foresaw, a bug
to fix, and is logged as an error with its traceback. Refusals that have an outcome and a
counter of their own (dead letters, Failed attempts) are not counted again here.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from pydantic import ValidationError

from postbacks.inputs import OutOfRange

CONTAINED = Counter(
    "postbacks_contained_errors_total",
    "Unexpected errors turned into a recorded outcome (a Failed attempt, a dead letter or a "
    "skipped configuration) instead of stopping the service",
    ["service", "stage"],
)
REASON_LIMIT = 500  # characters of the exception's text kept in the reason

log = logging.getLogger(__name__)


def contained(service: str, stage: str, item: str, exc: BaseException) -> str:
    """Count and log one contained error; returns the reason in words, for the outcome."""
    CONTAINED.labels(service, stage).inc()
    text = str(exc)[:REASON_LIMIT] or "no message"
    if isinstance(exc, ValueError):
        log.warning("%s skipped %s: %s", service, item, text)
        return text
    reason = f"{stage}: unexpected {type(exc).__name__}: {text}"
    log.error("%s contained an error on %s: %s", service, item, reason, exc_info=exc)
    return reason


def record_name(topic: str, partition: int, offset: int) -> str:
    """How a log line names a Kafka record."""
    return f"{topic}[{partition}]@{offset}"


def problems(exc: ValidationError, whole: str) -> str:
    """A validation refusal in words, `field: problem` for each error (`whole` names the item
    when the error is about all of it), for a dead letter's or a log line's reason."""
    found = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or whole
        value = error.get("input")
        message = f"{value!r} fits no field" if isinstance(value, OutOfRange) else error["msg"]
        found.append(f"{where}: {message}")
    return "; ".join(found)
