"""One input record in: the postbacks it fires, or the dead letter it becomes. No Kafka here.

Records from `postbacks.refires` are explicit requests (test fires, re-fires): they carry their
configuration and fire exactly once, without matching. Every other valid input is matched
against the configuration table and fires each matching postback once; invalid input becomes a
dead letter with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import ValidationError

from dispatcher.config_table import ConfigTable
from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.containment import contained, problems, record_name
from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, parse_input


def rejection_reason(exc: Exception) -> str:
    """Why an input was refused, naming each bad field."""
    if isinstance(exc, ValidationError):
        return "invalid message: " + problems(exc, "message")
    return f"invalid message: {exc}"


@dataclass(slots=True, eq=False)  # not frozen: a frozen __init__ costs 3x, once per postback
class Job:
    """One postback to fire for one input."""

    config: PostbackConfig
    message: ClickInput
    host: str  # host_of(config.url): the publisher host whose slots it takes
    request: FireRequest | None = None  # set for test fires and re-fires


@dataclass(slots=True, eq=False)
class Plan:
    jobs: list[Job]
    dead_letter: bytes | None = None


def plan(table: ConfigTable, record: KafkaRecord) -> Plan:
    """What one record asks for; never raises. (The engine counts inputs.)

    The one place an input record is contained: invalid input, and anything unforeseen while
    reading and matching it, becomes its dead letter with the reason."""
    try:
        return Plan(_jobs(table, record))
    except (ValidationError, ValueError) as exc:
        reason = rejection_reason(exc)
    except RecursionError:  # msgspec's decoder, on arrays or objects nested past its depth
        reason = "invalid message: JSON nested too deeply"
    except Exception as exc:  # see postbacks.containment
        where = record_name(record.topic, record.partition, record.offset)
        reason = contained("dispatcher", "input", where, exc)
    return Plan([], dead_letter(record, reason=reason, service="dispatcher"))


def _jobs(table: ConfigTable, record: KafkaRecord) -> list[Job]:
    if record.topic == topics.REFIRES:
        if record.value is None:
            raise ValueError("message has no value (tombstone)")
        request = FireRequest.model_validate_json(record.value)
        config = request.postback
        return [Job(config, request.input_message(), host_of(config.url), request)]
    message = parse_input(record.topic, record.value)
    return [Job(c, message, host_of(c.url)) for c in table.matching(record.topic, message)]


@lru_cache(maxsize=4096)  # URL templates are few and long-lived; urlsplit per postback is not
def host_of(url: str) -> str:
    """The publisher host a URL template sends to (macros cannot stand in the host: configs.py)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or "?"
