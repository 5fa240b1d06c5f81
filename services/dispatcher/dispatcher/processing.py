"""One input record in: the postbacks it fires, or the dead letter it becomes. No Kafka here.

Records from `postbacks.refires` are explicit requests (test fires, re-fires): they carry their
configuration and fire exactly once, without matching. Every other valid input is matched
against the configuration table and fires each matching postback once; invalid input becomes a
dead letter with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from dispatcher.config_table import ConfigTable
from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.fire_requests import FireRequest
from postbacks.inputs import ClickInput, parse_input


def rejection_reason(exc: Exception) -> str:
    """Why an input was refused, naming each bad field."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "message"
            problems.append(f"{where}: {error['msg']}")
        return "invalid message: " + "; ".join(problems)
    return f"invalid message: {exc}"


@dataclass(slots=True, eq=False)  # not frozen: a frozen __init__ costs 3x, once per postback
class Job:
    """One postback to fire for one input."""

    config: PostbackConfig
    message: ClickInput
    request: FireRequest | None = None  # set for test fires and re-fires


@dataclass(slots=True, eq=False)
class Plan:
    jobs: list[Job]
    dead_letter: bytes | None = None


def plan(table: ConfigTable, record: KafkaRecord) -> Plan:
    """What one record asks for; never raises for bad input. (The engine counts inputs.)"""
    try:
        return Plan(_jobs(table, record))
    except (ValidationError, ValueError) as exc:
        reason = rejection_reason(exc)
        return Plan([], dead_letter(record, reason=reason, service="dispatcher"))


def _jobs(table: ConfigTable, record: KafkaRecord) -> list[Job]:
    if record.topic == topics.REFIRES:
        if record.value is None:
            raise ValueError("message has no value (tombstone)")
        request = FireRequest.model_validate_json(record.value)
        return [Job(request.postback, request.input_message(), request)]
    message = parse_input(record.topic, record.value)
    return [Job(config, message) for config in table.matching(record.topic, message)]
