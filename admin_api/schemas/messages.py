"""Request and response bodies of /messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from admin_api.schemas.common import PublicModel, RequestModel

MessageStatusName = Literal["open", "done"]


class MessageUpdate(RequestModel):
    status: MessageStatusName


class MessagePublic(PublicModel):
    message_id: str
    call_sid: str
    caller_number: str
    caller_name: str | None
    reason: str
    preferred_time: str | None
    callback_number: str | None
    status: MessageStatusName
    created_at: datetime
    done_at: datetime | None
    urgent: str | None  # the urgent condition of a claim reported after hours, else null
