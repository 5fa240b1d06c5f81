"""Explicit requests to fire one postback (topic `postbacks.refires`): test fires and re-fires.

The request carries a snapshot of the configuration, so the dispatcher fires exactly what was
asked for even if its own copy of the configurations has not caught up yet (a test of a
configuration saved a moment ago), and even if the configuration is disabled (a network tests
a URL before it enables it).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from postbacks import topics
from postbacks.attempts import PostbackType, Trigger
from postbacks.configs import PostbackConfig
from postbacks.inputs import ClickInput, parse_input

TYPE_TOPICS = {
    PostbackType.CLICK: topics.CLICKS,
    PostbackType.CONVERSION: topics.CONVERSIONS,
    PostbackType.EVENT: topics.EVENTS,
}


class FireRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempt_id: UUID
    trigger: Trigger
    postback: PostbackConfig
    source: str  # the input message as JSON, validated as the postback type's input
    refire_of: UUID | None = None

    def input_message(self) -> ClickInput:
        return parse_input(TYPE_TOPICS[self.postback.type], self.source.encode())
