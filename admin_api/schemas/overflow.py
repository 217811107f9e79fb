"""The body of /agent/overflow (engine.overflow)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from admin_api.schemas.common import RequestModel
from engine.overflow import QUEUE_WAIT_DEFAULT_S, QUEUE_WAIT_MAX_S, QUEUE_WAIT_MIN_S, OverflowChoice


class OverflowBody(RequestModel):
    """What a caller gets when the node has no room for the call. `choice`: "message" (the
    polite busy message), "transfer" (to the agent's fallback number, which must be set) or
    "queue" (Twilio's queue with the hold message, until a call slot frees); null: a transfer
    when there is a fallback number, else the message. `queue_max_wait_s`: how long a caller
    holds in the queue before the polite message."""

    choice: OverflowChoice | None
    queue_max_wait_s: Annotated[int, Field(ge=QUEUE_WAIT_MIN_S, le=QUEUE_WAIT_MAX_S)] = (
        QUEUE_WAIT_DEFAULT_S
    )
